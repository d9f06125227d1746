package client

import (
	"log/slog"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/peercall/peercall/protocol"
)

// firstOfferGrace is how long the side that does not make the first offer
// waits for it before offering itself. Peers of this SDK never need it; it
// keeps a call working with a client that expects the other side to offer.
const firstOfferGrace = time.Second

// DataChannelLabel is the label of the data channel every pair of peers
// shares. It is negotiated out of band with stream ID 0 on both sides, so
// neither side has to announce it.
const DataChannelLabel = "peercall"

// Peer is a remote participant and the PeerConnection to it.
type Peer struct {
	env       *peerEnv
	id        string
	polite    bool
	initiator bool
	log       *slog.Logger

	inbox     *queue[peerEvent]
	announced chan struct{} // closed once OnPeerJoined has returned
	closedCh  chan struct{} // closed by close
	announce  func()        // closes announced, once

	// lastState is the state last given to OnPeerConnectionState; only the
	// room's event goroutine uses it.
	lastState webrtc.PeerConnectionState

	// Negotiation state, used only by the run goroutine (negotiate.go).
	ignoreOffer    bool
	restartPending bool
	restartTimer   *time.Timer // ICE restart due (icerestart.go)
	offerTimer     *time.Timer // resend of an unanswered offer due

	mu         sync.Mutex // guards the following
	name       string
	state      protocol.State
	host       bool
	pc         *webrtc.PeerConnection
	dc         *webrtc.DataChannel
	fileDC     *webrtc.DataChannel // the file channel; answers every offer with a reject
	closed     bool
	reconnect  bool        // the participant's signaling connection is down
	firstOffer *time.Timer // fires evFirstOfferDue on the non-initiator
}

// peerEnv is what a Peer needs from its room. Unit tests wire two peers to
// each other through it, without a server.
type peerEnv struct {
	api *webrtc.API
	// rtc returns the configuration for a new PeerConnection (the ICE
	// servers can change when a session resumes).
	rtc    func() webrtc.Configuration
	tracks []webrtc.TrackLocal
	// restartGrace is how long ICE may stay disconnected before a restart.
	restartGrace time.Duration
	// refreshInterfaces, if set, re-reads the network interfaces before an
	// ICE restart (pion caches them).
	refreshInterfaces func()
	// probeSignaling, if set, checks the signaling connection at once.
	probeSignaling func()
	log            *slog.Logger
	wg             *sync.WaitGroup // every goroutine a peer starts is counted here
	// signal sends a relay frame (offer, answer or candidate) to the peer
	// with ID to. It must not block.
	signal func(to, typ string, payload []byte)
	// Optional callbacks.
	onTrack func(*Peer, *webrtc.TrackRemote, *webrtc.RTPReceiver)
	onData  func(*Peer, []byte)
	onChat  func(*Peer, string)
	// onStateChange is told that p's PeerConnection state changed. It must
	// not block.
	onStateChange func(p *Peer)
}

// newPeer creates the PeerConnection to participant part. The caller must
// call start, and announce once OnPeerJoined has been delivered. initiator
// means this side makes the first offer.
func newPeer(env *peerEnv, selfID string, part protocol.Participant, initiator bool) (*Peer, error) {
	p := &Peer{
		env:       env,
		id:        part.ID,
		polite:    protocol.Polite(selfID, part.ID),
		initiator: initiator,
		log:       env.log.With("peer", part.ID),
		inbox:     newQueue[peerEvent](),
		announced: make(chan struct{}),
		closedCh:  make(chan struct{}),
		name:      part.Name,
		state:     part.State,
		host:      part.Host,
		reconnect: part.Reconnecting,
	}
	p.announce = sync.OnceFunc(func() { close(p.announced) })
	pc, dc, fdc, err := p.newPeerConnection()
	if err != nil {
		return nil, err
	}
	p.pc, p.dc, p.fileDC = pc, dc, fdc
	return p, nil
}

// start runs the peer's negotiation goroutine.
func (p *Peer) start() {
	if p.initiator {
		p.inbox.push(peerEvent{kind: evFirstOfferDue})
	} else {
		p.mu.Lock()
		p.firstOffer = time.AfterFunc(firstOfferGrace, func() {
			p.inbox.push(peerEvent{kind: evFirstOfferDue})
		})
		p.mu.Unlock()
	}
	p.env.wg.Add(1)
	go p.run()
}

