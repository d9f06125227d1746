package room

import (
	"fmt"
	"slices"
	"time"

	"github.com/peercall/peercall/protocol"
)

// This file holds the room rules — capacity, the lobby, hosts, resume and
// who is told what — once, for every backend. A backend loads a room's
// state, applies one rule under its lock, and carries out what the rule
// asked of the outbox: Local on in-memory sinks, Cluster by publishing to
// the nodes that hold the connections.

// roomState is one room. The exported fields are what a clustered backend
// stores.
type roomState struct {
	name string // not stored: the key says it

	V int `json:"v"` // format version, stateVersion when stored

	Members []*member `json:"members"` // oldest first
	Lobby   []*member `json:"lobby,omitempty"`
	Locked  bool      `json:"locked,omitempty"`
	Removed []string  `json:"removed,omitempty"` // IDs a host removed: no resuming
}

// member is a participant of a room, admitted or waiting in its lobby.
// Info.Reconnecting is true while its connection is detached.
type member struct {
	Info    protocol.Participant `json:"info"`
	Gen     uint64               `json:"gen"` // increases at each attachment; stale attachments are inert
	Waiting bool                 `json:"waiting,omitempty"`
	Node    string               `json:"node,omitempty"` // Cluster: the node holding its connection

	left    bool
	welcome Welcome

	// Local only; guarded by room.mu.
	room  *localRoom
	sink  Sink
	held  [][]byte
	grace *time.Timer
}

// outbox carries out what a rule decides. Its methods must not block.
type outbox interface {
	// send delivers a frame to m, or holds it while m is detached.
	send(m *member, frame []byte)
	// close ends m's current connection with a fatal error.
	close(m *member, e protocol.Error)
	// admitted tells m, which was waiting in the lobby, that it is in;
	// m.welcome is set.
	admitted(m *member)
	// removed is told that m is no longer part of the room (left, timed
	// out, denied, removed or turned away), before anyone else is.
	removed(m *member)
}

// rules are a backend's room rules with its limits.
type rules struct {
	maxParticipants int
	maxLobby        int
	open            bool // open mode: the first (then the oldest) member hosts
	// sign makes a resume token for a participant of a room.
	sign func(room, id string) string
}

func (st *roomState) member(id string) *member {
	if i := slices.IndexFunc(st.Members, func(o *member) bool { return o.Info.ID == id }); i >= 0 {
		return st.Members[i]
	}
	return nil
}

func (st *roomState) waiter(id string) *member {
	if i := slices.IndexFunc(st.Lobby, func(o *member) bool { return o.Info.ID == id }); i >= 0 {
		return st.Lobby[i]
	}
	return nil
}

func (st *roomState) empty() bool { return len(st.Members) == 0 && len(st.Lobby) == 0 }

func (st *roomState) hasHost() bool {
	return slices.ContainsFunc(st.Members, func(o *member) bool { return o.Info.Host })
}

// broadcast sends frame to every member but except.
func broadcast(st *roomState, out outbox, except *member, frame []byte) {
	for _, o := range st.Members {
		if o != except {
			out.send(o, frame)
		}
	}
}

// toHosts sends frame to every host.
func toHosts(st *roomState, out outbox, frame []byte) {
	for _, o := range st.Members {
		if o.Info.Host {
			out.send(o, frame)
		}
	}
}

// joinArgs are a join's inputs beyond the room.
type joinArgs struct {
	// p is the new participant (ID, name, state, joined-at; Host by
	// grant). A resume keeps the member's ID and joined-at.
	p protocol.Participant
	// resumeID is the ID a valid resume token vouched for, or "".
	resumeID string
	// canAdd is asked before a new participant (not a resume of a present
	// member) is added: the backend's server-wide limits.
	canAdd func() error
	// attach binds the joining connection to m (m.Gen is already the new
	// attachment's).
	attach func(m *member)
}

