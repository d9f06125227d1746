package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/peercall/peercall/internal/redistest"
	"github.com/peercall/peercall/internal/testutil"
)

// Cluster mode, end to end: real peercall serve processes sharing a real
// redis-server, real peercall join participants, all on loopback in this
// test binary's network namespace.

const (
	clusterSessionSecret = "cluster-test-session-secret-0123"
	clusterTURNSecret    = "cluster-test-turn-secret"
)

// clusterNode starts a node of the cluster in redis r.
func clusterNode(t *testing.T, r *redistest.Server, id string, extra ...string) *server {
	t.Helper()
	return clusterNodeAt(t, r.URL(), id, extra...)
}

// clusterNodeAt starts a node of the cluster in the Redis of a --redis URL.
func clusterNodeAt(t *testing.T, redisURL, id string, extra ...string) *server {
	t.Helper()
	return serve(t, append([]string{"--redis", redisURL, "--node-id", id, "--session-secret", clusterSessionSecret,
		"--turn-secret", clusterTURNSecret, "--turn-allow-loopback", "--resume-grace", "20s"}, extra...)...)
}

// balancer is a TCP load balancer in front of some nodes (see
// testutil.Balancer).
func balancer(t *testing.T, backends ...*server) string {
	t.Helper()
	addrs := make([]string, len(backends))
	for i, b := range backends {
		addrs[i] = strings.TrimPrefix(b.url, "http://")
	}
	return "http://" + testutil.Balancer(t, addrs...)
}

type health struct {
	Status       string `json:"status"`
	Participants int    `json:"participants"`
	Cluster      struct {
		Node    string `json:"node"`
		Nodes   int    `json:"nodes"`
		Problem string `json:"problem"`
	} `json:"cluster"`
}

func healthz(url string) (int, health, error) {
	resp, err := http.Get(url + "/healthz")
	if err != nil {
		return 0, health{}, err
	}
	defer resp.Body.Close()
	var h health
	err = json.NewDecoder(resp.Body).Decode(&h)
	return resp.StatusCode, h, err
}

// participant is a running peercall join.
type participant struct {
	name           string
	cmd            *exec.Cmd
	stdout, stderr *testutil.Buffer
	done           chan error
}

func startParticipant(ctx context.Context, t *testing.T, url, room, name string, args ...string) *participant {
	t.Helper()
	p := &participant{name: name, stdout: &testutil.Buffer{}, stderr: &testutil.Buffer{}, done: make(chan error, 1)}
	p.cmd = exec.CommandContext(ctx, binary(t), append([]string{"join", "--url", url, "--room", room, "--name", name, "--json", "--verbose"}, args...)...)
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s's log:\n%s", name, p.stderr)
		}
	})
	return p
}

type clusterReport struct {
	ParticipantID string `json:"participant_id"`
	Peers         []struct {
		ID             string `json:"id"`
		Name           string `json:"name"`
		LastMediaAgeMS *int64 `json:"last_media_age_ms"`
		Left           bool   `json:"left"`
		Video          struct {
			Packets  int   `json:"packets"`
			MaxGapMS int64 `json:"max_gap_ms"`
		} `json:"video"`
		Audio struct {
			Packets int `json:"packets"`
		} `json:"audio"`
	} `json:"peers"`
}

func (p *participant) wait(t *testing.T) clusterReport {
	t.Helper()
	if err := <-p.done; err != nil {
		t.Fatalf("%s: %v\n%s", p.name, err, p.stderr)
	}
	var r clusterReport
	if err := json.Unmarshal(bytes.TrimSpace([]byte(p.stdout.String())), &r); err != nil {
		t.Fatalf("%s: report %q: %v", p.name, p.stdout, err)
	}
	return r
}

func waitMedia(t *testing.T, ps ...*participant) {
	t.Helper()
	testutil.Eventually(t, 45*time.Second, func() error {
		for _, p := range ps {
			if !strings.Contains(p.stderr.String(), "first video packet") {
				return fmt.Errorf("%s has no video yet", p.name)
			}
		}
		return nil
	})
}

func TestAMeshSpreadOverThreeNodesConnectsWithFullMedia(t *testing.T) {
	r := redistest.Start(t)
	nodes := []*server{clusterNode(t, r, "node1"), clusterNode(t, r, "node2"), clusterNode(t, r, "node3")}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	names := []string{"alice", "bob", "carol", "dave"}
	var ps []*participant
	for i, name := range names {
		ps = append(ps, startParticipant(ctx, t, nodes[i%3].url, "mesh", name, "--expect-peers", "3", "--timeout", "90s"))
	}
	ids := map[string]string{}
	reports := make([]clusterReport, len(ps))
	for i, p := range ps {
		reports[i] = p.wait(t)
		ids[reports[i].ParticipantID] = p.name
	}
	for i, rep := range reports {
		if len(rep.Peers) != 3 {
			t.Fatalf("%s (on node%d) saw %d peers", names[i], i%3+1, len(rep.Peers))
		}
		for _, peer := range rep.Peers {
			if ids[peer.ID] == "" || ids[peer.ID] == names[i] {
				t.Fatalf("%s saw an unknown peer %q", names[i], peer.ID)
			}
			if peer.Video.Packets == 0 || peer.Audio.Packets == 0 {
				t.Fatalf("%s got no media from %s: %+v", names[i], peer.Name, peer)
			}
		}
	}
	for _, n := range nodes {
		code, h, err := healthz(n.url)
		if err != nil || code != http.StatusOK || h.Cluster.Nodes != 3 {
			t.Fatalf("%s: %d %+v %v", n.url, code, h, err)
		}
	}
}

