package room

import (
	"encoding/json"

	"github.com/peercall/peercall/protocol"
)

// attachment is the Local backend's Session: one connection's hold on a
// member. When the member resumes on another connection, the old
// attachment goes stale and its calls do nothing.
type attachment struct {
	l       *Local
	m       *member
	gen     uint64
	others  []protocol.Participant // snapshot at join; immutable
	token   string
	resumed bool
}

func (a *attachment) Self() protocol.Participant {
	a.m.room.mu.Lock()
	defer a.m.room.mu.Unlock()
	return a.m.info
}

func (a *attachment) Others() []protocol.Participant { return a.others }
func (a *attachment) ResumeToken() string            { return a.token }
func (a *attachment) Resumed() bool                  { return a.resumed }

// currentLocked reports whether this attachment still speaks for the member.
func (a *attachment) currentLocked() bool { return !a.m.left && a.m.gen == a.gen }

func (a *attachment) Relay(msgType, to string, payload json.RawMessage) error {
	if !protocol.IsRelay(msgType) {
		return ErrBadRelay
	}
	r := a.m.room
	r.mu.Lock()
	defer r.mu.Unlock()
	if !a.currentLocked() {
		return ErrLeft
	}
	for _, o := range r.members {
		if o.info.ID == to && o != a.m {
			o.deliverLocked(protocol.AppendRelay(nil, msgType, a.m.info.ID, payload), a.l.opts.MaxHeldFrames)
			return nil
		}
	}
	return ErrUnknownPeer
}

func (a *attachment) Update(name string, st protocol.State) error {
	r := a.m.room
	r.mu.Lock()
	defer r.mu.Unlock()
	if !a.currentLocked() {
		return ErrLeft
	}
	a.m.info.Name, a.m.info.State = name, st
	a.l.broadcastLocked(r, a.m, mustMarshal(protocol.PeerUpdated{Type: protocol.TypePeerUpdated, Participant: a.m.info}))
	return nil
}

func (a *attachment) Leave(reason string) { a.l.leave(a.m, a.gen, reason, false) }
func (a *attachment) Detach()             { a.l.detach(a.m, a.gen) }
