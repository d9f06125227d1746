package bench

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"

	"github.com/peercall/peercall/client"
	"github.com/peercall/peercall/internal/turnserver"
)

// callGo runs the Go scenarios against one server.
type callGo struct {
	srv   *callServer
	scale CallScale
}

func newCallGo(srv *callServer, scale CallScale) *callGo {
	return &callGo{srv: srv, scale: scale}
}

// callStamp records the first time an event happened. Safe for concurrent use.
type callStamp struct {
	once sync.Once
	at   time.Time // written once, before done is closed
	done chan struct{}
}

func newCallStamp() *callStamp { return &callStamp{done: make(chan struct{})} }

func (s *callStamp) mark() {
	s.once.Do(func() { s.at = time.Now(); close(s.done) })
}

// since is the time of the event after start in ms, or 0 if it has not
// happened.
func (s *callStamp) since(start time.Time) float64 {
	select {
	case <-s.done:
		return callMS(start, s.at)
	default:
		return 0
	}
}

func callMS(start, t time.Time) float64 {
	return float64(t.Sub(start).Microseconds()) / 1000
}

// callSideStamps are one participant's events.
type callSideStamps struct {
	ice, connected, media *callStamp
}

func newCallSideStamps() *callSideStamps {
	return &callSideStamps{ice: newCallStamp(), connected: newCallStamp(), media: newCallStamp()}
}

func (s *callSideStamps) wait(ctx context.Context) error {
	for _, st := range []struct {
		what string
		s    *callStamp
	}{{"ICE connected", s.ice}, {"connected", s.connected}, {"first media", s.media}} {
		select {
		case <-st.s.done:
		case <-ctx.Done():
			return fmt.Errorf("no %s: %w", st.what, ctx.Err())
		}
	}
	return nil
}

func (s *callSideStamps) side(start time.Time) callSide {
	c := callSide{ICEMS: s.ice.since(start), ConnectedMS: s.connected.since(start), MediaMS: s.media.since(start)}
	// pion runs the selected-pair callback in a goroutine of its own,
	// which a busy machine can run after the DTLS handshake it started has
	// finished; but DTLS runs over the selected pair, so ICE was connected
	// by then at the latest.
	if c.ConnectedMS > 0 && c.ICEMS > c.ConnectedMS {
		c.ICEMS = c.ConnectedMS
	}
	return c
}

// callWatchICE marks ice when the ICE agent of pc selects a candidate pair,
// which is when it becomes connected. (The SDK owns pc's ICE state
// callback; this one is free.)
func callWatchICE(pc *webrtc.PeerConnection, ice *callStamp) {
	it := pc.SCTP().Transport().ICETransport()
	it.OnSelectedCandidatePairChange(func(*webrtc.ICECandidatePair) { ice.mark() })
	if pair, err := it.GetSelectedCandidatePair(); err == nil && pair != nil {
		ice.mark() // selected before the callback was set: late, but marked
	}
}

// callWatchDTLS marks connected when pc's DTLS handshake completes: the
// PeerConnection is then connected (ICE and DTLS), and SRTP starts right
// after. The SDK reports PeerConnection states through its event
// goroutine, which can run behind the media; this callback runs in pion,
// before SRTP starts (and the SDK leaves it free).
func callWatchDTLS(pc *webrtc.PeerConnection, connected *callStamp) {
	dt := pc.SCTP().Transport()
	dt.OnStateChange(func(s webrtc.DTLSTransportState) {
		if s == webrtc.DTLSTransportStateConnected {
			connected.mark()
		}
	})
	if dt.State() == webrtc.DTLSTransportStateConnected {
		connected.mark() // connected before the callback was set: late, but marked
	}
}

// callWatchSignaling marks applied when pc applies the remote description:
// on the offerer, the answer (have-local-offer to stable); on the answerer,
// the offer (to have-remote-offer). If that already happened, applied stays
// unmarked. (The SDK leaves pc's signaling-state callback free.)
func callWatchSignaling(pc *webrtc.PeerConnection, offerer bool, applied *callStamp) {
	pc.OnSignalingStateChange(func(ss webrtc.SignalingState) {
		if (offerer && ss == webrtc.SignalingStateStable) || (!offerer && ss == webrtc.SignalingStateHaveRemoteOffer) {
			applied.mark()
		}
	})
}

