package client

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"

	"github.com/peercall/peercall/internal/testutil"
	"github.com/peercall/peercall/protocol"
)

// pair is two peers wired to each other in process, without a server: each
// one's signal delivers straight to the other's inbox, like the relay.
type pair struct {
	a, b     *Peer
	wg       sync.WaitGroup
	counter  *RTPCounter
	gotData  [2]atomic.Int64 // messages received by a, b
	signaled atomic.Int64
}

func testLogger() *slog.Logger {
	if os.Getenv("PEERCALL_TEST_LOG") == "debug" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func loopbackAPI(t testing.TB) *webrtc.API {
	t.Helper()
	var se webrtc.SettingEngine
	se.SetInterfaceFilter(func(n string) bool { return n == "lo" })
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.LoggerFactory = pionLoggerFactory{log: testLogger()}
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(me, ir); err != nil {
		t.Fatal(err)
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se))
}

// newPair connects peer "a" (polite) and "b". aInit and bInit say who makes
// the first offer; both true makes the first offers collide.
func newPair(t *testing.T, aInit, bInit bool) *pair {
	t.Helper()
	return newPairMedia(t, aInit, bInit, true, true)
}

// newPairMedia is newPair where aMedia and bMedia say who publishes tracks.
func newPairMedia(t *testing.T, aInit, bInit, aMedia, bMedia bool) *pair {
	t.Helper()
	api := loopbackAPI(t)
	pr := &pair{counter: NewRTPCounter()}
	var peers [2]*Peer
	for i, id := range []string{"a", "b"} {
		var tracks []webrtc.TrackLocal
		if (id == "a" && aMedia) || (id == "b" && bMedia) {
			tracks = NewMedia(t, id).Tracks()
		}
		env := &peerEnv{
			api:    api,
			rtc:    func() webrtc.Configuration { return webrtc.Configuration{} },
			tracks: tracks,
			log:    testLogger().With("self", id),
			wg:     &pr.wg,
			signal: func(to, typ string, payload []byte) {
				pr.signaled.Add(1)
				peers[1-i].deliver(typ, payload)
			},
			onTrack: pr.counter.OnTrack,
			onData:  func(*Peer, []byte) { pr.gotData[i].Add(1) },
		}
		other := protocol.Participant{ID: "b", Name: "B"}
		initiator := aInit
		if id == "b" {
			other = protocol.Participant{ID: "a", Name: "A"}
			initiator = bInit
		}
		p, err := newPeer(env, id, other, initiator)
		if err != nil {
			t.Fatal(err)
		}
		p.announce()
		peers[i] = p
	}
	pr.a, pr.b = peers[0], peers[1]
	t.Cleanup(pr.close)
	pr.a.start()
	pr.b.start()
	return pr
}

func (pr *pair) close() {
	pr.a.close()
	pr.b.close()
	pr.wg.Wait()
}

// waitFlowing waits until both sides are connected and stable, media flows
// both ways and data messages arrive both ways.
func (pr *pair) waitFlowing(t *testing.T) {
	t.Helper()
	testutil.Eventually(t, 20*time.Second, func() error {
		for _, p := range []*Peer{pr.a, pr.b} {
			if s := p.ConnectionState(); s != webrtc.PeerConnectionStateConnected {
				return fmt.Errorf("%s: %s", p.id, s)
			}
			if s := p.PeerConnection().SignalingState(); s != webrtc.SignalingStateStable {
				return fmt.Errorf("%s: signaling %s", p.id, s)
			}
		}
		return nil
	})
	audio, video := pr.counter.Count("a", "audio"), pr.counter.Count("a", "video")
	testutil.Eventually(t, 20*time.Second, func() error {
		return pr.counter.WantAV(1, "a", "b")
	})
	// More media after whatever renegotiation came before.
	testutil.Eventually(t, 20*time.Second, func() error {
		if pr.counter.Count("a", "audio") <= audio || pr.counter.Count("a", "video") <= video {
			return errors.New("media from a stopped")
		}
		return nil
	})
	da, db := pr.gotData[0].Load(), pr.gotData[1].Load()
	testutil.Eventually(t, 20*time.Second, func() error {
		// Keep sending: a message sent before the channel opened fails.
		_ = pr.a.Send([]byte("to b"))
		_ = pr.b.Send([]byte("to a"))
		if pr.gotData[0].Load() <= da || pr.gotData[1].Load() <= db {
			return errors.New("no data message yet")
		}
		return nil
	})
}

