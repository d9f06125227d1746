package signal

import (
	"strings"
	"testing"

	"github.com/peercall/peercall/internal/room"
)

// relayPair returns a joined sender and the recipient's ID, both without
// sockets: frames stay queued.
func relayPair(tb testing.TB) (sender, recipient *conn) {
	srv := NewServer(Options{Backend: room.NewLocal(room.LocalOptions{}), MaxParticipants: 6})
	recipient = newTestConn(srv)
	recipient.handle([]byte(`{"type":"join","version":1,"room":"bench","name":"b"}`))
	sender = newTestConn(srv)
	sender.handle([]byte(`{"type":"join","version":1,"room":"bench","name":"a"}`))
	if sender.session == nil || recipient.session == nil {
		tb.Fatal("join failed")
	}
	return sender, recipient
}

func drain(c *conn) {
	c.mu.Lock()
	c.queue = c.queue[:0]
	c.mu.Unlock()
}

func benchmarkRelay(b *testing.B, payloadBytes int) {
	sender, recipient := relayPair(b)
	frame := []byte(`{"type":"candidate","to":"` + recipient.session.ID() + `","payload":{"candidate":"` +
		strings.Repeat("c", payloadBytes) + `","sdpMid":"0","sdpMLineIndex":0}}`)
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		sender.handle(frame)
		if i%128 == 0 {
			drain(recipient)
		}
	}
}

// BenchmarkRelayDecodeAndRoute measures the server's hot path for one relayed
// message: envelope decode, validation, routing and building the outgoing
// frame (the socket write is not included).
func BenchmarkRelayDecodeAndRoute(b *testing.B) {
	b.Run("candidate-250B", func(b *testing.B) { benchmarkRelay(b, 200) })
	b.Run("offer-3KB", func(b *testing.B) { benchmarkRelay(b, 3000) })
}

// TestRelayAllocations guards the hot path's allocations: the decoded
// envelope and the outgoing frame.
func TestRelayAllocations(t *testing.T) {
	sender, recipient := relayPair(t)
	frame := []byte(`{"type":"offer","to":"` + recipient.session.ID() + `","payload":{"type":"offer","sdp":"v=0"}}`)
	allocs := testing.AllocsPerRun(200, func() {
		sender.handle(frame)
		drain(recipient)
	})
	if allocs > 5 {
		t.Fatalf("%.1f allocations per relayed message; the hot path regressed", allocs)
	}
	t.Logf("%.1f allocations per relayed message", allocs)
}