// callDrainTrack reads a remote track until it ends, as an application would.
func callDrainTrack(t *webrtc.TrackRemote) {
	for {
		if _, _, err := t.ReadRTP(); err != nil {
			return
		}
	}
}

// callMedia writes a small Opus and VP8 sample to two tracks every
// interval: what pion sends does not need to decode, and a short interval
// keeps the wait for the next sample after connecting small. (Samples
// written before a connection is up are dropped, as with a real source.)
type callMedia struct {
	audio, video *webrtc.TrackLocalStaticSample
	stopc        chan struct{}
	wg           sync.WaitGroup
}

func newCallMedia(streamID string, interval time.Duration) (*callMedia, error) {
	audio, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus}, "audio", streamID)
	if err != nil {
		return nil, err
	}
	video, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, "video", streamID)
	if err != nil {
		return nil, err
	}
	m := &callMedia{audio: audio, video: video, stopc: make(chan struct{})}
	opus := []byte{0xf8, 0xff, 0xfe}
	vp8 := make([]byte, 200)
	copy(vp8, []byte{0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x10, 0x00, 0x10, 0x00})
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-m.stopc:
				return
			case <-tick.C:
			}
			_ = audio.WriteSample(media.Sample{Data: opus, Duration: interval})
			_ = video.WriteSample(media.Sample{Data: vp8, Duration: interval})
		}
	}()
	return m, nil
}

func (m *callMedia) tracks() []webrtc.TrackLocal { return []webrtc.TrackLocal{m.audio, m.video} }

func (m *callMedia) stop() {
	close(m.stopc)
	m.wg.Wait()
}

// peercallPair times one call through peercall: participant A joins the
// room; then, from the moment B calls client.Join, until both have ICE
// connected, the PeerConnection connected and a first RTP packet from the
// other.
func (g *callGo) peercallPair(ctx context.Context, relay bool, room string) (callSample, error) {
	var s callSample
	sides := [2]*callSideStamps{newCallSideStamps(), newCallSideStamps()}
	// The answerer applying the offer; the offerer applying the answer.
	steps := [2]*callStamp{newCallStamp(), newCallStamp()}
	var medias [2]*callMedia
	for i := range medias {
		m, err := newCallMedia("bench-"+"ab"[i:i+1], g.scale.MediaInterval)
		if err != nil {
			return s, err
		}
		defer m.stop()
		medias[i] = m
	}
	var pmu sync.Mutex
	var peers [2]*client.Peer
	cfg := func(i int) client.Config {
		st := sides[i]
		return client.Config{
			URL: g.srv.url, Room: room, Name: "ab"[i : i+1],
			Tracks:    medias[i].tracks(),
			RelayOnly: relay,
			OnPeerJoined: func(p *client.Peer) {
				pmu.Lock()
				peers[i] = p
				pmu.Unlock()
				pc := p.PeerConnection()
				callWatchICE(pc, st.ice)
				callWatchDTLS(pc, st.connected)
				callWatchSignaling(pc, i == 1, steps[i])
			},
			OnTrack: func(_ *client.Peer, t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
				st.media.mark()
				callDrainTrack(t)
			},
		}
	}
	a, err := client.Join(ctx, cfg(0))
	if err != nil {
		return s, fmt.Errorf("first participant: %w", err)
	}
	defer a.Close()
	start := time.Now()
	b, err := client.Join(ctx, cfg(1))
	if err != nil {
		return s, fmt.Errorf("second participant: %w", err)
	}
	defer b.Close()
	s.JoinMS = callMS(start, time.Now())
	errA, errB := sides[0].wait(ctx), sides[1].wait(ctx)
	for i := range sides {
		s.Sides[i] = sides[i].side(start)
	}
	s.Steps = map[string]float64{
		stepJoined:        s.JoinMS,
		stepOfferApplied:  steps[0].since(start),
		stepAnswerApplied: steps[1].since(start),
	}
	s.finish()
	if err := errors.Join(errA, errB); err != nil {
		return s, err
	}
	pmu.Lock()
	pb := peers[1]
	pmu.Unlock()
	if pb != nil {
		s.Candidate = pb.SelectedCandidateType()
	}
	if relay && s.Candidate != "relay" {
		return s, fmt.Errorf("relay-only call on a %q pair", s.Candidate)
	}
	return s, nil
}

