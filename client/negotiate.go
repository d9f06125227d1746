package client

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/peercall/peercall/protocol"
)

// Perfect negotiation (https://w3c.github.io/webrtc-pc/#perfect-negotiation-example),
// run by one goroutine per peer. Because every offer, answer, rollback and
// remote candidate for a peer is handled here one at a time, "making an
// offer" is never in flight while a remote description is processed: an
// offer collides exactly when the signaling state is not stable.

type peerEventKind int

const (
	evRemote            peerEventKind = iota // a relay frame from the peer
	evNegotiate                              // make an offer (restart: with ICE restart)
	evNegotiationNeeded                      // pion's negotiationneeded, for pc
	evLocalCandidate                         // a local candidate of pc to trickle
	evFirstOfferDue                          // make the first offer unless the remote did
	evICEState                               // pc's ICE connection state changed to ice
	evRestartDue                             // the restart grace for pc ended
	evResync                                 // signaling resumed: resend or restart what may be lost
	evOfferDue                               // our offer on pc has had no answer for offerRetry
)

// offerRetry is how long an offer may go unanswered before it is sent
// again. Signaling is reliable while the connection lives, but an offer
// written to a socket that just died is lost, and a peer whose own offer was
// lost that way ignores ours (as the impolite side must): resending breaks
// that tie.
const offerRetry = 5 * time.Second

type peerEvent struct {
	kind    peerEventKind
	typ     string // evRemote
	payload []byte // evRemote
	restart bool   // evNegotiate
	pc      *webrtc.PeerConnection
	cand    webrtc.ICECandidateInit
	ice     webrtc.ICEConnectionState // evICEState
}

func (p *Peer) handle(ev peerEvent) {
	pc := p.PeerConnection()
	switch ev.kind {
	case evRemote:
		p.handleRemote(pc, ev.typ, ev.payload)
	case evNegotiate:
		p.makeOffer(pc, ev.restart)
	case evNegotiationNeeded:
		if ev.pc != pc {
			return // for a replaced PeerConnection
		}
		if pc.CurrentLocalDescription() == nil && !p.initiator {
			return // the other side makes the first offer
		}
		if needsNegotiation(pc) {
			p.makeOffer(pc, false)
		}
	case evFirstOfferDue:
		if pc.LocalDescription() == nil && pc.RemoteDescription() == nil {
			if !p.initiator {
				p.log.Debug("no offer from the peer yet; offering")
			}
			p.makeOffer(pc, false)
		}
	case evICEState:
		p.onICEState(ev.pc, ev.ice)
	case evRestartDue:
		p.onRestartDue(ev.pc)
	case evResync:
		p.resync(pc)
	case evOfferDue:
		if ev.pc == pc && pc.SignalingState() == webrtc.SignalingStateHaveLocalOffer {
			if ld := pc.LocalDescription(); ld != nil {
				p.log.Info("offer unanswered; sending it again")
				p.sendDescription(*ld)
			}
		}
	case evLocalCandidate:
		if ev.pc != pc {
			return
		}
		b, err := json.Marshal(ev.cand)
		if err != nil {
			p.log.Warn("encode candidate", "err", err)
			return
		}
		p.env.signal(p.id, protocol.TypeCandidate, b)
	}
	if p.restartPending {
		p.makeOffer(p.PeerConnection(), true)
	}
}

// needsNegotiation approximates pion's (unexported) negotiation-needed check
// for the changes this SDK makes: it filters negotiationneeded events that
// were queued before a negotiation that already covered them.
func needsNegotiation(pc *webrtc.PeerConnection) bool {
	if pc.SignalingState() != webrtc.SignalingStateStable {
		return false // pion fires again when stable
	}
	local := pc.CurrentLocalDescription()
	if local == nil {
		return true
	}
	for _, t := range pc.GetTransceivers() {
		if t.Mid() == "" {
			return true
		}
	}
	parsed, err := local.Unmarshal()
	if err != nil {
		return true
	}
	for _, m := range parsed.MediaDescriptions {
		if m.MediaName.Media == "application" {
			return false
		}
	}
	return true
}

