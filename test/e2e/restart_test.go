package e2e

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/peercall/peercall/internal/browsertest"
	"github.com/peercall/peercall/internal/servertest"
	"github.com/peercall/peercall/internal/testutil"
)

// framesDecodedJS is the remote video's framesDecoded as the page sees it.
const framesDecodedJS = `(async () => { let n = 0; const p = [...window.peercall.room.participants.values()][0];
	(await p.pc.getStats()).forEach((s) => { if (s.type === 'inbound-rtp' && s.kind === 'video') n += s.framesDecoded || 0; }); return n; })()`

// TestBrowsersRestartICEAfterABrokenPath blocks all UDP in the test's
// network namespace for long enough that the browsers' ICE goes
// disconnected: the JS SDK restarts ICE on its own after its grace period,
// and when the path is back the video decodes again, without leaving the
// room.
func TestBrowsersRestartICEAfterABrokenPath(t *testing.T) {
	srv := servertest.Start(t)
	b := browsertest.Start(t, browsertest.WithFakeMediaUI())
	room := newRoom(t, srv.URL)
	alice := newPage(t, b, browsertest.Named("alice"))
	bob := newPage(t, b, browsertest.Named("bob"))
	join(t, alice, srv.URL, room, "Alice")
	join(t, bob, srv.URL, room, "Bob")
	waitRemoteVideos(t, alice, 1)
	waitRemoteVideos(t, bob, 1)

	peerIDs := func() (ids [2]string) {
		for i, p := range []*browsertest.Page{alice, bob} {
			var n int
			p.Eval(`window.peercall.room.participants.size`, &n)
			if n != 1 {
				t.Fatalf("%s sees %d participants", p.Name, n)
			}
			p.Eval(`[...window.peercall.room.participants.keys()][0]`, &ids[i])
		}
		return ids
	}
	idsBefore := peerIDs()

	nft := func(rules string) {
		t.Helper()
		cmd := exec.Command("nft", "-f", "-")
		cmd.Stdin = strings.NewReader(rules)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("nft: %v\n%s", err, out)
		}
	}
	// Only this test's namespace is affected (TestMain runs the tests in a
	// loopback-only namespace of their own). Signaling is TCP and goes on.
	nft("table inet e2ecut {\n chain in {\n  type filter hook input priority 0; policy accept;\n  meta l4proto udp drop\n }\n}\n")
	unblocked := false
	unblock := func() {
		if !unblocked {
			unblocked = true
			nft("delete table inet e2ecut\n")
		}
	}
	t.Cleanup(unblock)

	restarts := `[...window.peercall.room.participants.values()][0].iceRestarts`
	testutil.Eventually(t, 30*time.Second, func() error {
		var a, b int
		alice.Eval(restarts, &a)
		bob.Eval(restarts, &b)
		if a+b == 0 {
			return fmt.Errorf("no ICE restart yet")
		}
		return nil
	})
	unblock()
	var before int
	alice.Eval(framesDecodedJS, &before)
	testutil.Eventually(t, 30*time.Second, func() error {
		var now int
		alice.Eval(framesDecodedJS, &now)
		if now <= before+15 {
			return fmt.Errorf("framesDecoded %d -> %d: video not flowing again", before, now)
		}
		return nil
	})
	if ids := peerIDs(); ids != idsBefore {
		t.Fatalf("participants changed across the restart: %v -> %v (a rejoin?)", idsBefore, ids)
	}
}
