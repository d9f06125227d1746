package client_test

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/peercall/peercall/internal/servertest"
)

// nft applies nftables rules in the test binary's own loopback-only network
// namespace (see main_test.go).
func nft(t *testing.T, rules string) {
	t.Helper()
	cmd := exec.Command("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft: %v\n%s", err, out)
	}
}

// When a firewall silently drops TCP to the TURN server, the call goes on
// over UDP, and Close still returns at once: it does not wait for the
// operating system to give up on the TURN-over-TCP connection (about two
// minutes of SYN retries).
func TestCloseDoesNotWaitForABlackholedTURNOverTCP(t *testing.T) {
	srv := servertest.Start(t)
	port := srv.TURN().TCPAddr().Port
	nft(t, fmt.Sprintf("table inet blackhole {\n chain in {\n  type filter hook input priority 0; policy accept;\n  tcp dport %d drop\n }\n}\n", port))
	t.Cleanup(func() { nft(t, "delete table inet blackhole\n") })

	alice := join(t, srv, "blackhole", "alice")
	bob := join(t, srv, "blackhole", "bob")
	alice.waitMedia(t, bob)
	bob.waitMedia(t, alice)
	for _, p := range []*participant{alice, bob} {
		start := time.Now()
		p.Close()
		// A generous bound on a shared machine, far below the SYN retries.
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("Close took %v", d.Round(time.Millisecond))
		} else {
			t.Logf("Close took %v", d.Round(time.Millisecond))
		}
	}
}