// newPeerConnection creates a PeerConnection with the local tracks and the
// data channels (messages, files), wired to this peer's inbox.
func (p *Peer) newPeerConnection() (*webrtc.PeerConnection, *webrtc.DataChannel, *webrtc.DataChannel, error) {
	pc, err := p.env.api.NewPeerConnection(p.env.rtc())
	if err != nil {
		return nil, nil, nil, err
	}
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c != nil { // nil marks the end of gathering; not signaled
			p.inbox.push(peerEvent{kind: evLocalCandidate, pc: pc, cand: c.ToJSON()})
		}
	})
	pc.OnNegotiationNeeded(func() {
		p.inbox.push(peerEvent{kind: evNegotiationNeeded, pc: pc})
	})
	pc.OnICEConnectionStateChange(func(st webrtc.ICEConnectionState) {
		p.inbox.push(peerEvent{kind: evICEState, pc: pc, ice: st})
	})
	pc.OnConnectionStateChange(func(webrtc.PeerConnectionState) {
		if p.env.onStateChange != nil && p.isCurrent(pc) {
			p.env.onStateChange(p)
		}
	})
	pc.OnTrack(func(t *webrtc.TrackRemote, r *webrtc.RTPReceiver) {
		if p.env.onTrack != nil && p.waitAnnounced() {
			p.env.onTrack(p, t, r)
		}
	})
	for _, tr := range p.env.tracks {
		sender, err := pc.AddTrack(tr)
		if err != nil {
			_ = pc.Close()
			return nil, nil, nil, err
		}
		// Read RTCP so that interceptors (NACK, reports) see it; ends when
		// the PeerConnection closes.
		p.env.wg.Add(1)
		go func() {
			defer p.env.wg.Done()
			buf := make([]byte, 1500)
			for {
				if _, _, err := sender.Read(buf); err != nil {
					return
				}
			}
		}()
	}
	negotiated, id := true, uint16(0)
	dc, err := pc.CreateDataChannel(DataChannelLabel, &webrtc.DataChannelInit{Negotiated: &negotiated, ID: &id})
	if err != nil {
		_ = pc.Close()
		return nil, nil, nil, err
	}
	fdc, err := createFileChannel(pc)
	if err != nil {
		_ = pc.Close()
		return nil, nil, nil, err
	}
	dc.OnMessage(func(m webrtc.DataChannelMessage) {
		if (p.env.onData == nil && p.env.onChat == nil) || !p.waitAnnounced() {
			return
		}
		if p.env.onChat != nil {
			if text, ok := parseChat(m.Data); ok {
				p.env.onChat(p, text)
			}
		}
		if p.env.onData != nil {
			p.env.onData(p, m.Data)
		}
	})
	return pc, dc, fdc, nil
}

// run serializes everything that touches the peer's negotiation.
func (p *Peer) run() {
	defer p.env.wg.Done()
	for {
		select {
		case <-p.closedCh:
			p.stopRestartTimer()
			if p.offerTimer != nil {
				p.offerTimer.Stop()
			}
			p.mu.Lock()
			pc := p.pc
			p.mu.Unlock()
			// Outside pion callbacks, so waiting for pion's goroutines is safe.
			_ = pc.GracefulClose()
			return
		case <-p.inbox.wake:
		}
		evs, _ := p.inbox.take()
		for _, ev := range evs {
			if p.isClosed() {
				break
			}
			p.handle(ev)
		}
	}
}

// close closes the PeerConnection and stops the run goroutine. Idempotent.
func (p *Peer) close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	pc := p.pc
	if p.firstOffer != nil {
		p.firstOffer.Stop()
	}
	p.mu.Unlock()
	close(p.closedCh)
	p.inbox.close()
	_ = pc.Close()
}

func (p *Peer) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

func (p *Peer) isCurrent(pc *webrtc.PeerConnection) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pc == pc && !p.closed
}

// waitAnnounced blocks until OnPeerJoined has been delivered for p, and
// reports false if p closed first.
func (p *Peer) waitAnnounced() bool {
	select {
	case <-p.announced:
		return true
	case <-p.closedCh:
		return false
	}
}

// deliver queues a relay frame received from this peer.
func (p *Peer) deliver(typ string, payload []byte) {
	p.inbox.push(peerEvent{kind: evRemote, typ: typ, payload: payload})
}

