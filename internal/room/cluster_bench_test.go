package room_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/peercall/peercall/internal/redistest"
	"github.com/peercall/peercall/internal/room"
	"github.com/peercall/peercall/protocol"
)

// notify is a sink that signals every frame it gets.
type notify chan struct{}

func (n notify) Send([]byte)          { n <- struct{}{} }
func (n notify) Close(protocol.Error) {}
func (n notify) Admit(room.Welcome)   {}

// BenchmarkRelayLatency measures one relayed candidate from Relay to the
// recipient's sink, one at a time: on a single node (Local), between two
// participants of one cluster node, and between participants on two nodes
// (through a real redis-server on loopback). It reports p50 and p99 in µs;
// compare the sub-benchmarks of one run:
//
//	go test -run x -bench RelayLatency -benchtime 2000x ./internal/room
func BenchmarkRelayLatency(b *testing.B) {
	r := redistest.Start(b)
	newNode := func(id string) *room.Cluster {
		c, err := room.NewCluster(room.ClusterOptions{Redis: r.Client(b), NodeID: id, KeyPrefix: "bench:"})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		for c.Health() != nil {
			time.Sleep(10 * time.Millisecond)
		}
		return c
	}
	n1, n2 := newNode("n1"), newNode("n2")
	for _, tc := range []struct {
		name     string
		from, to room.Backend
	}{
		{"local", room.NewLocal(room.LocalOptions{}), nil},
		{"cluster-same-node", n1, n1},
		{"cluster-cross-node", n1, n2},
	} {
		b.Run(tc.name, func(b *testing.B) {
			if tc.to == nil {
				tc.to = tc.from
			}
			got := make(notify, 16)
			alice, err := tc.from.Join(context.Background(), room.JoinRequest{Room: tc.name, Sink: make(notify, 16)})
			if err != nil {
				b.Fatal(err)
			}
			bob, err := tc.to.Join(context.Background(), room.JoinRequest{Room: tc.name, Sink: got})
			if err != nil {
				b.Fatal(err)
			}
			payload := json.RawMessage(`{"candidate":"candidate:842163049 1 udp 1677729535 203.0.113.7 46154 typ srflx raddr 0.0.0.0 rport 0 generation 0 ufrag sXJ3 network-cost 999","sdpMid":"0","sdpMLineIndex":0}`)
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for b.Loop() {
				start := time.Now()
				if err := alice.Relay(protocol.TypeCandidate, bob.ID(), payload); err != nil {
					b.Fatal(err)
				}
				<-got
				lat = append(lat, time.Since(start))
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1e3, "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds())/1e3, "p99-µs")
			alice.Leave(protocol.LeftReasonLeft)
			bob.Leave(protocol.LeftReasonLeft)
		})
	}
}
