package turnserver

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/peercall/peercall/internal/turnserver/turnclient"
	"github.com/peercall/peercall/internal/turnserver/udpbatch"
)

// dataPaths are the two ways the server can forward: its batched fast
// path, and pion/turn's per-packet handlers (Config.PionDataPath).
var dataPaths = []struct {
	name string
	pion bool
}{{"fast path", false}, {"pion data path", true}}

// BenchmarkChannelDataForward measures the server's forwarding of
// ChannelData on a bound channel. The client and the peer are raw UDP
// sockets whose calls do not allocate, so -benchmem's allocs/op are the
// server's (it counts the whole process).
//
//   - round trip: one 1000-byte packet client -> relay -> peer, then one
//     back peer -> relay -> client; both directions of the forwarding path
//     run once per op.
//   - burst: 32 packets of 200 bytes client -> relay -> peer per op, sent
//     with one sendmmsg and read with recvmmsg, as a media sender's burst
//     would arrive; pkts/s is the one-way rate.
func BenchmarkChannelDataForward(b *testing.B) {
	for _, dp := range dataPaths {
		b.Run("round trip 1000 B/"+dp.name, func(b *testing.B) {
			s := startServer(b, Config{AllowLoopback: true, PionDataPath: dp.pion})
			c := allocateRaw(b, s, "bench")
			peer := listenPeer(b)
			if err := c.ChannelBind(0x4000, peerAddr(peer)); err != nil {
				b.Fatal(err)
			}
			f := forwardRoundTrips(b, s, c, peer, 0x4000, 1, 1000)
			f()
			b.SetBytes(2 * 1000)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				f()
			}
		})
	}
	for _, dp := range dataPaths {
		b.Run("burst of 32 × 200 B/"+dp.name, func(b *testing.B) {
			const burst, size = 32, 200
			s := startServer(b, Config{AllowLoopback: true, PionDataPath: dp.pion})
			c := allocateRaw(b, s, "bench")
			peer := listenPeer(b)
			_ = peer.SetReadBuffer(4 << 20)
			if err := c.ChannelBind(0x4000, peerAddr(peer)); err != nil {
				b.Fatal(err)
			}
			cc, err := udpbatch.New(c.conn)
			if err != nil {
				b.Fatal(err)
			}
			pc, err := udpbatch.New(peer)
			if err != nil {
				b.Fatal(err)
			}
			msg := turnclient.AppendChannelData(nil, 0x4000, make([]byte, size))
			server := s.UDPAddr().AddrPort()
			w := udpbatch.NewWriter(burst)
			r := udpbatch.NewReader(burst, 2048, 0)
			lost := 0
			op := func() {
				for range burst {
					w.Add(msg, server)
				}
				if _, err := w.Flush(cc); err != nil {
					b.Fatal(err)
				}
				_ = peer.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
				for got := 0; got < burst; {
					n, err := r.Read(pc)
					if err != nil {
						var ne net.Error
						if errors.As(err, &ne) && ne.Timeout() {
							lost += burst - got
							break
						}
						b.Fatal(err)
					}
					got += n
				}
			}
			op()
			lost = 0
			b.SetBytes(burst * size)
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				op()
			}
			b.ReportMetric(float64(b.N*burst-lost)/time.Since(start).Seconds(), "pkts/s")
			b.ReportMetric(float64(lost), "lost")
		})
	}
}
