package room

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/peercall/peercall/protocol"
)

// LocalOptions configure the in-memory backend. Zero values mean defaults.
type LocalOptions struct {
	// MaxParticipants per room. Default 6.
	MaxParticipants int
	// MaxRooms and MaxTotalParticipants bound the whole server. Default
	// 20000 and 50000; negative means unlimited.
	MaxRooms             int
	MaxTotalParticipants int
	// OpenRooms makes the first joiner of a room its host, and the oldest
	// member host when no host is left (open mode). Without it only
	// JoinRequest.Host grants hosting (token mode).
	OpenRooms bool
	// Grace is how long a dropped participant is kept for a resume before
	// it is announced as left. Default 25s.
	Grace time.Duration
	// SessionSecret signs resume tokens. Give restarted servers (and,
	// later, cluster nodes) the same secret so clients keep their
	// identity across them. Default: random.
	SessionSecret []byte
	// MaxHeldFrames bounds the frames held for a detached participant;
	// beyond it the oldest are dropped (the client resyncs from the
	// participant list when it resumes). Default 256.
	MaxHeldFrames int
	// MaxLobby bounds the participants waiting in one room's lobby.
	// Default 20.
	MaxLobby int
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Local is the in-memory Backend of a single node.
//
// Lock order: Local.mu, then localRoom.mu. Sinks are called with a room lock
// held; they only enqueue.
type Local struct {
	opts   LocalOptions
	resume resumeSigner

	mu           sync.Mutex // guards rooms and participants
	rooms        map[string]*localRoom
	participants int // members and lobby waiters of all rooms
}

// NewLocal returns an in-memory backend.
func NewLocal(opts LocalOptions) *Local {
	if opts.MaxParticipants == 0 {
		opts.MaxParticipants = 6
	}
	if opts.MaxRooms == 0 {
		opts.MaxRooms = 20000
	}
	if opts.MaxTotalParticipants == 0 {
		opts.MaxTotalParticipants = 50000
	}
	if opts.Grace == 0 {
		opts.Grace = 25 * time.Second
	}
	if len(opts.SessionSecret) == 0 {
		opts.SessionSecret = []byte(rand.Text() + rand.Text())
	}
	if opts.MaxHeldFrames == 0 {
		opts.MaxHeldFrames = 256
	}
	if opts.MaxLobby == 0 {
		opts.MaxLobby = 20
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Local{
		opts:   opts,
		resume: resumeSigner{key: opts.SessionSecret, ttl: 24 * time.Hour},
		rooms:  map[string]*localRoom{},
	}
}

type localRoom struct {
	name string

	mu      sync.Mutex // guards the fields below and every member's mutable fields
	members []*member  // oldest first
	lobby   []*member  // waiting for a host, oldest first
	locked  bool
	removed map[string]bool // IDs removed by a host: no resuming
}

// member is a participant. Its fields after room are guarded by room.mu.
type member struct {
	room *localRoom

	info    protocol.Participant
	sink    Sink   // nil while detached
	gen     uint64 // increases at each attachment; stale attachments are inert
	held    [][]byte
	grace   *time.Timer
	left    bool
	waiting bool // in the lobby
	welcome Welcome
}

// deliverLocked sends a frame to m, or holds it while m is detached.
func (m *member) deliverLocked(frame []byte, max int) {
	if m.sink != nil {
		m.sink.Send(frame)
		return
	}
	if len(m.held) >= max {
		m.held = slices.Delete(m.held, 0, 1)
	}
	m.held = append(m.held, frame)
}

// broadcastLocked delivers frame to every member but except.
func (l *Local) broadcastLocked(r *localRoom, except *member, frame []byte) {
	for _, o := range r.members {
		if o != except {
			o.deliverLocked(frame, l.opts.MaxHeldFrames)
		}
	}
}

// hostsLocked delivers frame to every host member.
func (l *Local) hostsLocked(r *localRoom, frame []byte) {
	for _, o := range r.members {
		if o.info.Host {
			o.deliverLocked(frame, l.opts.MaxHeldFrames)
		}
	}
}

// Join implements Backend.
func (l *Local) Join(_ context.Context, req JoinRequest) (Session, error) {
	now := l.opts.Now()
	resumeID := ""
	if req.ResumeToken != "" {
		resumeID, _ = l.resume.verify(req.ResumeToken, req.Room, now)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.rooms[req.Room]
	if r == nil {
		if l.opts.MaxRooms > 0 && len(l.rooms) >= l.opts.MaxRooms {
			return nil, fmt.Errorf("%w: %d rooms", ErrServerFull, len(l.rooms))
		}
		r = &localRoom{name: req.Room, removed: map[string]bool{}}
		l.rooms[req.Room] = r
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.removed[resumeID] {
		resumeID = ""
	}
	if resumeID != "" {
		if i := slices.IndexFunc(r.members, func(o *member) bool { return o.info.ID == resumeID }); i >= 0 {
			return l.reattachLocked(r.members[i], req), nil
		}
	}
	waiting := r.locked && resumeID == "" && !req.Host
	switch {
	case waiting && len(r.lobby) >= l.opts.MaxLobby:
		return nil, fmt.Errorf("%w (lobby of %d)", ErrRoomFull, len(r.lobby))
	case !waiting && len(r.members) >= l.opts.MaxParticipants:
		return nil, fmt.Errorf("%w (%d of %d)", ErrRoomFull, len(r.members), l.opts.MaxParticipants)
	}
	if l.opts.MaxTotalParticipants > 0 && l.participants >= l.opts.MaxTotalParticipants {
		l.deleteIfEmptyLocked(r)
		return nil, fmt.Errorf("%w: %d participants", ErrServerFull, l.participants)
	}
	id := resumeID
	if id == "" {
		id = newParticipantID()
	}
	m := &member{
		room: r,
		sink: req.Sink,
		gen:  1,
		info: protocol.Participant{ID: id, Name: req.Name, State: req.State, JoinedAt: now.UnixMilli(), Host: req.Host},
	}
	l.participants++
	a := &attachment{l: l, m: m, gen: m.gen}
	if waiting {
		m.waiting = true
		r.lobby = append(r.lobby, m)
		l.hostsLocked(r, mustMarshal(protocol.Knock{Type: protocol.TypeKnock, Participant: m.info}))
		return a, nil
	}
	if l.opts.OpenRooms && !l.hasHostLocked(r) {
		m.info.Host = true
	}
	l.enterLocked(m, resumeID != "")
	if m.info.Host {
		l.tellKnocksLocked(m) // after joined: the transport holds frames until it is queued
	}
	return a, nil
}

// enterLocked makes m a member: announces it, and fills its welcome.
func (l *Local) enterLocked(m *member, resumed bool) {
	r := m.room
	m.waiting = false
	l.broadcastLocked(r, nil, mustMarshal(protocol.PeerJoined{Type: protocol.TypePeerJoined, Participant: m.info}))
	r.members = append(r.members, m)
	l.welcomeLocked(m, resumed)
}

func (l *Local) welcomeLocked(m *member, resumed bool) {
	w := Welcome{Self: m.info, Others: []protocol.Participant{}, Locked: m.room.locked, Resumed: resumed}
	for _, o := range m.room.members {
		if o != m {
			w.Others = append(w.Others, o.info)
		}
	}
	w.ResumeToken = l.resume.sign(m.room.name, m.info.ID, l.opts.Now())
	m.welcome = w
}

// tellKnocksLocked tells a (new) host who is waiting in the lobby.
func (l *Local) tellKnocksLocked(host *member) {
	for _, w := range host.room.lobby {
		host.deliverLocked(mustMarshal(protocol.Knock{Type: protocol.TypeKnock, Participant: w.info}), l.opts.MaxHeldFrames)
	}
}

func (l *Local) hasHostLocked(r *localRoom) bool {
	return slices.ContainsFunc(r.members, func(o *member) bool { return o.info.Host })
}

// reattachLocked gives a resumed participant its new connection, flushes
// what was held for it, and closes the connection it replaces, if any.
func (l *Local) reattachLocked(m *member, req JoinRequest) *attachment {
	if m.grace != nil {
		m.grace.Stop()
		m.grace = nil
	}
	old := m.sink
	m.gen++
	m.sink = req.Sink
	for _, f := range m.held {
		m.sink.Send(f)
	}
	m.held = nil
	if old != nil {
		old.Close(protocol.Error{Code: protocol.CodeReplaced, Message: "this session was resumed on another connection"})
	}
	changed := m.info.Reconnecting || m.info.Name != req.Name || m.info.State != req.State
	m.info.Reconnecting = false
	m.info.Name, m.info.State = req.Name, req.State
	if changed {
		l.broadcastLocked(m.room, m, mustMarshal(protocol.PeerUpdated{Type: protocol.TypePeerUpdated, Participant: m.info}))
	}
	l.welcomeLocked(m, true)
	if m.info.Host {
		l.tellKnocksLocked(m)
	}
	return &attachment{l: l, m: m, gen: m.gen}
}

// Stats implements Backend.
func (l *Local) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return Stats{Rooms: len(l.rooms), Participants: l.participants}
}

// leave removes m if attachment gen is still current (or gen is 0).
func (l *Local) leave(m *member, gen uint64, reason string, onlyDetached bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := m.room
	r.mu.Lock()
	defer r.mu.Unlock()
	if m.left || (gen != 0 && gen != m.gen) || (onlyDetached && m.sink != nil) {
		return
	}
	l.leaveLocked(m, reason)
}

// leaveLocked removes m from its room (members or lobby) and tells whom it
// concerns. Both locks are held.
func (l *Local) leaveLocked(m *member, reason string) {
	r := m.room
	m.left = true
	l.participants--
	if m.grace != nil {
		m.grace.Stop()
		m.grace = nil
	}
	if m.waiting {
		r.lobby = slices.DeleteFunc(r.lobby, func(o *member) bool { return o == m })
		outcome := protocol.KnockLeft
		if reason == protocol.LeftReasonRemoved {
			outcome = protocol.KnockDenied
		}
		l.hostsLocked(r, mustMarshal(protocol.KnockEnded{Type: protocol.TypeKnockEnded, ID: m.info.ID, Outcome: outcome}))
		l.deleteIfEmptyLocked(r)
		return
	}
	r.members = slices.DeleteFunc(r.members, func(o *member) bool { return o == m })
	l.broadcastLocked(r, nil, mustMarshal(protocol.PeerLeft{Type: protocol.TypePeerLeft, ID: m.info.ID, Reason: reason}))
	if len(r.members) == 0 && len(r.lobby) > 0 && l.opts.OpenRooms {
		// Nobody is left to answer the knocks of an open room: open it.
		r.locked = false
		l.admitAllLocked(r, "")
	}
	if l.opts.OpenRooms && len(r.members) > 0 && !l.hasHostLocked(r) {
		h := r.members[0]
		h.info.Host = true
		l.broadcastLocked(r, nil, mustMarshal(protocol.PeerUpdated{Type: protocol.TypePeerUpdated, Participant: h.info}))
		l.tellKnocksLocked(h)
	}
	l.deleteIfEmptyLocked(r)
}

func (l *Local) deleteIfEmptyLocked(r *localRoom) {
	if len(r.members) == 0 && len(r.lobby) == 0 {
		delete(l.rooms, r.name)
	}
}

// admitLocked moves w from the lobby into the room.
func (l *Local) admitLocked(w *member, by string) error {
	r := w.room
	if len(r.members) >= l.opts.MaxParticipants {
		return fmt.Errorf("%w (%d of %d)", ErrRoomFull, len(r.members), l.opts.MaxParticipants)
	}
	r.lobby = slices.DeleteFunc(r.lobby, func(o *member) bool { return o == w })
	l.hostsLocked(r, mustMarshal(protocol.KnockEnded{Type: protocol.TypeKnockEnded, ID: w.info.ID, Outcome: protocol.KnockAdmitted, By: by}))
	if l.opts.OpenRooms && !l.hasHostLocked(r) {
		w.info.Host = true
	}
	l.enterLocked(w, false)
	if w.sink != nil {
		w.sink.Admit(w.welcome)
	}
	if w.info.Host {
		l.tellKnocksLocked(w) // after its joined
	}
	return nil
}

// admitAllLocked admits the lobby as far as capacity allows and turns the
// rest away.
func (l *Local) admitAllLocked(r *localRoom, by string) {
	for _, w := range slices.Clone(r.lobby) {
		if err := l.admitLocked(w, by); err != nil {
			if w.sink != nil {
				w.sink.Close(protocol.Error{Code: protocol.CodeRoomFull, Message: "the room is full"})
			}
			l.leaveLocked(w, protocol.LeftReasonRemoved)
		}
	}
}

// detach starts m's grace period if attachment gen is current.
func (l *Local) detach(m *member, gen uint64) {
	r := m.room
	r.mu.Lock()
	if m.waiting {
		r.mu.Unlock()
		l.leave(m, gen, protocol.LeftReasonLeft, false)
		return
	}
	defer r.mu.Unlock()
	if m.left || gen != m.gen || m.sink == nil {
		return
	}
	m.sink = nil
	m.info.Reconnecting = true
	l.broadcastLocked(r, m, mustMarshal(protocol.PeerUpdated{Type: protocol.TypePeerUpdated, Participant: m.info}))
	m.grace = time.AfterFunc(l.opts.Grace, func() { l.leave(m, gen, protocol.LeftReasonTimeout, true) })
}

// newParticipantID returns 128 random bits as 26 base32 characters.
func newParticipantID() string { return rand.Text() }

func mustMarshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("room: marshal %T: %v", v, err)) // only fixed, valid types reach here
	}
	return b
}