// makeOffer creates an offer and sends it, if the signaling state allows;
// an ICE restart that cannot start now is kept pending until it can.
func (p *Peer) makeOffer(pc *webrtc.PeerConnection, restart bool) {
	if pc.SignalingState() != webrtc.SignalingStateStable {
		if restart {
			p.restartPending = true
		}
		return
	}
	if restart {
		p.restartPending = false
		if p.env.refreshInterfaces != nil {
			// The network may have changed (a new address): gather on
			// what the interfaces have now, not on what they had.
			p.env.refreshInterfaces()
		}
	}
	offer, err := pc.CreateOffer(&webrtc.OfferOptions{ICERestart: restart})
	if err != nil {
		p.log.Warn("create offer", "err", err)
		return
	}
	if err := pc.SetLocalDescription(offer); err != nil {
		p.log.Warn("set local offer", "err", err)
		return
	}
	p.sendDescription(offer)
}

// resync runs after the signaling connection was resumed: an offer sent
// while the old connection was dying may never have arrived, so a pending
// one is sent again (the answer settles it; a duplicate is harmless to the
// peer's perfect negotiation), and a broken connection is restarted.
func (p *Peer) resync(pc *webrtc.PeerConnection) {
	// The session may have resumed on another server (a cluster node that
	// stopped or died), whose TURN server is another: future gathering
	// must use it, and a call relayed through the old one moves now rather
	// than after the old relay's silence is noticed (5 s of ICE consent,
	// then the restart grace), or never, if ICE restarted against the old
	// server.
	if moved := p.updateICEServers(pc); moved && relayed(pc) {
		p.log.Info("resumed with other TURN servers while relayed; restarting ICE")
		p.makeOffer(pc, true)
		return
	}
	if pc.SignalingState() == webrtc.SignalingStateHaveLocalOffer {
		if ld := pc.LocalDescription(); ld != nil {
			p.log.Info("resending the pending offer after resuming")
			p.sendDescription(*ld)
		}
		return
	}
	switch pc.ICEConnectionState() {
	case webrtc.ICEConnectionStateDisconnected, webrtc.ICEConnectionStateFailed, webrtc.ICEConnectionStateChecking:
		p.makeOffer(pc, true)
	}
}

func (p *Peer) sendDescription(sd webrtc.SessionDescription) {
	b, err := json.Marshal(sd)
	if err != nil {
		p.log.Warn("encode description", "err", err)
		return
	}
	p.env.signal(p.id, sd.Type.String(), b)
	if sd.Type == webrtc.SDPTypeOffer {
		p.armOfferRetry()
	}
}

// armOfferRetry (re)starts the timer that resends an unanswered offer.
func (p *Peer) armOfferRetry() {
	pc := p.PeerConnection()
	if p.offerTimer != nil {
		p.offerTimer.Stop()
	}
	p.offerTimer = time.AfterFunc(offerRetry, func() {
		p.inbox.push(peerEvent{kind: evOfferDue, pc: pc})
	})
}

func (p *Peer) handleRemote(pc *webrtc.PeerConnection, typ string, payload []byte) {
	switch typ {
	case protocol.TypeOffer, protocol.TypeAnswer:
		var sd webrtc.SessionDescription
		if err := json.Unmarshal(payload, &sd); err != nil || sd.Type.String() != typ {
			p.log.Warn("bad description from peer", "type", typ, "err", err)
			return
		}
		state := pc.SignalingState()
		offerCollision := sd.Type == webrtc.SDPTypeOffer && state != webrtc.SignalingStateStable
		p.ignoreOffer = !p.polite && offerCollision
		if p.ignoreOffer {
			p.log.Debug("ignoring colliding offer (impolite)")
			return
		}
		if sd.Type == webrtc.SDPTypeAnswer && state != webrtc.SignalingStateHaveLocalOffer {
			p.log.Debug("ignoring answer in state " + state.String())
			return
		}
		if offerCollision {
			p.log.Debug("offer collision: polite side yields")
			if pc.CurrentRemoteDescription() == nil {
				// Nothing negotiated yet. pion's rollback keeps the media
				// IDs the discarded offer assigned, which can clash with
				// the remote offer's, so start over instead.
				if pc = p.replacePeerConnection(); pc == nil {
					return
				}
			} else if err := yieldOffer(pc); err != nil {
				p.log.Warn("rollback", "err", err)
				return
			}
		}
		if err := pc.SetRemoteDescription(sd); err != nil {
			p.log.Warn("set remote "+typ, "err", err)
			return
		}
		if sd.Type != webrtc.SDPTypeOffer {
			return
		}
		answer, err := pc.CreateAnswer(nil)
		if err != nil {
			p.log.Warn("create answer", "err", err)
			return
		}
		if err := pc.SetLocalDescription(answer); err != nil {
			p.log.Warn("set local answer", "err", err)
			return
		}
		p.sendDescription(answer)
	case protocol.TypeCandidate:
		var c webrtc.ICECandidateInit
		if err := json.Unmarshal(payload, &c); err != nil {
			p.log.Warn("bad candidate from peer", "err", err)
			return
		}
		if err := pc.AddICECandidate(c); err != nil && !p.ignoreOffer {
			p.log.Warn("add remote candidate", "err", err)
		}
	default:
		p.log.Warn("unexpected relay frame", "type", typ)
	}
}