// negotiate asks for a new offer to this peer; with restart, an ICE restart.
// It is the hook for restarting ICE after a failure.
func (p *Peer) negotiate(restart bool) {
	p.inbox.push(peerEvent{kind: evNegotiate, restart: restart})
}

// setInfo updates the participant's presence and reports whether it changed.
func (p *Peer) setInfo(part protocol.Participant) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	changed := p.name != part.Name || p.state != part.State || p.reconnect != part.Reconnecting || p.host != part.Host
	p.name, p.state, p.reconnect, p.host = part.Name, part.State, part.Reconnecting, part.Host
	return changed
}

// ID returns the participant's server-assigned ID.
func (p *Peer) ID() string { return p.id }

// Name returns the participant's current display name.
func (p *Peer) Name() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.name
}

// State returns the participant's current media state.
func (p *Peer) State() protocol.State {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state
}

// Host reports whether the participant is a host of the room: it may lock
// the room, admit and deny knockers, remove participants and ask them to
// mute (see Room.Lock). In an open room the first joiner is host, then the
// oldest member once no host is left; OnPeerUpdated reports the change.
func (p *Peer) Host() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.host
}

// Reconnecting reports whether the participant's signaling connection is
// down and the server is waiting for it to resume. Its PeerConnection is
// kept meanwhile (media does not depend on the server); OnPeerUpdated
// reports changes, OnPeerLeft the end of the wait.
func (p *Peer) Reconnecting() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.reconnect
}

// Polite reports whether this side is the polite one of the pair in perfect
// negotiation (protocol.Polite).
func (p *Peer) Polite() bool { return p.polite }

// PeerConnection returns the PeerConnection to the participant. It may be
// replaced once, before the first negotiation completes (see the package
// documentation); it is closed after the participant left.
func (p *Peer) PeerConnection() *webrtc.PeerConnection {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pc
}

// ConnectionState returns the state of the PeerConnection to the participant;
// PeerConnectionStateClosed once the peer left or the room ended. (pion can
// report a stale state for a moment after Close, when a transport's state
// change races with it; this does not.)
func (p *Peer) ConnectionState() webrtc.PeerConnectionState {
	p.mu.Lock()
	pc, closed := p.pc, p.closed
	p.mu.Unlock()
	if closed {
		return webrtc.PeerConnectionStateClosed
	}
	return pc.ConnectionState()
}

// SelectedCandidateType describes the ICE candidate pair in use: "relay" if
// either side of the selected pair is a relay (TURN) candidate, otherwise the
// remote candidate's type ("host", "srflx" or "prflx"), where a reflexive
// address equal to its base (no NAT) counts as "host". It returns "" while
// no pair is selected.
func (p *Peer) SelectedCandidateType() string {
	pair, err := p.PeerConnection().SCTP().Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil || pair == nil || pair.Local == nil || pair.Remote == nil {
		return ""
	}
	remote := pair.Remote.Typ
	if untranslated(pair.Remote) {
		// A server-reflexive or peer-reflexive address equal to its base:
		// no NAT in between, so this is the host-to-host path.
		remote = webrtc.ICECandidateTypeHost
	}
	return pairType(pair.Local.Typ, remote)
}

// untranslated reports whether c is a reflexive candidate whose address is
// its base address (the peer is not behind a NAT).
func untranslated(c *webrtc.ICECandidate) bool {
	return (c.Typ == webrtc.ICECandidateTypeSrflx || c.Typ == webrtc.ICECandidateTypePrflx) &&
		c.RelatedAddress != "" && c.Address == c.RelatedAddress && c.Port == c.RelatedPort
}

func pairType(local, remote webrtc.ICECandidateType) string {
	if local == webrtc.ICECandidateTypeRelay || remote == webrtc.ICECandidateTypeRelay {
		return webrtc.ICECandidateTypeRelay.String()
	}
	if remote == webrtc.ICECandidateTypeUnknown {
		return ""
	}
	return remote.String()
}

// Send sends data as one message on the data channel to the participant.
// It returns ErrDataChannelNotOpen until the channel is open.
func (p *Peer) Send(data []byte) error {
	p.mu.Lock()
	dc, closed := p.dc, p.closed
	p.mu.Unlock()
	if closed {
		return ErrPeerClosed
	}
	if dc.ReadyState() != webrtc.DataChannelStateOpen {
		return ErrDataChannelNotOpen
	}
	return dc.Send(data)
}
