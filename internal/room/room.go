// Package room holds rooms and their membership: who is in which room, the
// capacity rule, relaying between members and presence events. It knows
// nothing of HTTP or WebSocket: a member is reached through a Sink that takes
// encoded frames and never blocks.
//
// Backend is the seam for clustering: Local keeps rooms in memory for a
// single node; a Redis-backed implementation can replace it without touching
// the transport. The choice is made once, when wiring the server.
package room

import (
	"context"
	"encoding/json"

	"github.com/peercall/peercall/protocol"
)

// Sink delivers frames to one participant's connection. No method may
// block: they enqueue, and a sink that cannot keep up closes its own
// connection. Backends call them while holding room locks.
type Sink interface {
	Send(frame []byte)
	// Admit tells a participant waiting in the lobby that a host let it
	// in; w is what it needs to know on entering.
	Admit(w Welcome)
	// Close ends the connection with a fatal error: the session was
	// resumed on another connection, or a host removed or denied it.
	Close(e protocol.Error)
}

// JoinRequest asks to add a participant to a room.
type JoinRequest struct {
	Room  string
	Name  string
	State protocol.State
	Sink  Sink
	// ResumeToken, from an earlier Session, asks for the same participant
	// ID. An invalid or expired token is ignored: the join proceeds as a
	// new participant.
	ResumeToken string
	// Host is granted by an access token. In open mode (see LocalOptions)
	// the first joiner of a room is host regardless.
	Host bool
}

// Welcome is what a participant learns on entering a room.
type Welcome struct {
	Self protocol.Participant
	// Others are the room's other members, oldest first. Later changes
	// arrive on the Sink.
	Others      []protocol.Participant
	Locked      bool
	ResumeToken string
	// Resumed reports whether the join honoured a resume token.
	Resumed bool
}

// Backend stores rooms. Implementations are safe for concurrent use.
type Backend interface {
	// Join adds a participant, assigning an unguessable ID, and announces
	// it to the others. It fails with ErrRoomFull at capacity.
	Join(ctx context.Context, req JoinRequest) (Session, error)
	// Stats reports current counts.
	Stats() Stats
}

// Session is one participant's membership of a room.
type Session interface {
	// Waiting reports whether the participant joined a locked room and
	// waits in its lobby: nothing but Leave and Detach works until the
	// Sink's Admit is called.
	Waiting() bool
	// Welcome is what the participant learnt on entering the room (zero
	// while waiting).
	Welcome() Welcome
	// ID is the participant's ID.
	ID() string
	// Relay delivers an offer, answer or candidate to another member of the
	// same room, stamped with this session's ID as the sender. It fails
	// with ErrUnknownPeer if to is not in this room.
	Relay(msgType, to string, payload json.RawMessage) error
	// Update changes name and state and tells the others.
	Update(name string, st protocol.State) error
	// Leave removes the participant and tells the others why. Idempotent.
	Leave(reason string)
	// Detach is for a connection that dropped without leaving: the others
	// see the participant as reconnecting, frames for it are held, and it
	// is removed (reason timeout) unless it resumes within the grace
	// period. A participant waiting in the lobby just leaves. Idempotent.
	Detach()

	// Host actions; they fail with ErrForbidden for non-hosts.

	// Lock locks or unlocks the room. Unlocking admits the lobby.
	Lock(locked bool) error
	// Admit lets a participant waiting in the lobby in.
	Admit(id string) error
	// Deny turns a participant waiting in the lobby away.
	Deny(id string) error
	// Remove removes a member; it cannot resume into the room.
	Remove(id string) error
	// Mute asks a member (or, with id "", every other member) to mute.
	Mute(id string) error
}

// Stats are a backend's current counts.
type Stats struct {
	Rooms        int
	Participants int
}