// A node that dies (SIGKILL) or is stopped for an upgrade (SIGTERM: it
// tells its clients and closes their connections) loses its participants to
// another node, where they resume with their IDs; the others in their calls
// see them reconnecting, never leaving, and the media goes on, also when it
// was relayed through the node's TURN server.
func TestParticipantsOfAStoppedOrKilledNodeResumeThroughAnotherUnseen(t *testing.T) {
	for _, tc := range []struct {
		name  string
		sig   os.Signal
		extra []string
	}{
		{"killed", os.Kill, nil},
		{"stopped", syscall.SIGTERM, nil},
		// Relayed calls lose their TURN allocation with the node: the
		// resumed side must restart ICE through the new node's TURN.
		{"killed, relayed", os.Kill, []string{"--relay-only"}},
		{"stopped, relayed", syscall.SIGTERM, []string{"--relay-only"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := redistest.Start(t)
			n1, n2 := clusterNode(t, r, "node1"), clusterNode(t, r, "node2")
			lb := balancer(t, n2, n1) // bob lands on node2 until it goes
			ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
			defer cancel()
			args := append([]string{"--expect-peers", "1", "--duration", "25s"}, tc.extra...)
			alice := startParticipant(ctx, t, n1.url, "kill", "alice", args...)
			bob := startParticipant(ctx, t, lb, "kill", "bob", args...)
			waitMedia(t, alice, bob)
			if _, h, _ := healthz(n2.url); h.Participants != 1 {
				t.Fatalf("node2 holds %d participants, want bob", h.Participants)
			}

			n2.cmd.Process.Signal(tc.sig)
			<-n2.exited
			stopped := time.Now()
			testutil.Eventually(t, 20*time.Second, func() error {
				_, h, err := healthz(n1.url)
				if err != nil {
					return err
				}
				if h.Participants != 2 {
					return fmt.Errorf("node1 holds %d participants", h.Participants)
				}
				return nil
			})
			t.Logf("bob resumed through node1 %v after node2 was %s", time.Since(stopped).Round(time.Millisecond), tc.name)
			// Give a wrong "left" time to arrive before the calls end.
			time.Sleep(time.Second)
			if strings.Contains(alice.stderr.String(), ") left: ") {
				t.Fatalf("alice saw bob leave mid-call:\n%s", alice.stderr)
			}

			ra, rb := alice.wait(t), bob.wait(t)
			if len(ra.Peers) != 1 || ra.Peers[0].ID != rb.ParticipantID || len(rb.Peers) != 1 || rb.Peers[0].ID != ra.ParticipantID {
				t.Fatalf("alice %+v, bob %+v: want the same two participants throughout", ra, rb)
			}
			// Either may see the other leave at the end ("left: left"); a
			// node's going must not show ("left: timeout").
			if strings.Contains(alice.stderr.String(), "left: timeout") {
				t.Fatalf("alice saw bob time out:\n%s", alice.stderr)
			}
			for _, rep := range []clusterReport{ra, rb} {
				p := rep.Peers[0]
				if p.Video.MaxGapMS > 1000 {
					t.Errorf("video from %s stopped for %d ms", p.Name, p.Video.MaxGapMS)
				}
				// Media that stopped for good leaves no gap between packets.
				// (A peer that already left at its own end of the call
				// stopped sending then.)
				if !p.Left && (p.LastMediaAgeMS == nil || *p.LastMediaAgeMS > 1000) {
					t.Errorf("media from %s stopped for good (last packet %v ms before the end)", p.Name, p.LastMediaAgeMS)
				}
			}
			t.Logf("longest video gaps: %d and %d ms; video packets %d and %d", ra.Peers[0].Video.MaxGapMS, rb.Peers[0].Video.MaxGapMS, ra.Peers[0].Video.Packets, rb.Peers[0].Video.Packets)
		})
	}
}

