package client

import (
	"time"

	"github.com/pion/webrtc/v4"
)

// ICE restarts. A path that breaks (a link cut, a network change) shows as
// ICE "disconnected": media stops but pion keeps checking. If the path does
// not come back within RestartGrace, the SDK restarts ICE with a new offer
// (new credentials, new candidates), without leaving the room; on "failed"
// it restarts at once. The impolite side acts first; the polite side
// follows after twice the grace if nothing recovered, and perfect
// negotiation settles the glare if both offer.

// DefaultRestartGrace is how long a peer connection may stay disconnected
// before the SDK restarts ICE (browsers wait about 30 s for "failed").
const DefaultRestartGrace = 2 * time.Second

// onICEState handles a change of pc's ICE connection state (run goroutine).
func (p *Peer) onICEState(pc *webrtc.PeerConnection, st webrtc.ICEConnectionState) {
	if pc != p.PeerConnection() {
		return
	}
	switch st {
	case webrtc.ICEConnectionStateDisconnected:
		if p.env.probeSignaling != nil {
			// The restart needs signaling, which the same network change
			// may have broken.
			p.env.probeSignaling()
		}
		grace := p.env.restartGrace
		if grace < 0 {
			return
		}
		if grace == 0 {
			grace = DefaultRestartGrace
		}
		if p.polite {
			grace *= 2
		}
		p.stopRestartTimer()
		p.restartTimer = time.AfterFunc(grace, func() {
			p.inbox.push(peerEvent{kind: evRestartDue, pc: pc})
		})
	case webrtc.ICEConnectionStateFailed:
		p.stopRestartTimer()
		if p.env.restartGrace < 0 {
			return
		}
		p.log.Info("ICE failed; restarting")
		p.makeOffer(pc, true)
	case webrtc.ICEConnectionStateConnected, webrtc.ICEConnectionStateCompleted, webrtc.ICEConnectionStateClosed:
		p.stopRestartTimer()
	}
}

// onRestartDue restarts ICE if pc is still broken when the grace ends.
func (p *Peer) onRestartDue(pc *webrtc.PeerConnection) {
	p.restartTimer = nil
	if pc != p.PeerConnection() {
		return
	}
	switch pc.ICEConnectionState() {
	case webrtc.ICEConnectionStateDisconnected, webrtc.ICEConnectionStateFailed:
		p.log.Info("ICE disconnected for the grace period; restarting")
		p.makeOffer(pc, true)
	}
}

func (p *Peer) stopRestartTimer() {
	if p.restartTimer != nil {
		p.restartTimer.Stop()
		p.restartTimer = nil
	}
}
