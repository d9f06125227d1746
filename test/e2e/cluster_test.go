package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/peercall/peercall/internal/browsertest"
	"github.com/peercall/peercall/internal/config"
	"github.com/peercall/peercall/internal/redistest"
	"github.com/peercall/peercall/internal/servertest"
	"github.com/peercall/peercall/internal/testutil"
)

// clusterNode starts a server that is node id of a cluster in Redis r.
func clusterNode(t *testing.T, r *redistest.Server, id string, opts ...func(*config.Config)) *servertest.Server {
	return servertest.Start(t, append([]func(*config.Config){func(c *config.Config) {
		c.Redis, c.NodeID = r.URL(), id
		c.SessionSecret, c.TURNSecret = "browser-cluster-session-secret", "browser-cluster-turn-secret"
	}}, opts...)...)
}

// TestBrowsersOnTwoClusterNodesCallEachOther puts Alice's browser on one
// node and Bob's on another, the two sharing rooms through a real Redis:
// they see each other and their video plays both ways.
func TestBrowsersOnTwoClusterNodesCallEachOther(t *testing.T) {
	r := redistest.Start(t)
	n1, n2 := clusterNode(t, r, "node1"), clusterNode(t, r, "node2")
	b := browsertest.Start(t, browsertest.WithFakeMediaUI())
	room := newRoom(t, n1.URL)
	alice := newPage(t, b, browsertest.Named("alice"))
	bob := newPage(t, b, browsertest.Named("bob"))
	join(t, alice, n1.URL, room, "Alice")
	join(t, bob, n2.URL, room, "Bob")
	waitRemoteVideos(t, alice, 1)
	waitRemoteVideos(t, bob, 1)
	for _, c := range []struct {
		n    *servertest.Server
		want string
	}{{n1, "node1"}, {n2, "node2"}} {
		res, err := http.Get(c.n.URL + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		var h struct {
			Participants int
			Cluster      struct{ Node string }
		}
		json.NewDecoder(res.Body).Decode(&h)
		res.Body.Close()
		if h.Participants != 1 || h.Cluster.Node != c.want {
			t.Fatalf("%s holds %d participants (node %q); want one each", c.want, h.Participants, h.Cluster.Node)
		}
	}
	alice.Screenshot(filepath.Join("artifacts", "cluster-call.png"))

	// Redis goes away: a newcomer is told clearly, the call goes on.
	carol := newPage(t, b, browsertest.Named("carol"))
	openPrejoin(t, carol, n1.URL, room)
	r.Stop()
	testutil.Eventually(t, 15*time.Second, func() error {
		res, err := http.Get(n1.URL + "/healthz")
		if err != nil {
			return err
		}
		res.Body.Close()
		if res.StatusCode != http.StatusServiceUnavailable {
			return fmt.Errorf("healthz %d", res.StatusCode)
		}
		return nil
	})
	carol.SetValue("#pre-name", "Carol")
	carol.Click("#pre-join")
	carol.Wait(0, "the unavailable screen", `document.body.dataset.view === 'error' && document.body.dataset.errorCode === 'unavailable' && /briefly unavailable/.test(document.getElementById('error-title').textContent) && !document.getElementById('error-retry').hidden`)
	carol.Screenshot(filepath.Join("artifacts", "cluster-unavailable.png"))
	waitRemoteVideos(t, alice, 1)
	waitRemoteVideos(t, bob, 1)
}

// TestABrowserOnAStoppedNodeResumesThroughAnother stops a node as a rolling
// upgrade does (graceful shutdown: it tells its clients and closes their
// WebSockets, which browsers answer with a close frame of their own). Bob's
// browser, behind a load balancer, reconnects to the other node and resumes
// his session; Alice never sees him leave, and the video goes on both ways:
// peer to peer, and relayed (?relay=1), where Bob's relay was the stopped
// node's TURN server and his browser moves to the other node's at once.
func TestABrowserOnAStoppedNodeResumesThroughAnother(t *testing.T) {
	for _, tc := range []struct{ name, query, pair string }{
		{"peer to peer", "", "host"},
		{"relayed", "?relay=1", "relay"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := redistest.Start(t)
			grace := func(c *config.Config) { c.ResumeGrace = 20 * time.Second }
			n1, n2 := clusterNode(t, r, "node1", grace), clusterNode(t, r, "node2", grace)
			// Bob's page and WebSockets go to node2 while it is up, then to node1.
			lb := "http://" + testutil.Balancer(t, strings.TrimPrefix(n2.URL, "http://"), strings.TrimPrefix(n1.URL, "http://"))
			b := browsertest.Start(t, browsertest.WithFakeMediaUI())
			room := newRoom(t, n1.URL)
			alice := newPage(t, b, browsertest.Named("alice"))
			bob := newPage(t, b, browsertest.Named("bob"))
			join(t, alice, n1.URL, room+tc.query, "Alice")
			join(t, bob, lb, room+tc.query, "Bob")
			waitRemoteVideos(t, alice, 1)
			waitRemoteVideos(t, bob, 1)
			for _, p := range []*browsertest.Page{alice, bob} {
				if got := localCandidateType(t, p); got != tc.pair {
					t.Fatalf("%s's media goes through a %q candidate, want %q", p.Name, got, tc.pair)
				}
			}
			participants := func(s *servertest.Server) int {
				res, err := http.Get(s.URL + "/healthz")
				if err != nil {
					return -1
				}
				defer res.Body.Close()
				var h struct{ Participants int }
				json.NewDecoder(res.Body).Decode(&h)
				return h.Participants
			}
			if n := participants(n2); n != 1 {
				t.Fatalf("node2 holds %d participants, want bob", n)
			}
			var bobID string
			bob.Eval(`window.peercall.room.self.id`, &bobID)
			alice.Eval(`(() => { window.left = []; window.peercall.room.addEventListener('participantleft', (e) => window.left.push(e.detail.participant.id + ': ' + e.detail.reason)); return true; })()`, nil)
			for _, p := range []*browsertest.Page{alice, bob} {
				p.Eval(`(() => { window.states = []; window.peercall.room.addEventListener('connectionstatechange', (e) => window.states.push(e.detail.state)); return true; })()`, nil)
			}

			stopped := time.Now()
			if err := n2.Stop(); err != nil {
				t.Fatal(err)
			}
			testutil.Eventually(t, 20*time.Second, func() error {
				if n := participants(n1); n != 2 {
					return fmt.Errorf("node1 holds %d participants", n)
				}
				return nil
			})
			bob.Wait(0, "bob back in the call", `window.peercall.room.status === 'joined'`)
			var id string
			bob.Eval(`window.peercall.room.self.id`, &id)
			if id != bobID {
				t.Fatalf("bob came back as %s, was %s: a rejoin, not a resume", id, bobID)
			}
			// New frames decoded both ways (a <video>'s currentTime advances
			// even when no frame arrives).
			var decoded [2]int
			alice.Eval(framesDecodedJS, &decoded[0])
			bob.Eval(framesDecodedJS, &decoded[1])
			testutil.Eventually(t, 30*time.Second, func() error {
				for i, p := range []*browsertest.Page{alice, bob} {
					var now int
					p.Eval(framesDecodedJS, &now)
					if now <= decoded[i]+15 {
						return fmt.Errorf("%s: framesDecoded %d -> %d: video not flowing", p.Name, decoded[i], now)
					}
				}
				return nil
			})
			t.Logf("video decoding both ways again %v after node2 began to stop", time.Since(stopped).Round(time.Millisecond))
			for _, p := range []*browsertest.Page{alice, bob} {
				var states []string
				var restarts int
				p.Eval(`window.states`, &states)
				p.Eval(`[...window.peercall.room.participants.values()][0].iceRestarts`, &restarts)
				t.Logf("%s: connection states since the stop %v, ICE restarts %d, pair %s", p.Name, states, restarts, localCandidateType(t, p))
				// The media path never broke: a relayed call moved to the
				// new node's TURN server before its old relay was missed.
				if slices.Contains(states, "disconnected") || slices.Contains(states, "failed") {
					t.Errorf("%s's connection to the other broke: %v", p.Name, states)
				}
			}
			var left []string
			alice.Eval(`window.left`, &left)
			if len(left) != 0 {
				t.Fatalf("alice saw participants leave: %v", left)
			}
			alice.Eval(`[...window.peercall.room.participants.keys()][0]`, &id)
			if id != bobID {
				t.Fatalf("alice sees %s, want bob (%s)", id, bobID)
			}
		})
	}
}

// localCandidateType is the type of the local candidate of the page's
// selected pair to its one remote participant: "host", "srflx", "prflx" or
// "relay".
func localCandidateType(t *testing.T, p *browsertest.Page) string {
	t.Helper()
	var typ string
	p.Eval(`(async () => {
		const pc = [...window.peercall.room.participants.values()][0].pc;
		const stats = await pc.getStats();
		let typ = '';
		stats.forEach((s) => {
			if (s.type !== 'transport' || !s.selectedCandidatePairId) return;
			const pair = stats.get(s.selectedCandidatePairId);
			const local = pair && stats.get(pair.localCandidateId);
			if (local) typ = local.candidateType;
		});
		return typ;
	})()`, &typ)
	return typ
}
