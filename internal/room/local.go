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

// Local is the in-memory Backend of a single node.
//
// Lock order: Local.mu, then localRoom.mu. Sinks are called with a room lock
// held; they only enqueue.
type Local struct {
	max int
	now func() time.Time

	mu    sync.Mutex // guards rooms
	rooms map[string]*localRoom
}

// NewLocal returns an in-memory backend whose rooms hold at most
// maxParticipants members each.
func NewLocal(maxParticipants int) *Local {
	return &Local{max: maxParticipants, now: time.Now, rooms: map[string]*localRoom{}}
}

type localRoom struct {
	name string

	mu      sync.Mutex // guards members
	members []*member  // oldest first
}

type member struct {
	room *localRoom
	sink Sink
	// info and left are guarded by room.mu.
	info   protocol.Participant
	others []protocol.Participant // snapshot at join; immutable
	left   bool
	leave  func(reason string)
}

// Join implements Backend.
func (l *Local) Join(_ context.Context, req JoinRequest) (Session, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.rooms[req.Room]
	if r == nil {
		r = &localRoom{name: req.Room}
		l.rooms[req.Room] = r
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.members) >= l.max {
		return nil, fmt.Errorf("%w (%d of %d)", ErrRoomFull, len(r.members), l.max)
	}
	m := &member{
		room: r,
		sink: req.Sink,
		info: protocol.Participant{
			ID:       newParticipantID(),
			Name:     req.Name,
			State:    req.State,
			JoinedAt: l.now().UnixMilli(),
		},
	}
	m.others = make([]protocol.Participant, 0, len(r.members))
	frame := mustMarshal(protocol.PeerJoined{Type: protocol.TypePeerJoined, Participant: m.info})
	for _, o := range r.members {
		m.others = append(m.others, o.info)
		o.sink.Send(frame)
	}
	r.members = append(r.members, m)
	m.leave = func(reason string) { l.leave(m, reason) }
	return m, nil
}

// Stats implements Backend.
func (l *Local) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := Stats{Rooms: len(l.rooms)}
	for _, r := range l.rooms {
		r.mu.Lock()
		s.Participants += len(r.members)
		r.mu.Unlock()
	}
	return s
}

func (l *Local) leave(m *member, reason string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := m.room
	r.mu.Lock()
	defer r.mu.Unlock()
	if m.left {
		return
	}
	m.left = true
	r.members = slices.DeleteFunc(r.members, func(o *member) bool { return o == m })
	if len(r.members) == 0 {
		delete(l.rooms, r.name)
		return
	}
	frame := mustMarshal(protocol.PeerLeft{Type: protocol.TypePeerLeft, ID: m.info.ID, Reason: reason})
	for _, o := range r.members {
		o.sink.Send(frame)
	}
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