// replacePeerConnection swaps in a fresh PeerConnection and closes the old
// one. It returns nil if the peer closed meanwhile.
func (p *Peer) replacePeerConnection() *webrtc.PeerConnection {
	pc, dc, fdc, err := p.newPeerConnection()
	if err != nil {
		p.log.Warn("create peer connection", "err", err)
		return nil
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		_ = pc.Close()
		return nil
	}
	old := p.pc
	p.pc, p.dc, p.fileDC = pc, dc, fdc
	p.mu.Unlock()
	_ = old.Close()
	return pc
}

// yieldOffer takes pc out of have-local-offer so that a colliding remote
// offer can be applied: the polite side's "rollback". pion v4.2 implements
// rollback only as an error (it refuses have-local-offer -> stable), so if a
// real rollback fails, the pending offer is completed with the remote's
// current description as the answer: "the remote accepted and changed
// nothing". That keeps the ICE credentials, fingerprint and codecs already
// in use; media sections the discarded offer added stay unanswered and are
// offered again once the remote's offer is answered (negotiationneeded).
func yieldOffer(pc *webrtc.PeerConnection) error {
	rb := webrtc.SessionDescription{Type: webrtc.SDPTypeRollback}
	if pending := pc.PendingLocalDescription(); pending != nil {
		rb.SDP = pending.SDP // pion refuses a rollback without SDP
	}
	if err := pc.SetLocalDescription(rb); err == nil {
		return nil
	}
	prev := pc.CurrentRemoteDescription()
	if prev == nil {
		return errors.New("nothing negotiated to fall back to")
	}
	return pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: prev.SDP})
}

// updateICEServers gives pc the session's current ICE servers, for its next
// gathering (an ICE restart). It reports whether the TURN servers changed.
func (p *Peer) updateICEServers(pc *webrtc.PeerConnection) (turnMoved bool) {
	cfg := pc.GetConfiguration()
	next := p.env.rtc().ICEServers
	turnMoved = !slices.Equal(turnURLs(cfg.ICEServers), turnURLs(next))
	cfg.ICEServers = next
	if err := pc.SetConfiguration(cfg); err != nil {
		p.log.Warn("update ICE servers", "err", err)
		return false
	}
	return turnMoved
}

// turnURLs lists the TURN URLs of servers, sorted.
func turnURLs(servers []webrtc.ICEServer) []string {
	var out []string
	for _, s := range servers {
		for _, u := range s.URLs {
			if strings.HasPrefix(u, "turn:") || strings.HasPrefix(u, "turns:") {
				out = append(out, u)
			}
		}
	}
	slices.Sort(out)
	return out
}

// relayed reports whether pc's media goes through a TURN relay of ours.
func relayed(pc *webrtc.PeerConnection) bool {
	sctp := pc.SCTP()
	if sctp == nil || sctp.Transport() == nil || sctp.Transport().ICETransport() == nil {
		return false
	}
	pair, err := sctp.Transport().ICETransport().GetSelectedCandidatePair()
	return err == nil && pair != nil && pair.Local != nil && pair.Local.Typ == webrtc.ICECandidateTypeRelay
}
