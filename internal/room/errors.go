package room

import "errors"

// Errors returned by backends. The transport maps them to protocol codes.
var (
	ErrRoomFull    = errors.New("room is full")
	ErrServerFull  = errors.New("server is at its limit of rooms or participants")
	ErrUnknownPeer = errors.New("no such participant in this room")
	ErrLeft        = errors.New("participant has left the room")
	ErrBadRelay    = errors.New("not a relay message type")
	ErrForbidden   = errors.New("only a host may do this")
	ErrWaiting     = errors.New("waiting in the lobby for a host")
	ErrNotWaiting  = errors.New("no such participant in the lobby")
)

// ErrUnavailable means the backend's store cannot be reached (a clustered
// backend whose Redis is down). Joins fail with it; calls in progress go on.
var ErrUnavailable = errors.New("room store unavailable")
