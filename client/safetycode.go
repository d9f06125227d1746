package client

import (
	"github.com/pion/webrtc/v4"

	"github.com/peercall/peercall/protocol"
)

// SafetyCode returns the code that verifies the connection to the
// participant is end-to-end encrypted with nobody in the middle: both ends of
// an untampered connection show the same four groups of five digits
// (docs/security.md). It is derived from this side's DTLS certificate and
// the one the peer actually presented in the handshake. It returns "" until
// the DTLS handshake is done.
func (p *Peer) SafetyCode() string { return safetyCode(p.PeerConnection()) }

func safetyCode(pc *webrtc.PeerConnection) string {
	local, remote := fingerprints(pc)
	if local == "" || remote == "" {
		return ""
	}
	return protocol.SafetyCode(local, remote)
}

// fingerprints returns the SHA-256 fingerprints of the local certificate and
// of the remote certificate of pc's DTLS transport.
func fingerprints(pc *webrtc.PeerConnection) (local, remote string) {
	if pc == nil || pc.SCTP() == nil {
		return "", ""
	}
	dtls := pc.SCTP().Transport()
	if dtls == nil || dtls.State() != webrtc.DTLSTransportStateConnected {
		return "", ""
	}
	der := dtls.GetRemoteCertificate()
	params, err := dtls.GetLocalParameters()
	if len(der) == 0 || err != nil {
		return "", ""
	}
	for _, f := range params.Fingerprints {
		if f.Algorithm == "sha-256" {
			return protocol.NormalizeFingerprint(f.Value), protocol.CertificateFingerprint(der)
		}
	}
	return "", ""
}
