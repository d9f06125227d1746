package joincmd

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// Report is what --json prints: one object on stdout at exit.
type Report struct {
	// ParticipantID is the ID the server gave this participant; empty if
	// joining failed.
	ParticipantID string       `json:"participant_id"`
	Room          string       `json:"room"`
	Peers         []PeerReport `json:"peers"`
	// OK is true when the exit status is 0.
	OK bool `json:"ok"`
	// Errors are the reasons for a non-zero exit status and other
	// problems met on the way; never null.
	Errors []string `json:"errors"`
}

// PeerReport is one remote participant, including those that left.
type PeerReport struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// ICEConnectedMS is when the peer connection first reached
	// "connected" (ICE and DTLS done), in ms since joining began; null if
	// it never did.
	ICEConnectedMS *int64 `json:"ice_connected_ms"`
	// FirstMediaMS is when the first RTP packet of any kind arrived, in ms
	// since joining began; null if none did.
	FirstMediaMS *int64 `json:"first_media_ms"`
	// CandidateType describes the selected ICE candidate pair, as
	// client.Peer.SelectedCandidateType does: "relay" if either side is a
	// TURN relay candidate, otherwise the remote candidate's type ("host",
	// "srflx", "prflx"); empty if no pair was ever selected.
	CandidateType string      `json:"candidate_type"`
	Video         MediaReport `json:"video"`
	Audio         MediaReport `json:"audio"`
	// LastMediaAgeMS is how long before the report the last RTP packet
	// arrived; null if none did.
	LastMediaAgeMS *int64 `json:"last_media_age_ms"`
	// GotOurMedia is true if the peer, another peercall join, said it
	// receives our audio and video. Browsers do not say.
	GotOurMedia bool `json:"got_our_media,omitempty"`
	// Left is true if the peer left before the end; LeftReason says why
	// (protocol.LeftReason*).
	Left       bool   `json:"left,omitempty"`
	LeftReason string `json:"left_reason,omitempty"`
	// SafetyCode verifies the call is end-to-end encrypted with nobody in
	// the middle: both ends show the same code (docs/security.md).
	SafetyCode string `json:"safety_code,omitempty"`
}

// MediaReport counts the RTP packets of one kind from a peer. Bytes are
// whole RTP packets after SRTP decryption, headers included.
type MediaReport struct {
	Packets uint64 `json:"packets"`
	Bytes   uint64 `json:"bytes"`
	// FirstMS is when the first packet of this kind arrived, in ms since
	// joining began; null if none did.
	FirstMS *int64 `json:"first_ms"`
	// MaxGapMS is the longest interval between two packets of this kind,
	// in ms: how long media stopped at worst (a link cut, a network change).
	// Media that stopped for good shows in the peer's last_media_age_ms.
	MaxGapMS int64 `json:"max_gap_ms"`
	// LossPct is the share of packets lost, in percent, estimated from the
	// RTP sequence numbers; null if none arrived.
	LossPct *float64 `json:"loss_pct"`
}

// peerReports turns the tracker's state into reports, at elapsed time now
// since joining began.
func (t *tracker) peerReports(now time.Duration) []PeerReport {
	out := []PeerReport{}
	for _, s := range t.all() {
		s.mu.Lock()
		r := PeerReport{
			ID:            s.id,
			Name:          s.name,
			CandidateType: s.candidateType,
			SafetyCode:    s.safetyCode,
			Left:          s.left,
			LeftReason:    s.leftReason,
			GotOurMedia:   s.gotOurs,
		}
		if s.iceConnected >= 0 {
			r.ICEConnectedMS = ms(s.iceConnected)
		}
		s.mu.Unlock()
		if d := s.firstMedia.Load(); d >= 0 {
			r.FirstMediaMS = ms(time.Duration(d))
		}
		if d := s.lastMedia.Load(); d >= 0 {
			r.LastMediaAgeMS = ms(max(now-time.Duration(d), 0))
		}
		r.Video = s.video.report()
		r.Audio = s.audio.report()
		out = append(out, r)
	}
	return out
}

func (k *kindStats) report() MediaReport {
	r := MediaReport{Packets: k.packets.Load(), Bytes: k.bytes.Load(), MaxGapMS: time.Duration(k.maxGap.Load()).Milliseconds()}
	if loss := k.lossPercent(); loss >= 0 {
		loss = float64(int(loss*100+0.5)) / 100
		r.LossPct = &loss
	}
	if d := k.first.Load(); d >= 0 {
		r.FirstMS = ms(time.Duration(d))
	}
	return r
}

func ms(d time.Duration) *int64 {
	v := d.Milliseconds()
	return &v
}

// missingMedia explains, for an unmet --expect-peers n, which peers did not
// deliver what: "got media from 1 of 2 expected peers (missing: bob video)".
// It returns "" when n peers delivered audio and video.
func missingMedia(peers []PeerReport, n int) string {
	got := 0
	var missing []string
	for _, p := range peers {
		var kinds []string
		if p.Video.Packets == 0 {
			kinds = append(kinds, "video")
		}
		if p.Audio.Packets == 0 {
			kinds = append(kinds, "audio")
		}
		if len(kinds) == 0 {
			got++
			continue
		}
		name := p.Name
		if name == "" {
			name = p.ID
		}
		missing = append(missing, name+" "+strings.Join(kinds, "+"))
	}
	if got >= n {
		return ""
	}
	if len(peers) < n {
		missing = append(missing, fmt.Sprintf("%d never joined", n-len(peers)))
	}
	return fmt.Sprintf("got media from %d of %d expected peers (missing: %s)", got, n, strings.Join(missing, ", "))
}

func writeJSON(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(r)
}

// writeSummary prints the report for people.
func writeSummary(w io.Writer, r *Report) {
	if r.ParticipantID == "" {
		fmt.Fprintf(w, "did not join room %q\n", r.Room)
		return
	}
	fmt.Fprintf(w, "joined room %q as participant %s; %d peer(s)\n", r.Room, r.ParticipantID, len(r.Peers))
	for _, p := range r.Peers {
		name := p.Name
		if name == "" {
			name = "(no name)"
		}
		fmt.Fprintf(w, "  %s (%s)", name, p.ID)
		if p.Left {
			fmt.Fprintf(w, " left: %s;", p.LeftReason)
		}
		if p.ICEConnectedMS != nil {
			fmt.Fprintf(w, " connected at %d ms", *p.ICEConnectedMS)
			if p.CandidateType != "" {
				fmt.Fprintf(w, " via %s", p.CandidateType)
			}
		} else {
			fmt.Fprint(w, " never connected")
		}
		if p.FirstMediaMS != nil {
			fmt.Fprintf(w, ", first media at %d ms", *p.FirstMediaMS)
		}
		fmt.Fprintf(w, "; video %d packets %s, audio %d packets %s",
			p.Video.Packets, kb(p.Video.Bytes), p.Audio.Packets, kb(p.Audio.Bytes))
		if p.LastMediaAgeMS != nil {
			fmt.Fprintf(w, "; last media %d ms ago", *p.LastMediaAgeMS)
		}
		fmt.Fprintln(w)
	}
}

func kb(n uint64) string {
	if n < 10<<10 {
		return fmt.Sprintf("%d B", n)
	}
	return fmt.Sprintf("%d KiB", n>>10)
}