// join adds a participant or, with a resume ID of a present member,
// reattaches it. It returns the member.
func (r *rules) join(st *roomState, out outbox, a joinArgs) (*member, error) {
	resumeID := a.resumeID
	if slices.Contains(st.Removed, resumeID) {
		resumeID = ""
	}
	if m := st.member(resumeID); resumeID != "" && m != nil {
		r.reattach(st, out, a, m)
		return m, nil
	}
	waiting := st.Locked && resumeID == "" && !a.p.Host
	switch {
	case waiting && len(st.Lobby) >= r.maxLobby:
		return nil, fmt.Errorf("%w (lobby of %d)", ErrRoomFull, len(st.Lobby))
	case !waiting && len(st.Members) >= r.maxParticipants:
		return nil, fmt.Errorf("%w (%d of %d)", ErrRoomFull, len(st.Members), r.maxParticipants)
	}
	if a.canAdd != nil {
		if err := a.canAdd(); err != nil {
			return nil, err
		}
	}
	m := &member{Info: a.p, Gen: 1}
	if resumeID != "" {
		m.Info.ID = resumeID
	}
	for st.member(m.Info.ID) != nil || st.waiter(m.Info.ID) != nil { // never, with 128 random bits
		m.Info.ID = newParticipantID()
	}
	m.Info.Reconnecting = false
	a.attach(m)
	if waiting {
		m.Waiting = true
		st.Lobby = append(st.Lobby, m)
		toHosts(st, out, mustMarshal(protocol.Knock{Type: protocol.TypeKnock, Participant: m.Info}))
		return m, nil
	}
	if r.open && !st.hasHost() {
		m.Info.Host = true
	}
	r.enter(st, out, m, resumeID != "")
	if m.Info.Host {
		r.tellKnocks(st, out, m) // after joined: the transport holds frames until it is queued
	}
	return m, nil
}

// reattach gives a present member a new connection and closes the one it
// replaces.
func (r *rules) reattach(st *roomState, out outbox, a joinArgs, m *member) {
	if !m.Info.Reconnecting {
		out.close(m, protocol.Error{Code: protocol.CodeReplaced, Message: "this session was resumed on another connection"})
	}
	m.Gen++
	a.attach(m)
	changed := m.Info.Reconnecting || m.Info.Name != a.p.Name || m.Info.State != a.p.State
	m.Info.Reconnecting = false
	m.Info.Name, m.Info.State = a.p.Name, a.p.State
	if changed {
		broadcast(st, out, m, mustMarshal(protocol.PeerUpdated{Type: protocol.TypePeerUpdated, Participant: m.Info}))
	}
	r.welcome(st, m, true)
	if m.Info.Host {
		r.tellKnocks(st, out, m)
	}
}

// enter makes m a member: announces it and fills its welcome.
func (r *rules) enter(st *roomState, out outbox, m *member, resumed bool) {
	m.Waiting = false
	broadcast(st, out, nil, mustMarshal(protocol.PeerJoined{Type: protocol.TypePeerJoined, Participant: m.Info}))
	st.Members = append(st.Members, m)
	r.welcome(st, m, resumed)
}

func (r *rules) welcome(st *roomState, m *member, resumed bool) {
	w := Welcome{Self: m.Info, Others: []protocol.Participant{}, Locked: st.Locked, Resumed: resumed}
	for _, o := range st.Members {
		if o != m {
			w.Others = append(w.Others, o.Info)
		}
	}
	w.ResumeToken = r.sign(st.name, m.Info.ID)
	m.welcome = w
}

// tellKnocks tells a (new) host who is waiting in the lobby.
func (r *rules) tellKnocks(st *roomState, out outbox, host *member) {
	for _, w := range st.Lobby {
		out.send(host, mustMarshal(protocol.Knock{Type: protocol.TypeKnock, Participant: w.Info}))
	}
}

// leave removes m from the room (members or lobby) and tells whom it
// concerns.
func (r *rules) leave(st *roomState, out outbox, m *member, reason string) {
	m.left = true
	out.removed(m)
	if m.Waiting {
		st.Lobby = slices.DeleteFunc(st.Lobby, func(o *member) bool { return o == m })
		outcome := protocol.KnockLeft
		if reason == protocol.LeftReasonRemoved {
			outcome = protocol.KnockDenied
		}
		toHosts(st, out, mustMarshal(protocol.KnockEnded{Type: protocol.TypeKnockEnded, ID: m.Info.ID, Outcome: outcome}))
		return
	}
	st.Members = slices.DeleteFunc(st.Members, func(o *member) bool { return o == m })
	broadcast(st, out, nil, mustMarshal(protocol.PeerLeft{Type: protocol.TypePeerLeft, ID: m.Info.ID, Reason: reason}))
	if len(st.Members) == 0 && len(st.Lobby) > 0 && r.open {
		// Nobody is left to answer the knocks of an open room: open it.
		st.Locked = false
		r.admitAll(st, out, "")
	}
	if r.open && len(st.Members) > 0 && !st.hasHost() {
		h := st.Members[0]
		h.Info.Host = true
		broadcast(st, out, nil, mustMarshal(protocol.PeerUpdated{Type: protocol.TypePeerUpdated, Participant: h.Info}))
		r.tellKnocks(st, out, h)
	}
}

