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
	participants int
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

	mu      sync.Mutex // guards members and every member's mutable fields
	members []*member  // oldest first
}

// member is a participant. Its fields after room are guarded by room.mu.
type member struct {
	room *localRoom

	info  protocol.Participant
	sink  Sink   // nil while detached
	gen   uint64 // increases at each attachment; stale attachments are inert
	held  [][]byte
	grace *time.Timer
	left  bool
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
		r = &localRoom{name: req.Room}
		l.rooms[req.Room] = r
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if resumeID != "" {
		if i := slices.IndexFunc(r.members, func(o *member) bool { return o.info.ID == resumeID }); i >= 0 {
			return l.reattachLocked(r.members[i], req), nil
		}
	}
	if len(r.members) >= l.opts.MaxParticipants {
		return nil, fmt.Errorf("%w (%d of %d)", ErrRoomFull, len(r.members), l.opts.MaxParticipants)
	}
	if l.opts.MaxTotalParticipants > 0 && l.participants >= l.opts.MaxTotalParticipants {
		if len(r.members) == 0 {
			delete(l.rooms, req.Room)
		}
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
		info: protocol.Participant{ID: id, Name: req.Name, State: req.State, JoinedAt: now.UnixMilli()},
	}
	l.broadcastLocked(r, nil, mustMarshal(protocol.PeerJoined{Type: protocol.TypePeerJoined, Participant: m.info}))
	r.members = append(r.members, m)
	l.participants++
	return l.attachmentLocked(m, resumeID != ""), nil
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
		old.Close()
	}
	changed := m.info.Reconnecting || m.info.Name != req.Name || m.info.State != req.State
	m.info.Reconnecting = false
	m.info.Name, m.info.State = req.Name, req.State
	if changed {
		l.broadcastLocked(m.room, m, mustMarshal(protocol.PeerUpdated{Type: protocol.TypePeerUpdated, Participant: m.info}))
	}
	return l.attachmentLocked(m, true)
}

func (l *Local) attachmentLocked(m *member, resumed bool) *attachment {
	a := &attachment{l: l, m: m, gen: m.gen, resumed: resumed, others: []protocol.Participant{}}
	for _, o := range m.room.members {
		if o != m {
			a.others = append(a.others, o.info)
		}
	}
	a.token = l.resume.sign(m.room.name, m.info.ID, l.opts.Now())
	return a
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
	m.left = true
	if m.grace != nil {
		m.grace.Stop()
		m.grace = nil
	}
	r.members = slices.DeleteFunc(r.members, func(o *member) bool { return o == m })
	l.participants--
	if len(r.members) == 0 {
		delete(l.rooms, r.name)
		return
	}
	l.broadcastLocked(r, nil, mustMarshal(protocol.PeerLeft{Type: protocol.TypePeerLeft, ID: m.info.ID, Reason: reason}))
}

// detach starts m's grace period if attachment gen is current.
func (l *Local) detach(m *member, gen uint64) {
	r := m.room
	r.mu.Lock()
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