// callPionAPI is a pion API with the settings the SDK uses on loopback: only
// the loopback interface, loopback candidates, no mDNS, the SDK's
// candidate acceptance waits (relay: none when relay-only).
func callPionAPI(relay bool) (*webrtc.API, error) {
	var se webrtc.SettingEngine
	se.SetInterfaceFilter(func(n string) bool { return n == "lo" })
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetSrflxAcceptanceMinWait(client.DefaultSrflxAcceptanceWait)
	se.SetPrflxAcceptanceMinWait(client.DefaultPrflxAcceptanceWait)
	se.SetRelayAcceptanceMinWait(client.DefaultRelayAcceptanceWait)
	if relay {
		se.SetRelayAcceptanceMinWait(0)
	}
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		return nil, err
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(me, ir); err != nil {
		return nil, err
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se)), nil
}

// baselineICEServers are the ICE servers the peercall server hands out
// (turnserver.Server.ICEServers), with REST credentials for user minted
// from the server's secret.
func (g *callGo) baselineICEServers(user string) []webrtc.ICEServer {
	username, password := turnserver.RESTCredentials(g.srv.secret, user, time.Now().Add(time.Hour))
	return []webrtc.ICEServer{
		{URLs: []string{"stun:" + g.srv.turnAddr}},
		{
			URLs:       []string{"turn:" + g.srv.turnAddr + "?transport=udp", "turn:" + g.srv.turnAddr + "?transport=tcp"},
			Username:   username,
			Credential: password, CredentialType: webrtc.ICECredentialTypePassword,
		},
	}
}

