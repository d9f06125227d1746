package turnserver

import (
	"testing"
	"time"
)

// BenchmarkChannelDataForward measures one round trip of a 1000-byte
// packet client -> relay -> peer -> relay -> client through a channel
// binding, so both directions of the server's forwarding path run.
func BenchmarkChannelDataForward(b *testing.B) {
	s := startServer(b, Config{AllowLoopback: true})
	u, p, _ := s.Credentials("bench")
	relay, err := allocate(b, dialClient(b, s, u, p, false))
	if err != nil {
		b.Fatal(err)
	}
	peer := listenPeer(b)
	done := make(chan struct{})
	go func() { // echo
		defer close(done)
		buf := make([]byte, 1500)
		for {
			n, from, err := peer.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = peer.WriteTo(buf[:n], from)
		}
	}()
	b.Cleanup(func() { _ = peer.Close(); <-done })

	payload := make([]byte, 1000)
	buf := make([]byte, 1500)
	roundTrip := func() bool {
		if _, err := relay.WriteTo(payload, peer.LocalAddr()); err != nil {
			b.Fatal(err)
		}
		_ = relay.SetReadDeadline(time.Now().Add(time.Second))
		_, _, err := relay.ReadFrom(buf)
		return err == nil
	}
	// Warm up until the permission and channel binding are in place.
	deadline := time.Now().Add(waitFor)
	for ok := 0; ok < 50; {
		if roundTrip() {
			ok++
		} else if time.Now().After(deadline) {
			b.Fatal("no echo through the relay")
		}
	}
	b.SetBytes(2 * int64(len(payload)))
	b.ResetTimer()
	lost := 0
	for range b.N {
		if !roundTrip() {
			lost++
		}
	}
	b.ReportMetric(float64(lost), "lost")
}