func TestARedisOutageKeepsCallsUpAndRefusesNewJoinsClearly(t *testing.T) {
	r := redistest.Start(t)
	n1, n2 := clusterNode(t, r, "node1"), clusterNode(t, r, "node2")
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	alice := startParticipant(ctx, t, n1.url, "outage", "alice", "--expect-peers", "1", "--duration", "30s")
	bob := startParticipant(ctx, t, n2.url, "outage", "bob", "--expect-peers", "1", "--duration", "30s")
	waitMedia(t, alice, bob)

	r.Stop()
	testutil.Eventually(t, 15*time.Second, func() error {
		code, h, err := healthz(n1.url)
		if err != nil {
			return err
		}
		if code != http.StatusServiceUnavailable || h.Status != "degraded" || h.Cluster.Problem == "" {
			return fmt.Errorf("healthz %d %+v", code, h)
		}
		return nil
	})
	late := join(ctx, t, "--url", n1.url, "--room", "outage", "--name", "late", "--timeout", "20s", "--expect-peers", "2")
	if late.code == 0 || !strings.Contains(late.stderr, "unavailable") {
		t.Fatalf("a join during the outage: exit %d, %s", late.code, late.stderr)
	}
	t.Logf("a join during the outage: %s", strings.TrimSpace(late.stderr))

	r.Restart(t) // an unpersisted Redis comes back empty
	testutil.Eventually(t, 20*time.Second, func() error {
		for _, n := range []*server{n1, n2} {
			if code, h, err := healthz(n.url); err != nil || code != http.StatusOK {
				return fmt.Errorf("%s: %d %+v %v", n.url, code, h, err)
			}
		}
		return nil
	})
	// The nodes put alice and bob back: a newcomer calls both.
	newcomerCallsBoth(ctx, t, n2.url, "outage", alice, bob, "the outage")
}

// newcomerCallsBoth has carol join room through url and call alice and bob,
// whose call goes on meanwhile, after an event (what): carol must get media
// from both, and alice and bob must have seen each other throughout, with
// no video gap over a second and nobody timing out.
func newcomerCallsBoth(ctx context.Context, t *testing.T, url, room string, alice, bob *participant, what string) {
	t.Helper()
	var wg sync.WaitGroup
	var carol joinResult
	wg.Add(1)
	go func() {
		defer wg.Done()
		carol = join(ctx, t, "--url", url, "--room", room, "--name", "carol", "--timeout", "40s", "--expect-peers", "2")
	}()
	ra, rb := alice.wait(t), bob.wait(t)
	wg.Wait()
	if carol.code != 0 || len(carol.report.Peers) != 2 {
		t.Fatalf("carol after %s: exit %d, peers %+v\n%s", what, carol.code, carol.report.Peers, carol.stderr)
	}
	for i, rep := range []clusterReport{ra, rb} {
		other := []string{"bob", "alice"}[i]
		found := false
		for _, p := range rep.Peers {
			if p.Name != other {
				continue
			}
			found = true
			if p.Video.MaxGapMS > 1000 {
				t.Errorf("video from %s stopped for %d ms during %s", other, p.Video.MaxGapMS, what)
			}
			t.Logf("longest gap in the video from %s: %d ms", other, p.Video.MaxGapMS)
		}
		if !found {
			t.Errorf("%s's report lacks %s: %+v", []string{"alice", "bob"}[i], other, rep.Peers)
		}
	}
	if strings.Contains(alice.stderr.String(), "left: timeout") || strings.Contains(bob.stderr.String(), "left: timeout") {
		t.Fatalf("someone saw the other leave:\nalice:\n%s\nbob:\n%s", alice.stderr, bob.stderr)
	}
}

// With Redis behind Sentinel, the nodes follow a failover: the master is
// killed, Sentinel promotes its replica, and the nodes carry on with it. The
// call in progress never notices (its media is peer to peer, its
// participants are never announced as left), and a newcomer calls both.
func TestTheClusterFollowsARedisSentinelFailover(t *testing.T) {
	master := redistest.Start(t)
	replica := master.StartReplica(t)
	sentinel := redistest.StartSentinel(t, master, "peercall", 1)
	n1, n2 := clusterNodeAt(t, sentinel.URL(), "node1"), clusterNodeAt(t, sentinel.URL(), "node2")
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	alice := startParticipant(ctx, t, n1.url, "failover", "alice", "--expect-peers", "1", "--duration", "25s")
	bob := startParticipant(ctx, t, n2.url, "failover", "bob", "--expect-peers", "1", "--duration", "25s")
	waitMedia(t, alice, bob)

	master.Stop()
	killed := time.Now()
	testutil.Eventually(t, 30*time.Second, func() error {
		if got := sentinel.MasterAddr(t); got != replica.Addr() {
			return fmt.Errorf("Sentinel names %q as master", got)
		}
		return nil
	})
	promoted := time.Since(killed)
	testutil.Eventually(t, 30*time.Second, func() error {
		for _, n := range []*server{n1, n2} {
			code, h, err := healthz(n.url)
			if err != nil || code != http.StatusOK || h.Cluster.Nodes != 2 {
				return fmt.Errorf("%s: %d %+v %v", n.url, code, h, err)
			}
		}
		return nil
	})
	t.Logf("Sentinel promoted the replica %v after the master was killed; both nodes healthy %v after", promoted.Round(time.Millisecond), time.Since(killed).Round(time.Millisecond))

	newcomerCallsBoth(ctx, t, n2.url, "failover", alice, bob, "the failover")
}