// pionPair is the floor for peercallPair: two PeerConnections in this
// process with the same settings, tracks, media and data channels as the
// SDK's, offer, answer and candidates handed over by function calls. Timed
// from before the PeerConnections are created until both have ICE
// connected, the PeerConnection connected and a first RTP packet. Relay-only
// goes through the same TURN server with the same ICE servers; withICE
// gives a direct call those ICE servers too, as peercall does.
func (g *callGo) pionPair(ctx context.Context, relay, withICE bool, user string) (callSample, error) {
	var s callSample
	var apis [2]*webrtc.API
	var rtc [2]webrtc.Configuration
	for i := range apis {
		api, err := callPionAPI(relay)
		if err != nil {
			return s, err
		}
		apis[i] = api
		if withICE {
			rtc[i] = webrtc.Configuration{ICEServers: g.baselineICEServers(user + "-" + "ab"[i:i+1])}
		}
		if relay {
			rtc[i] = webrtc.Configuration{
				ICEServers:         g.baselineICEServers(user + "-" + "ab"[i:i+1]),
				ICETransportPolicy: webrtc.ICETransportPolicyRelay,
			}
		}
	}
	sides := [2]*callSideStamps{newCallSideStamps(), newCallSideStamps()}
	var medias [2]*callMedia
	for i := range medias {
		m, err := newCallMedia("base-"+"ab"[i:i+1], g.scale.MediaInterval)
		if err != nil {
			return s, err
		}
		defer m.stop()
		medias[i] = m
	}

	// Candidates may arrive before the remote description is set; queue
	// them until it is. AddICECandidate is never called with mu held: pion
	// closing a PeerConnection waits for its candidate callbacks, which
	// take mu, while holding a lock AddICECandidate needs.
	var mu sync.Mutex // guards pcs, ready, pending and closing
	var pcs [2]*webrtc.PeerConnection
	var ready [2]bool
	var pending [2][]webrtc.ICECandidateInit
	closing := false
	addTo := func(i int, c webrtc.ICECandidateInit) {
		mu.Lock()
		if closing {
			mu.Unlock()
			return
		}
		if !ready[i] {
			pending[i] = append(pending[i], c)
			mu.Unlock()
			return
		}
		pc := pcs[i]
		mu.Unlock()
		_ = pc.AddICECandidate(c)
	}
	setReady := func(i int) {
		mu.Lock()
		ready[i] = true
		cs, pc := pending[i], pcs[i]
		pending[i] = nil
		mu.Unlock()
		for _, c := range cs {
			_ = pc.AddICECandidate(c)
		}
	}
	defer func() {
		mu.Lock()
		closing = true
		all := pcs
		mu.Unlock()
		for _, pc := range all {
			if pc != nil {
				_ = pc.GracefulClose()
			}
		}
	}()

	start := time.Now()
	for i := range pcs {
		pc, err := apis[i].NewPeerConnection(rtc[i])
		if err != nil {
			return s, err
		}
		mu.Lock()
		pcs[i] = pc
		mu.Unlock()
		st := sides[i]
		for _, tr := range medias[i].tracks() {
			sender, err := pc.AddTrack(tr)
			if err != nil {
				return s, err
			}
			go func() {
				buf := make([]byte, 1500)
				for {
					if _, _, err := sender.Read(buf); err != nil {
						return
					}
				}
			}()
		}
		// The SDK's two negotiated data channels ("peercall" and "file").
		for id, label := range []string{client.DataChannelLabel, "file"} {
			negotiated, dcID := true, uint16(id)
			if _, err := pc.CreateDataChannel(label, &webrtc.DataChannelInit{Negotiated: &negotiated, ID: &dcID}); err != nil {
				return s, err
			}
		}
		callWatchICE(pc, st.ice)
		callWatchDTLS(pc, st.connected)
		pc.OnTrack(func(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
			st.media.mark()
			callDrainTrack(t)
		})
		pc.OnICECandidate(func(c *webrtc.ICECandidate) {
			if c != nil {
				addTo(1-i, c.ToJSON())
			}
		})
	}
	// Side 1 joins and offers, as in peercallPair.
	offer, err := pcs[1].CreateOffer(nil)
	if err != nil {
		return s, err
	}
	if err := pcs[1].SetLocalDescription(offer); err != nil {
		return s, err
	}
	if err := pcs[0].SetRemoteDescription(offer); err != nil {
		return s, err
	}
	offerApplied := time.Now()
	setReady(0)
	answer, err := pcs[0].CreateAnswer(nil)
	if err != nil {
		return s, err
	}
	if err := pcs[0].SetLocalDescription(answer); err != nil {
		return s, err
	}
	if err := pcs[1].SetRemoteDescription(answer); err != nil {
		return s, err
	}
	answerApplied := time.Now()
	setReady(1)
	errA, errB := sides[0].wait(ctx), sides[1].wait(ctx)
	for i := range sides {
		s.Sides[i] = sides[i].side(start)
	}
	s.Steps = map[string]float64{
		stepOfferApplied:  callMS(start, offerApplied),
		stepAnswerApplied: callMS(start, answerApplied),
	}
	s.finish()
	if err := errors.Join(errA, errB); err != nil {
		return s, err
	}
	if pair, err := pcs[1].SCTP().Transport().ICETransport().GetSelectedCandidatePair(); err == nil && pair != nil {
		s.Candidate = strings.ToLower(callPairType(pair.Local.Typ, pair.Remote.Typ))
	}
	if relay && s.Candidate != "relay" {
		return s, fmt.Errorf("relay-only call on a %q pair", s.Candidate)
	}
	return s, nil
}

// callPairType names a candidate pair as client.Peer.SelectedCandidateType
// does (without its reflexive-equals-base refinement, which loopback never
// needs).
func callPairType(local, remote webrtc.ICECandidateType) string {
	if local == webrtc.ICECandidateTypeRelay || remote == webrtc.ICECandidateTypeRelay {
		return "relay"
	}
	return remote.String()
}
