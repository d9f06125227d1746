package room

import (
	"encoding/json"
	"slices"

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

func (a *attachment) ID() string { return a.m.info.ID } // immutable

func (a *attachment) Waiting() bool {
	a.m.room.mu.Lock()
	defer a.m.room.mu.Unlock()
	return a.m.waiting
}

func (a *attachment) Welcome() Welcome {
	a.m.room.mu.Lock()
	defer a.m.room.mu.Unlock()
	return a.m.welcome
}

// memberLocked checks that this attachment speaks for an admitted member.
func (a *attachment) memberLocked() error {
	switch {
	case a.m.left || a.m.gen != a.gen:
		return ErrLeft
	case a.m.waiting:
		return ErrWaiting
	}
	return nil
}

// hostLocked checks that this attachment speaks for a host.
func (a *attachment) hostLocked() error {
	if err := a.memberLocked(); err != nil {
		return err
	}
	if !a.m.info.Host {
		return ErrForbidden
	}
	return nil
}

func (a *attachment) Relay(msgType, to string, payload json.RawMessage) error {
	if !protocol.IsRelay(msgType) {
		return ErrBadRelay
	}
	r := a.m.room
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := a.memberLocked(); err != nil {
		return err
	}
	if o := a.findLocked(to); o != nil {
		o.deliverLocked(protocol.AppendRelay(make([]byte, 0, len(payload)+len(msgType)+len(a.m.info.ID)+40), msgType, a.m.info.ID, payload), a.l.opts.MaxHeldFrames)
		return nil
	}
	return ErrUnknownPeer
}

// findLocked returns the other member with id, or nil.
func (a *attachment) findLocked(id string) *member {
	for _, o := range a.m.room.members {
		if o.info.ID == id && o != a.m {
			return o
		}
	}
	return nil
}

func (a *attachment) Update(name string, st protocol.State) error {
	r := a.m.room
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := a.memberLocked(); err != nil {
		return err
	}
	a.m.info.Name, a.m.info.State = name, st
	a.l.broadcastLocked(r, a.m, mustMarshal(protocol.PeerUpdated{Type: protocol.TypePeerUpdated, Participant: a.m.info}))
	return nil
}

func (a *attachment) Leave(reason string) { a.l.leave(a.m, a.gen, reason, false) }
func (a *attachment) Detach()             { a.l.detach(a.m, a.gen) }

func (a *attachment) Lock(locked bool) error {
	a.l.mu.Lock() // unlocking may turn knockers away: participant counts change
	defer a.l.mu.Unlock()
	r := a.m.room
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := a.hostLocked(); err != nil {
		return err
	}
	if r.locked == locked {
		return nil
	}
	r.locked = locked
	a.l.broadcastLocked(r, nil, mustMarshal(protocol.RoomUpdated{Type: protocol.TypeRoomUpdated, Locked: locked, By: a.m.info.ID}))
	if !locked {
		a.l.admitAllLocked(r, a.m.info.ID)
	}
	return nil
}

func (a *attachment) Admit(id string) error {
	r := a.m.room
	r.mu.Lock()
	defer r.mu.Unlock()
	w, err := a.knockerLocked(id)
	if err != nil {
		return err
	}
	return a.l.admitLocked(w, a.m.info.ID)
}

// knockerLocked returns the participant id waiting in the lobby, if this
// attachment is a host's.
func (a *attachment) knockerLocked(id string) (*member, error) {
	if err := a.hostLocked(); err != nil {
		return nil, err
	}
	i := slices.IndexFunc(a.m.room.lobby, func(o *member) bool { return o.info.ID == id })
	if i < 0 {
		return nil, ErrNotWaiting
	}
	return a.m.room.lobby[i], nil
}

func (a *attachment) Deny(id string) error {
	a.l.mu.Lock()
	defer a.l.mu.Unlock()
	r := a.m.room
	r.mu.Lock()
	defer r.mu.Unlock()
	w, err := a.knockerLocked(id)
	if err != nil {
		return err
	}
	if w.sink != nil {
		w.sink.Close(protocol.Error{Code: protocol.CodeDenied, Message: "a host of the room turned you away"})
	}
	a.l.leaveLocked(w, protocol.LeftReasonRemoved)
	return nil
}

func (a *attachment) Remove(id string) error {
	a.l.mu.Lock()
	defer a.l.mu.Unlock()
	r := a.m.room
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := a.hostLocked(); err != nil {
		return err
	}
	o := a.findLocked(id)
	if o == nil {
		return ErrUnknownPeer
	}
	r.removed[id] = true
	if o.sink != nil {
		o.sink.Close(protocol.Error{Code: protocol.CodeRemoved, Message: "a host removed you from the room"})
	}
	a.l.leaveLocked(o, protocol.LeftReasonRemoved)
	return nil
}

func (a *attachment) Mute(id string) error {
	r := a.m.room
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := a.hostLocked(); err != nil {
		return err
	}
	frame := mustMarshal(protocol.MuteRequest{Type: protocol.TypeMuteRequest, From: a.m.info.ID})
	if id == "" {
		a.l.broadcastLocked(r, a.m, frame)
		return nil
	}
	o := a.findLocked(id)
	if o == nil {
		return ErrUnknownPeer
	}
	o.deliverLocked(frame, a.l.opts.MaxHeldFrames)
	return nil
}
