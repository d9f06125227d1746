package joincmd

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/peercall/peercall/client"
)

// tracker collects what happens to each remote peer. The client calls it
// from several goroutines: signaling callbacks, and one reader goroutine per
// remote track.
type tracker struct {
	start time.Time // when joining began; times are measured from here

	// changed gets a token when a peer delivers its first packet of a
	// kind, says it gets our media, or leaves, so the run loop re-checks
	// --expect-peers.
	changed chan struct{}
	// readers counts running track readers, to wait for them at exit.
	readers sync.WaitGroup
	// log prints progress events (--verbose); nil prints nothing.
	log *eventLog

	mu    sync.Mutex // guards the following fields
	peers map[string]*peerStats
	order []*peerStats // first seen first
}

func newTracker(start time.Time) *tracker {
	return &tracker{
		start:   start,
		changed: make(chan struct{}, 1),
		peers:   make(map[string]*peerStats),
	}
}

// peerStats is one remote peer. Counters are atomics because track readers
// update them without the lock.
type peerStats struct {
	id    string
	video kindStats
	audio kindStats
	// firstMedia and lastMedia are times since tracker.start, -1 until
	// the first packet.
	firstMedia atomic.Int64
	lastMedia  atomic.Int64

	mu            sync.Mutex // guards the following fields
	peer          *client.Peer
	name          string
	iceConnected  time.Duration // -1 until connected
	candidateType string
	safetyCode    string
	left          bool
	leftReason    string
	// ackSent is set once we told the peer we get its audio and video;
	// gotOurs once the peer (another peercall join) told us the same.
	ackSent bool
	gotOurs bool
}

type kindStats struct {
	packets atomic.Uint64
	bytes   atomic.Uint64
	first   atomic.Int64 // time since tracker.start; -1 until the first packet
	last    atomic.Int64 // time of the latest packet; 0 until the first
	maxGap  atomic.Int64 // longest interval between two packets

	// RTP sequence numbers, for loss: the first and the highest seen,
	// extended past 16-bit wrap-around. Only the track's reader writes them.
	seqFirst, seqMax atomic.Int64
	seqSeen          atomic.Bool
}

// sequence records an RTP sequence number.
func (k *kindStats) sequence(seq uint16) {
	if !k.seqSeen.Load() {
		k.seqFirst.Store(int64(seq))
		k.seqMax.Store(int64(seq))
		k.seqSeen.Store(true)
		return
	}
	max := k.seqMax.Load()
	// The extended number nearest to max with these low 16 bits.
	ext := max&^0xffff | int64(seq)
	if ext < max-0x8000 {
		ext += 0x10000
	} else if ext > max+0x8000 {
		ext -= 0x10000
	}
	if ext > max {
		k.seqMax.Store(ext)
	}
}

// lossPercent estimates the share of packets lost: expected from the
// sequence numbers against those received. -1 before any packet.
func (k *kindStats) lossPercent() float64 {
	if !k.seqSeen.Load() {
		return -1
	}
	expected := k.seqMax.Load() - k.seqFirst.Load() + 1
	got := int64(k.packets.Load())
	if expected <= 0 || got >= expected {
		return 0
	}
	return 100 * float64(expected-got) / float64(expected)
}

// packetAt records a packet at now (time since tracker.start).
func (k *kindStats) packetAt(now int64) {
	if prev := k.last.Swap(now); prev > 0 {
		gap := now - prev
		for {
			cur := k.maxGap.Load()
			if gap <= cur || k.maxGap.CompareAndSwap(cur, gap) {
				break
			}
		}
	}
}

func newPeerStats(id string) *peerStats {
	p := &peerStats{id: id, iceConnected: -1}
	p.firstMedia.Store(-1)
	p.lastMedia.Store(-1)
	p.video.first.Store(-1)
	p.audio.first.Store(-1)
	return p
}

func (t *tracker) since() time.Duration { return time.Since(t.start) }

func (t *tracker) poke() {
	select {
	case t.changed <- struct{}{}:
	default:
	}
}

// get returns the stats of p, creating them on first sight: callbacks may
// arrive in any order.
func (t *tracker) get(p *client.Peer) *peerStats {
	id := p.ID()
	t.mu.Lock()
	s, ok := t.peers[id]
	if !ok {
		s = newPeerStats(id)
		t.peers[id] = s
		t.order = append(t.order, s)
	}
	t.mu.Unlock()
	s.mu.Lock()
	s.peer = p
	if n := p.Name(); n != "" {
		s.name = n
	}
	s.mu.Unlock()
	return s
}

func (t *tracker) all() []*peerStats {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]*peerStats(nil), t.order...)
}

func (t *tracker) onPeerJoined(p *client.Peer) {
	t.get(p)
	t.log.printf(t.since(), "%s joined", peerLabel(p))
}

func (t *tracker) onPeerUpdated(p *client.Peer) { t.get(p) }

func peerLabel(p *client.Peer) string {
	return fmt.Sprintf("%q (%s)", p.Name(), p.ID())
}