func TestNegotiationWithOneInitiatorConnects(t *testing.T) {
	LeakCheck(t)
	pr := newPair(t, false, true)
	pr.waitFlowing(t)
	if got := pr.a.SelectedCandidateType(); got != "host" {
		t.Errorf("SelectedCandidateType = %q, want host", got)
	}
}

func TestNegotiationSurvivesCollidingFirstOffers(t *testing.T) {
	LeakCheck(t)
	pr := newPair(t, true, true)
	pr.waitFlowing(t)
}

func TestNegotiationSurvivesCollidingRenegotiations(t *testing.T) {
	LeakCheck(t)
	pr := newPair(t, true, false)
	pr.waitFlowing(t)
	for round := range 5 {
		before := pr.signaled.Load()
		// Both sides offer at once; the offers cross in the inboxes.
		pr.a.negotiate(false)
		pr.b.negotiate(false)
		testutil.Eventually(t, 20*time.Second, func() error {
			if pr.signaled.Load() < before+2 {
				return fmt.Errorf("round %d: offers not sent", round)
			}
			return nil
		})
		pr.waitFlowing(t)
	}
}

func TestPairTypePrefersRelay(t *testing.T) {
	tests := []struct {
		local, remote webrtc.ICECandidateType
		want          string
	}{
		{webrtc.ICECandidateTypeHost, webrtc.ICECandidateTypeHost, "host"},
		{webrtc.ICECandidateTypeHost, webrtc.ICECandidateTypeSrflx, "srflx"},
		{webrtc.ICECandidateTypeHost, webrtc.ICECandidateTypePrflx, "prflx"},
		{webrtc.ICECandidateTypeRelay, webrtc.ICECandidateTypePrflx, "relay"},
		{webrtc.ICECandidateTypeHost, webrtc.ICECandidateTypeRelay, "relay"},
		{webrtc.ICECandidateTypeUnknown, webrtc.ICECandidateTypeUnknown, ""},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s to %s is %q", tt.local, tt.remote, tt.want), func(t *testing.T) {
			if got := pairType(tt.local, tt.remote); got != tt.want {
				t.Errorf("pairType = %q", got)
			}
		})
	}
}

func TestNegotiationSurvivesCollidingICERestarts(t *testing.T) {
	LeakCheck(t)
	pr := newPair(t, true, false)
	pr.waitFlowing(t)
	for round := range 3 {
		before := pr.signaled.Load()
		pr.a.negotiate(true)
		pr.b.negotiate(true)
		testutil.Eventually(t, 20*time.Second, func() error {
			if pr.signaled.Load() < before+2 {
				return fmt.Errorf("round %d: offers not sent", round)
			}
			return nil
		})
		pr.waitFlowing(t)
	}
}

func TestNegotiationStartsWhenNeitherSideIsTheInitiator(t *testing.T) {
	LeakCheck(t)
	pr := newPair(t, false, false) // both wait firstOfferGrace, then offer
	pr.waitFlowing(t)
}

func TestNegotiationSendsTheAnswerersTracksInASecondRound(t *testing.T) {
	LeakCheck(t)
	// a offers without media; b's tracks need an offer of their own.
	pr := newPairMedia(t, true, false, false, true)
	testutil.Eventually(t, 20*time.Second, func() error {
		if n := pr.counter.Count("b", "audio"); n < 1 {
			return errors.New("a received no audio from b")
		}
		if n := pr.counter.Count("b", "video"); n < 1 {
			return errors.New("a received no video from b")
		}
		for _, p := range []*Peer{pr.a, pr.b} {
			if s := p.PeerConnection().SignalingState(); s != webrtc.SignalingStateStable {
				return fmt.Errorf("%s: signaling %s", p.id, s)
			}
		}
		return nil
	})
	if n := pr.counter.Count("a", "audio"); n != 0 {
		t.Errorf("b received %d audio packets from a, which has no tracks", n)
	}
}
