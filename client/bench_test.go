package client_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"

	"github.com/peercall/peercall/client"
	"github.com/peercall/peercall/internal/config"
	"github.com/peercall/peercall/internal/servertest"
)

// benchMediaInterval is how often the benchmarks' sources write a frame. A
// short interval keeps the wait for the next frame after connecting (up to
// one interval) from dominating what is measured.
const benchMediaInterval = 5 * time.Millisecond

// firstRTP records when the first remote track of each peer appeared (pion
// fires OnTrack on a track's first RTP packet).
type firstRTP struct {
	once sync.Once
	at   chan time.Time
}

func newFirstRTP() *firstRTP { return &firstRTP{at: make(chan time.Time, 1)} }

func (f *firstRTP) mark() { f.once.Do(func() { f.at <- time.Now() }) }

func (f *firstRTP) wait(b *testing.B) time.Time {
	select {
	case t := <-f.at:
		return t
	case <-time.After(20 * time.Second):
		b.Fatal("no RTP within 20 s")
		return time.Time{}
	}
}

// reportDurations reports the median and 90th percentile in milliseconds.
func reportDurations(b *testing.B, name string, ds []time.Duration) {
	slices.Sort(ds)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(ds[len(ds)/2]), name+"-median-ms")
	b.ReportMetric(ms(ds[len(ds)*9/10]), name+"-p90-ms")
}

// BenchmarkJoinToFirstMedia measures, per iteration, two clients joining a
// fresh room on one server: from the first Join call until both have
// received RTP from the other.
func BenchmarkJoinToFirstMedia(b *testing.B) {
	srv := servertest.Start(b, func(c *config.Config) { c.JoinsPerIPPerMinute = -1 })
	var ds, joins, connects []time.Duration
	for i := 0; b.Loop(); i++ {
		room := fmt.Sprintf("bench-%d", i)
		var rooms []*client.Room
		var medias []*client.Media
		var firsts, connected []*firstRTP
		start := time.Now()
		for _, name := range []string{"a", "b"} {
			m := client.NewMediaEvery(b, name, benchMediaInterval)
			f, c := newFirstRTP(), newFirstRTP()
			r, err := client.Join(context.Background(), client.Config{
				URL: srv.URL, Room: room, Name: name, Tracks: m.Tracks(),
				OnPeerConnectionState: func(_ *client.Peer, s webrtc.PeerConnectionState) {
					if s == webrtc.PeerConnectionStateConnected {
						c.mark()
					}
				},
				OnTrack: func(_ *client.Peer, track *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
					f.mark()
					for {
						if _, _, err := track.ReadRTP(); err != nil {
							return
						}
					}
				},
			})
			if err != nil {
				b.Fatal(err)
			}
			rooms, medias = append(rooms, r), append(medias, m)
			firsts, connected = append(firsts, f), append(connected, c)
		}
		joins = append(joins, time.Since(start))
		conn := connected[0].wait(b)
		if t := connected[1].wait(b); t.After(conn) {
			conn = t
		}
		connects = append(connects, conn.Sub(start))
		last := firsts[0].wait(b)
		if t := firsts[1].wait(b); t.After(last) {
			last = t
		}
		ds = append(ds, last.Sub(start))
		for i := range rooms {
			medias[i].Stop()
			_ = rooms[i].Close()
		}
	}
	reportDurations(b, "join-to-rtp", ds)
	reportDurations(b, "both-joined", joins)
	reportDurations(b, "join-to-connected", connects)
}

// BenchmarkPionBaseline is the floor for BenchmarkJoinToFirstMedia: two pion
// PeerConnections in one process with the same settings and media, wired
// directly (trickle through function calls), from CreateOffer until both
// have received RTP.
func BenchmarkPionBaseline(b *testing.B) {
	var se webrtc.SettingEngine
	se.SetInterfaceFilter(func(n string) bool { return n == "lo" })
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		b.Fatal(err)
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(me, ir); err != nil {
		b.Fatal(err)
	}
	api := webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se))

	var ds []time.Duration
	for b.Loop() {
		var pcs [2]*webrtc.PeerConnection
		var medias [2]*client.Media
		var firsts [2]*firstRTP
		for i := range pcs {
			pc, err := api.NewPeerConnection(webrtc.Configuration{})
			if err != nil {
				b.Fatal(err)
			}
			medias[i] = client.NewMediaEvery(b, fmt.Sprint(i), benchMediaInterval)
			for _, tr := range medias[i].Tracks() {
				if _, err := pc.AddTrack(tr); err != nil {
					b.Fatal(err)
				}
			}
			f := newFirstRTP()
			pc.OnTrack(func(track *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
				f.mark()
				for {
					if _, _, err := track.ReadRTP(); err != nil {
						return
					}
				}
			})
			pcs[i], firsts[i] = pc, f
		}
		// Candidates may arrive before the remote description is set;
		// queue them until it is.
		var mu sync.Mutex
		ready := [2]bool{}
		pending := [2][]webrtc.ICECandidateInit{}
		addTo := func(i int, c webrtc.ICECandidateInit) {
			mu.Lock()
			defer mu.Unlock()
			if !ready[i] {
				pending[i] = append(pending[i], c)
				return
			}
			_ = pcs[i].AddICECandidate(c)
		}
		setReady := func(i int) {
			mu.Lock()
			defer mu.Unlock()
			ready[i] = true
			for _, c := range pending[i] {
				_ = pcs[i].AddICECandidate(c)
			}
		}
		for i := range pcs {
			pcs[i].OnICECandidate(func(c *webrtc.ICECandidate) {
				if c != nil {
					addTo(1-i, c.ToJSON())
				}
			})
		}

		start := time.Now()
		offer, err := pcs[0].CreateOffer(nil)
		if err != nil {
			b.Fatal(err)
		}
		if err := pcs[0].SetLocalDescription(offer); err != nil {
			b.Fatal(err)
		}
		if err := pcs[1].SetRemoteDescription(offer); err != nil {
			b.Fatal(err)
		}
		setReady(1)
		answer, err := pcs[1].CreateAnswer(nil)
		if err != nil {
			b.Fatal(err)
		}
		if err := pcs[1].SetLocalDescription(answer); err != nil {
			b.Fatal(err)
		}
		if err := pcs[0].SetRemoteDescription(answer); err != nil {
			b.Fatal(err)
		}
		setReady(0)
		last := firsts[0].wait(b)
		if t := firsts[1].wait(b); t.After(last) {
			last = t
		}
		ds = append(ds, last.Sub(start))
		for i := range pcs {
			medias[i].Stop()
			_ = pcs[i].GracefulClose()
		}
	}
	reportDurations(b, "offer-to-rtp", ds)
}