func (t *tracker) onPeerLeft(p *client.Peer, reason string) {
	s := t.get(p)
	ct, code := p.SelectedCandidateType(), p.SafetyCode()
	s.mu.Lock()
	s.left, s.leftReason = true, reason
	if ct != "" {
		s.candidateType = ct
	}
	if code != "" {
		s.safetyCode = code
	}
	s.mu.Unlock()
	t.log.printf(t.since(), "%s left: %s", peerLabel(p), reason)
	t.poke()
}

func (t *tracker) onConnectionState(p *client.Peer, st webrtc.PeerConnectionState) {
	s := t.get(p)
	var ct, code string
	if st == webrtc.PeerConnectionStateConnected {
		// Connected means DTLS is up: the safety code is known. Take it
		// now; after the peer leaves its connection is gone.
		ct, code = p.SelectedCandidateType(), p.SafetyCode()
	}
	now := t.since()
	s.mu.Lock()
	if st == webrtc.PeerConnectionStateConnected && s.iceConnected < 0 {
		s.iceConnected = now
	}
	if ct != "" {
		s.candidateType = ct
	}
	if code != "" {
		s.safetyCode = code
	}
	s.mu.Unlock()
	if ct != "" {
		t.log.printf(now, "%s %s via %s", peerLabel(p), st, ct)
	} else {
		t.log.printf(now, "%s %s", peerLabel(p), st)
	}
}

// onTrack counts the packets of track in a goroutine of its own, until the
// track ends.
func (t *tracker) onTrack(p *client.Peer, track *webrtc.TrackRemote) {
	s := t.get(p)
	k, kind := &s.audio, "audio"
	if track.Kind() == webrtc.RTPCodecTypeVideo {
		k, kind = &s.video, "video"
	}
	label := peerLabel(p)
	t.log.printf(t.since(), "%s sends %s track (%s)", label, kind, track.Codec().MimeType)
	t.readers.Add(1)
	go func() {
		defer t.readers.Done()
		buf := make([]byte, 1500)
		for {
			n, _, err := track.Read(buf)
			if err != nil {
				return
			}
			now := int64(t.since())
			if n >= 4 {
				k.sequence(binary.BigEndian.Uint16(buf[2:4]))
			}
			k.packets.Add(1)
			k.bytes.Add(uint64(n))
			k.packetAt(now)
			s.lastMedia.Store(now)
			s.firstMedia.CompareAndSwap(-1, now)
			if k.first.CompareAndSwap(-1, now) {
				t.log.printf(time.Duration(now), "%s first %s packet", label, kind)
				t.poke()
			}
		}
	}()
}

// ackMessage is what one peercall join tells another on the data channel
// once it receives both audio and video from it, so both can stop early
// (--expect-peers without --duration) knowing the other got its media too.
// Browsers ignore it: the web app reads only chat and data messages.
var ackMessage = []byte(`{"type":"peercall_join_got_media"}`)

func isAck(data []byte) bool {
	var m struct {
		Type string `json:"type"`
	}
	return json.Unmarshal(data, &m) == nil && m.Type == "peercall_join_got_media"
}

func (t *tracker) onData(p *client.Peer, data []byte) {
	if !isAck(data) {
		return
	}
	s := t.get(p)
	s.mu.Lock()
	s.gotOurs = true
	s.mu.Unlock()
	t.log.printf(t.since(), "%s gets our audio and video", peerLabel(p))
	t.poke()
}

// sendAcks tells every peer that delivered audio and video, once. A peer
// whose data channel is not open yet is tried again on the next call.
func (t *tracker) sendAcks() {
	for _, s := range t.all() {
		if !s.delivered() {
			continue
		}
		s.mu.Lock()
		p, skip := s.peer, s.ackSent || s.left
		s.mu.Unlock()
		if skip || p == nil || p.Send(ackMessage) != nil {
			continue
		}
		s.mu.Lock()
		s.ackSent = true
		s.mu.Unlock()
	}
}

// progress counts the peers that delivered audio and video, and of those
// the ones that are done with us: they said they got our media too, or
// left.
func (t *tracker) progress() (delivered, done int) {
	for _, s := range t.all() {
		if !s.delivered() {
			continue
		}
		delivered++
		s.mu.Lock()
		if s.gotOurs || s.left {
			done++
		}
		s.mu.Unlock()
	}
	return delivered, done
}

// delivered reports whether the peer has sent both audio and video.
func (s *peerStats) delivered() bool {
	return s.video.packets.Load() > 0 && s.audio.packets.Load() > 0
}

// refreshCandidateType asks the peer connection which pair it uses now, for
// peers still in the room.
func (s *peerStats) refreshCandidateType() {
	s.mu.Lock()
	p, left := s.peer, s.left
	s.mu.Unlock()
	if p == nil || left {
		return
	}
	ct, code := p.SelectedCandidateType(), p.SafetyCode()
	s.mu.Lock()
	if ct != "" {
		s.candidateType = ct
	}
	if code != "" {
		s.safetyCode = code
	}
	s.mu.Unlock()
}
