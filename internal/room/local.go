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
	rules  rules

	mu           sync.Mutex // guards rooms and participants
	rooms        map[string]*localRoom
	participants int // members and lobby waiters of all rooms
}

// NewLocal returns an in-memory backend.
func NewLocal(opts LocalOptions) *Local {
	opts.setDefaults()
	l := &Local{
		opts:   opts,
		resume: resumeSigner{key: opts.SessionSecret, ttl: 24 * time.Hour},
		rooms:  map[string]*localRoom{},
	}
	l.rules = opts.rules(l.resume)
	return l
}

func (o *LocalOptions) setDefaults() {
	if o.MaxParticipants == 0 {
		o.MaxParticipants = 6
	}
	if o.MaxRooms == 0 {
		o.MaxRooms = 20000
	}
	if o.MaxTotalParticipants == 0 {
		o.MaxTotalParticipants = 50000
	}
	if o.Grace == 0 {
		o.Grace = 25 * time.Second
	}
	if len(o.SessionSecret) == 0 {
		o.SessionSecret = []byte(rand.Text() + rand.Text())
	}
	if o.MaxHeldFrames == 0 {
		o.MaxHeldFrames = 256
	}
	if o.MaxLobby == 0 {
		o.MaxLobby = 20
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

func (o *LocalOptions) rules(rs resumeSigner) rules {
	return rules{
		maxParticipants: o.MaxParticipants,
		maxLobby:        o.MaxLobby,
		open:            o.OpenRooms,
		sign:            func(room, id string) string { return rs.sign(room, id, o.Now()) },
	}
}

type localRoom struct {
	mu sync.Mutex // guards st and every member's mutable fields
	st roomState
}

// Local is the rules' outbox: it calls the sinks directly.

func (l *Local) send(m *member, frame []byte) {
	if m.sink != nil {
		m.sink.Send(frame)
		return
	}
	if len(m.held) >= l.opts.MaxHeldFrames {
		m.held = slices.Delete(m.held, 0, 1)
	}
	m.held = append(m.held, frame)
}

func (l *Local) close(m *member, e protocol.Error) {
	if m.sink != nil {
		m.sink.Close(e)
	}
}

func (l *Local) admitted(m *member) {
	if m.sink != nil {
		m.sink.Admit(m.welcome)
	}
}

// removed needs Local.mu held.
func (l *Local) removed(m *member) {
	l.participants--
	if m.grace != nil {
		m.grace.Stop()
		m.grace = nil
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
		r = &localRoom{st: roomState{name: req.Room}}
		l.rooms[req.Room] = r
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	added := false
	m, err := l.rules.join(&r.st, l, joinArgs{
		p:        protocol.Participant{ID: newParticipantID(), Name: req.Name, State: req.State, JoinedAt: now.UnixMilli(), Host: req.Host},
		resumeID: resumeID,
		canAdd: func() error {
			if l.opts.MaxTotalParticipants > 0 && l.participants >= l.opts.MaxTotalParticipants {
				return fmt.Errorf("%w: %d participants", ErrServerFull, l.participants)
			}
			added = true
			return nil
		},
		attach: func(m *member) {
			if m.grace != nil {
				m.grace.Stop()
				m.grace = nil
			}
			m.room, m.sink = r, req.Sink
			for _, f := range m.held {
				m.sink.Send(f)
			}
			m.held = nil
		},
	})
	if err != nil {
		l.deleteIfEmptyLocked(req.Room, r)
		return nil, err
	}
	if added {
		l.participants++
	}
	return &attachment{l: l, m: m, gen: m.Gen}, nil
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
	if m.left || (gen != 0 && gen != m.Gen) || (onlyDetached && !m.Info.Reconnecting) {
		return
	}
	l.rules.leave(&r.st, l, m, reason)
	l.deleteIfEmptyLocked(r.st.name, r)
}

func (l *Local) deleteIfEmptyLocked(name string, r *localRoom) {
	if r.st.empty() && l.rooms[name] == r {
		delete(l.rooms, name)
	}
}

// detach starts m's grace period if attachment gen is current.
func (l *Local) detach(m *member, gen uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := m.room
	r.mu.Lock()
	defer r.mu.Unlock()
	if m.left || gen != m.Gen || m.Info.Reconnecting {
		return
	}
	if !l.rules.detach(&r.st, l, m) {
		l.deleteIfEmptyLocked(r.st.name, r)
		return
	}
	m.sink = nil
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
