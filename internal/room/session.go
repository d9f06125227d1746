package room

import (
	"encoding/json"

	"github.com/peercall/peercall/protocol"
)

// attachment is the Local backend's Session: one connection's hold on a
// member. When the member resumes on another connection, the old
// attachment goes stale and its calls do nothing.
type attachment struct {
	l   *Local
	m   *member
	gen uint64
}

func (a *attachment) ID() string { return a.m.Info.ID } // immutable

func (a *attachment) Waiting() bool {
	a.m.room.mu.Lock()
	defer a.m.room.mu.Unlock()
	return a.m.Waiting
}

func (a *attachment) Welcome() Welcome {
	a.m.room.mu.Lock()
	defer a.m.room.mu.Unlock()
	return a.m.welcome
}

// locked runs f with the room locked (and Local.mu first if global, for
// rules that may remove participants), once a's member passes check.
func (a *attachment) locked(global, host bool, f func(st *roomState) error) error {
	if global {
		a.l.mu.Lock()
		defer a.l.mu.Unlock()
	}
	r := a.m.room
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := check(a.m, a.gen, host); err != nil {
		return err
	}
	return f(&r.st)
}

func (a *attachment) Relay(msgType, to string, payload json.RawMessage) error {
	if !protocol.IsRelay(msgType) {
		return ErrBadRelay
	}
	return a.locked(false, false, func(st *roomState) error {
		o := st.member(to)
		if o == nil || o == a.m {
			return ErrUnknownPeer
		}
		a.l.send(o, protocol.AppendRelay(make([]byte, 0, len(payload)+len(msgType)+len(a.m.Info.ID)+40), msgType, a.m.Info.ID, payload))
		return nil
	})
}

func (a *attachment) Update(name string, st protocol.State) error {
	return a.locked(false, false, func(rs *roomState) error {
		a.l.rules.update(rs, a.l, a.m, name, st)
		return nil
	})
}

func (a *attachment) Leave(reason string) { a.l.leave(a.m, a.gen, reason, false) }
func (a *attachment) Detach()             { a.l.detach(a.m, a.gen) }

func (a *attachment) Lock(locked bool) error {
	// Unlocking may turn knockers away: participant counts change.
	return a.locked(true, true, func(st *roomState) error {
		a.l.rules.lock(st, a.l, locked, a.m.Info.ID)
		return nil
	})
}

func (a *attachment) Admit(id string) error {
	return a.locked(false, true, func(st *roomState) error {
		w := st.waiter(id)
		if w == nil {
			return ErrNotWaiting
		}
		return a.l.rules.admit(st, a.l, w, a.m.Info.ID)
	})
}

func (a *attachment) Deny(id string) error {
	return a.locked(true, true, func(st *roomState) error { return a.l.rules.deny(st, a.l, id) })
}

func (a *attachment) Remove(id string) error {
	return a.locked(true, true, func(st *roomState) error { return a.l.rules.remove(st, a.l, a.m, id) })
}

func (a *attachment) Mute(id string) error {
	return a.locked(false, true, func(st *roomState) error { return a.l.rules.mute(st, a.l, a.m, id) })
}
