package client

import (
	"errors"

	"github.com/peercall/peercall/protocol"
)

// Sentinel errors. Errors returned by the SDK wrap them; test with errors.Is.
var (
	// ErrClosed is returned by Room methods after the room has ended.
	ErrClosed = errors.New("peercall: room closed")
	// ErrPeerClosed is returned by Peer methods after the peer has left or
	// the room has ended.
	ErrPeerClosed = errors.New("peercall: peer closed")
	// ErrDataChannelNotOpen is returned by Peer.Send before the data
	// channel to that peer is open.
	ErrDataChannelNotOpen = errors.New("peercall: data channel not open")
	// ErrServerTimeout ends a room whose server has not been heard from for
	// three ping intervals.
	ErrServerTimeout = errors.New("peercall: signaling server timed out")
	// ErrDisconnected wraps the error that ended the signaling connection.
	ErrDisconnected = errors.New("peercall: signaling connection lost")
	// ErrInvalidConfig wraps problems found in a Config by Join.
	ErrInvalidConfig = errors.New("peercall: invalid config")
	// ErrProtocol wraps frames from the server that violate the protocol.
	ErrProtocol = errors.New("peercall: protocol error")
)

// Error is an error frame from the server: a refused join (for example
// protocol.CodeRoomFull) or a fatal error that ended the room. Use
// errors.As or IsCode to inspect it.
type Error struct {
	Code    protocol.Code
	Message string
	// Ref is the request ID of the frame that caused the error, if any.
	Ref string
	// Fatal reports whether the server closed the connection after it.
	Fatal bool
}

func (e *Error) Error() string {
	if e.Message == "" {
		return "peercall: server error: " + string(e.Code)
	}
	return "peercall: server error: " + string(e.Code) + ": " + e.Message
}

// IsCode reports whether err is, or wraps, an *Error with the given code.
func IsCode(err error, code protocol.Code) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}

func errorFromFrame(f protocol.Error) *Error {
	return &Error{Code: f.Code, Message: f.Message, Ref: f.Ref, Fatal: f.Fatal}
}