// detach marks m's connection as gone: the others see it reconnecting. A
// participant waiting in the lobby just leaves. It reports whether m is
// now detached (rather than gone).
func (r *rules) detach(st *roomState, out outbox, m *member) bool {
	if m.Waiting {
		r.leave(st, out, m, protocol.LeftReasonLeft)
		return false
	}
	m.Info.Reconnecting = true
	broadcast(st, out, m, mustMarshal(protocol.PeerUpdated{Type: protocol.TypePeerUpdated, Participant: m.Info}))
	return true
}

func (r *rules) update(st *roomState, out outbox, m *member, name string, state protocol.State) {
	m.Info.Name, m.Info.State = name, state
	broadcast(st, out, m, mustMarshal(protocol.PeerUpdated{Type: protocol.TypePeerUpdated, Participant: m.Info}))
}

// admit moves w from the lobby into the room.
func (r *rules) admit(st *roomState, out outbox, w *member, by string) error {
	if len(st.Members) >= r.maxParticipants {
		return fmt.Errorf("%w (%d of %d)", ErrRoomFull, len(st.Members), r.maxParticipants)
	}
	st.Lobby = slices.DeleteFunc(st.Lobby, func(o *member) bool { return o == w })
	toHosts(st, out, mustMarshal(protocol.KnockEnded{Type: protocol.TypeKnockEnded, ID: w.Info.ID, Outcome: protocol.KnockAdmitted, By: by}))
	if r.open && !st.hasHost() {
		w.Info.Host = true
	}
	r.enter(st, out, w, false)
	out.admitted(w)
	if w.Info.Host {
		r.tellKnocks(st, out, w) // after its joined
	}
	return nil
}

// admitAll admits the lobby as far as capacity allows and turns the rest
// away.
func (r *rules) admitAll(st *roomState, out outbox, by string) {
	for _, w := range slices.Clone(st.Lobby) {
		if err := r.admit(st, out, w, by); err != nil {
			out.close(w, protocol.Error{Code: protocol.CodeRoomFull, Message: "the room is full"})
			r.leave(st, out, w, protocol.LeftReasonRemoved)
		}
	}
}

// lock locks or unlocks the room; unlocking admits the lobby. by is the
// host's ID.
func (r *rules) lock(st *roomState, out outbox, locked bool, by string) {
	if st.Locked == locked {
		return
	}
	st.Locked = locked
	broadcast(st, out, nil, mustMarshal(protocol.RoomUpdated{Type: protocol.TypeRoomUpdated, Locked: locked, By: by}))
	if !locked {
		r.admitAll(st, out, by)
	}
}

// deny turns the participant id waiting in the lobby away.
func (r *rules) deny(st *roomState, out outbox, id string) error {
	w := st.waiter(id)
	if w == nil {
		return ErrNotWaiting
	}
	out.close(w, protocol.Error{Code: protocol.CodeDenied, Message: "a host of the room turned you away"})
	r.leave(st, out, w, protocol.LeftReasonRemoved)
	return nil
}

// remove removes member id, which may not resume into the room; host is
// the host removing it.
func (r *rules) remove(st *roomState, out outbox, host *member, id string) error {
	o := st.member(id)
	if o == nil || o == host {
		return ErrUnknownPeer
	}
	if !slices.Contains(st.Removed, id) {
		st.Removed = append(st.Removed, id)
	}
	out.close(o, protocol.Error{Code: protocol.CodeRemoved, Message: "a host removed you from the room"})
	r.leave(st, out, o, protocol.LeftReasonRemoved)
	return nil
}

// mute asks member id, or with id "" every member but host, to mute.
func (r *rules) mute(st *roomState, out outbox, host *member, id string) error {
	frame := mustMarshal(protocol.MuteRequest{Type: protocol.TypeMuteRequest, From: host.Info.ID})
	if id == "" {
		broadcast(st, out, host, frame)
		return nil
	}
	o := st.member(id)
	if o == nil || o == host {
		return ErrUnknownPeer
	}
	out.send(o, frame)
	return nil
}

// check reports whether an attachment of generation gen speaks for m as an
// admitted member (host: and as a host).
func check(m *member, gen uint64, host bool) error {
	switch {
	case m == nil || m.left || m.Gen != gen:
		return ErrLeft
	case m.Waiting:
		return ErrWaiting
	case host && !m.Info.Host:
		return ErrForbidden
	}
	return nil
}
