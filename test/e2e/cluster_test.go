package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/peercall/peercall/internal/browsertest"
	"github.com/peercall/peercall/internal/config"
	"github.com/peercall/peercall/internal/redistest"
	"github.com/peercall/peercall/internal/servertest"
	"github.com/peercall/peercall/internal/testutil"
)

// TestBrowsersOnTwoClusterNodesCallEachOther puts Alice's browser on one
// node and Bob's on another, the two sharing rooms through a real Redis:
// they see each other and their video plays both ways.
func TestBrowsersOnTwoClusterNodesCallEachOther(t *testing.T) {
	r := redistest.Start(t)
	node := func(id string) *servertest.Server {
		return servertest.Start(t, func(c *config.Config) {
			c.Redis, c.NodeID = r.URL(), id
			c.SessionSecret, c.TURNSecret = "browser-cluster-session-secret", "browser-cluster-turn-secret"
		})
	}
	n1, n2 := node("node1"), node("node2")
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
