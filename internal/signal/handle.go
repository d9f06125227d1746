package signal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/peercall/peercall/internal/room"
	"github.com/peercall/peercall/protocol"
)

// handle processes one frame. It reports whether the connection should end.
func (c *conn) handle(data []byte) (stop bool) {
	var env protocol.Envelope
	ascii, err := decodeEnvelopeASCII(data, &env)
	if err != nil {
		c.sendError(protocol.Error{Code: protocol.CodeBadRequest, Message: "malformed message: " + jsonProblem(err)})
		return false
	}
	if len(env.ID) > protocol.MaxRequestIDLen {
		c.sendError(protocol.Error{Code: protocol.CodeBadRequest, Message: fmt.Sprintf("id longer than %d bytes", protocol.MaxRequestIDLen)})
		return false
	}
	ref := env.ID
	switch env.Type {
	case protocol.TypePing:
		c.Send(pongFrame)
		return false
	case protocol.TypeJoin:
		return c.handleJoin(data, ref)
	case "":
		c.sendError(protocol.Error{Code: protocol.CodeBadRequest, Message: `missing "type"`, Ref: ref})
		return false
	}
	if c.session == nil {
		if isKnownType(env.Type) {
			c.sendError(protocol.Error{Code: protocol.CodeNotJoined, Message: fmt.Sprintf("%q before join; send join first", env.Type), Ref: ref})
		} else {
			c.sendError(protocol.Error{Code: protocol.CodeBadRequest, Message: fmt.Sprintf("unknown message type %q", env.Type), Ref: ref})
		}
		return false
	}
	switch env.Type {
	case protocol.TypeOffer, protocol.TypeAnswer, protocol.TypeCandidate:
		c.handleRelay(&env, ascii)
	case protocol.TypeUpdate:
		c.handleUpdate(data, ref)
	case protocol.TypeLock, protocol.TypeAdmit, protocol.TypeDeny, protocol.TypeRemove, protocol.TypeMute:
		c.handleControl(&env, data)
	case protocol.TypeLeave:
		return true
	default:
		c.sendError(protocol.Error{Code: protocol.CodeBadRequest, Message: fmt.Sprintf("unknown message type %q", env.Type), Ref: ref})
	}
	return false
}

func isKnownType(t string) bool {
	switch t {
	case protocol.TypeUpdate, protocol.TypeLeave, protocol.TypeOffer, protocol.TypeAnswer, protocol.TypeCandidate,
		protocol.TypeLock, protocol.TypeAdmit, protocol.TypeDeny, protocol.TypeRemove, protocol.TypeMute:
		return true
	}
	return false
}

func (c *conn) handleJoin(data []byte, ref string) bool {
	if c.session != nil {
		c.sendError(protocol.Error{Code: protocol.CodeAlreadyJoined, Message: "this connection has already joined a room; open another connection to join another", Ref: ref})
		return false
	}
	var j protocol.Join
	if err := json.Unmarshal(data, &j); err != nil {
		c.closeWith(protocol.Error{Code: protocol.CodeBadRequest, Message: "malformed join: " + jsonProblem(err), Ref: ref})
		return true
	}
	if j.Version != protocol.Version {
		c.closeWith(protocol.Error{Code: protocol.CodeUnsupportedVersion, Message: fmt.Sprintf("protocol version %d is not supported; this server speaks version %d", j.Version, protocol.Version), Ref: ref})
		return true
	}
	if !c.s.limits.allowJoin(c.ip, time.Now()) {
		c.s.stats.rateLimited.Add(1)
		c.closeWith(protocol.Error{Code: protocol.CodeRateLimited, Message: "too many joins from your address; wait a minute", Ref: ref})
		return true
	}
	name, err := validateJoin(&j)
	if err != nil {
		c.closeWith(protocol.Error{Code: protocol.CodeBadRequest, Message: err.Error(), Ref: ref})
		return true
	}
	host := false
	if v := c.s.opts.Tokens; v != nil {
		claims, err := v.Verify(j.Token, j.Room)
		if err != nil {
			c.s.opts.Logger.Info("join refused", "room", j.Room, "remote", c.ip, "err", err)
			c.closeWith(protocol.Error{Code: protocol.CodeUnauthorized, Message: err.Error(), Ref: ref})
			return true
		}
		host = claims.Grants.Host
		if claims.Name != "" { // the app's backend decides the display name
			if name, err = validateName(claims.Name); err != nil {
				c.closeWith(protocol.Error{Code: protocol.CodeUnauthorized, Message: "malformed access token: " + err.Error(), Ref: ref})
				return true
			}
		}
	}
	c.room = j.Room
	c.hold()
	req := room.JoinRequest{Room: j.Room, Name: name, State: j.State, Sink: c, ResumeToken: j.Resume, Host: host}
	sess, err := c.s.opts.Backend.Join(context.Background(), req)
	if err != nil {
		c.release(nil)
		e := errorFor(err)
		e.Ref = ref
		if errors.Is(err, room.ErrRoomFull) {
			e.Message = fmt.Sprintf("room %q is full (%d participants at most)", j.Room, c.s.opts.MaxParticipants)
		}
		c.closeWith(e)
		return true
	}
	c.session = sess
	c.joined.Store(true)
	var first any = protocol.Lobby{Type: protocol.TypeLobby, Message: "the room is locked; waiting for a host to let you in"}
	if !sess.Waiting() {
		first = c.joinedFrame(sess.Welcome())
	}
	b, err := json.Marshal(first)
	if err != nil {
		c.release(nil)
		c.closeWith(protocol.Error{Code: protocol.CodeInternal, Message: "internal server error", Ref: ref})
		return true
	}
	c.release(b)
	return false
}

// joinedFrame builds joined for a participant entering its room.
func (c *conn) joinedFrame(w room.Welcome) protocol.Joined {
	joined := protocol.Joined{
		Type:            protocol.TypeJoined,
		Version:         protocol.Version,
		Room:            c.room,
		Self:            w.Self,
		Participants:    w.Others,
		ICEServers:      []protocol.ICEServer{},
		PingIntervalMS:  int(c.s.opts.PingInterval.Milliseconds()),
		MaxParticipants: c.s.opts.MaxParticipants,
		ResumeToken:     w.ResumeToken,
		Resumed:         w.Resumed,
		ResumeGraceMS:   int(c.s.opts.ResumeGrace.Milliseconds()),
		Locked:          w.Locked,
	}
	if c.s.opts.ICEServers != nil {
		servers, expires := c.s.opts.ICEServers(c.host, w.Self.ID)
		joined.ICEServers = append(joined.ICEServers, servers...)
		if !expires.IsZero() {
			joined.ICEServersExpireAt = expires.UnixMilli()
		}
	}
	return joined
}

// handleControl performs a host's room-control request.
func (c *conn) handleControl(env *protocol.Envelope, data []byte) {
	var err error
	if env.Type == protocol.TypeLock {
		var l protocol.Lock
		if err = json.Unmarshal(data, &l); err != nil {
			c.sendError(protocol.Error{Code: protocol.CodeBadRequest, Message: "malformed lock: " + jsonProblem(err), Ref: env.ID})
			return
		}
		err = c.session.Lock(l.Locked)
	} else {
		var tg protocol.Target
		if err = json.Unmarshal(data, &tg); err != nil {
			c.sendError(protocol.Error{Code: protocol.CodeBadRequest, Message: "malformed " + env.Type + ": " + jsonProblem(err), Ref: env.ID})
			return
		}
		if tg.Participant == "" && env.Type != protocol.TypeMute {
			c.sendError(protocol.Error{Code: protocol.CodeBadRequest, Message: fmt.Sprintf(`%s needs "participant"`, env.Type), Ref: env.ID})
			return
		}
		switch env.Type {
		case protocol.TypeAdmit:
			err = c.session.Admit(tg.Participant)
		case protocol.TypeDeny:
			err = c.session.Deny(tg.Participant)
		case protocol.TypeRemove:
			err = c.session.Remove(tg.Participant)
		case protocol.TypeMute:
			err = c.session.Mute(tg.Participant)
		}
	}
	if err != nil {
		e := errorFor(err)
		e.Ref = env.ID
		c.sendError(e)
	}
}

// pongFrame answers ping. Frames are never modified once sent.
var pongFrame = []byte(`{"type":"pong"}`)

// handleRelay forwards an offer, answer or candidate. ascii reports that
// the frame is known to be ASCII; otherwise the payload, which is forwarded
// as it is, must be valid UTF-8: browsers fail a WebSocket that receives
// invalid UTF-8 in a text frame (RFC 6455 section 8.1).
func (c *conn) handleRelay(env *protocol.Envelope, ascii bool) {
	if env.To == "" {
		c.sendError(protocol.Error{Code: protocol.CodeBadRequest, Message: fmt.Sprintf(`%s needs "to": the recipient's participant ID`, env.Type), Ref: env.ID})
		return
	}
	if len(env.Payload) == 0 || string(env.Payload) == "null" || env.Payload[0] != '{' {
		c.sendError(protocol.Error{Code: protocol.CodeBadRequest, Message: fmt.Sprintf(`%s needs "payload": a JSON object`, env.Type), Ref: env.ID})
		return
	}
	if !ascii && !utf8.Valid(env.Payload) {
		c.sendError(protocol.Error{Code: protocol.CodeBadRequest, Message: fmt.Sprintf(`%s "payload" is not valid UTF-8`, env.Type), Ref: env.ID})
		return
	}
	if err := c.session.Relay(env.Type, env.To, env.Payload); err != nil {
		e := errorFor(err)
		e.Ref = env.ID
		if errors.Is(err, room.ErrUnknownPeer) {
			e.Message = fmt.Sprintf("participant %q is not in this room", truncate(env.To, 64))
		}
		c.sendError(e)
		return
	}
	c.s.stats.messagesRelayed.Add(1)
}

func (c *conn) handleUpdate(data []byte, ref string) {
	var u protocol.Update
	if err := json.Unmarshal(data, &u); err != nil {
		c.sendError(protocol.Error{Code: protocol.CodeBadRequest, Message: "malformed update: " + jsonProblem(err), Ref: ref})
		return
	}
	name, err := validateName(u.Name)
	if err != nil {
		c.sendError(protocol.Error{Code: protocol.CodeBadRequest, Message: err.Error(), Ref: ref})
		return
	}
	if err := c.session.Update(name, u.State); err != nil {
		e := errorFor(err)
		e.Ref = ref
		c.sendError(e)
	}
}

// errorFor maps backend errors to protocol errors: the one place where
// internal errors become what users see.
func errorFor(err error) protocol.Error {
	switch {
	case errors.Is(err, room.ErrRoomFull):
		return protocol.Error{Code: protocol.CodeRoomFull, Message: "the room is full"}
	case errors.Is(err, room.ErrServerFull):
		return protocol.Error{Code: protocol.CodeServerFull, Message: "this server is at capacity; try again later"}
	case errors.Is(err, room.ErrUnknownPeer):
		return protocol.Error{Code: protocol.CodeUnknownPeer, Message: "no such participant in this room"}
	case errors.Is(err, room.ErrLeft):
		return protocol.Error{Code: protocol.CodeNotJoined, Message: "you have left the room"}
	case errors.Is(err, room.ErrWaiting):
		return protocol.Error{Code: protocol.CodeNotJoined, Message: "you are waiting in the lobby for a host to let you in"}
	case errors.Is(err, room.ErrForbidden):
		return protocol.Error{Code: protocol.CodeForbidden, Message: "only a host of the room may do this"}
	case errors.Is(err, room.ErrNotWaiting):
		return protocol.Error{Code: protocol.CodeUnknownPeer, Message: "no such participant is waiting in the lobby"}
	case errors.Is(err, room.ErrBadRelay):
		return protocol.Error{Code: protocol.CodeBadRequest, Message: err.Error()}
	case errors.Is(err, room.ErrUnavailable):
		return protocol.Error{Code: protocol.CodeUnavailable, Message: "the room service is unavailable; try again shortly"}
	default:
		return protocol.Error{Code: protocol.CodeInternal, Message: "internal server error"}
	}
}

// jsonProblem describes a decode error without echoing the input back.
func jsonProblem(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("invalid JSON at byte %d", se.Offset)
	case errors.As(err, &te):
		if te.Field != "" {
			return fmt.Sprintf("field %q must be %s, not %s", te.Field, te.Type, te.Value)
		}
		return fmt.Sprintf("expected a JSON object, got %s", te.Value)
	default:
		return "invalid JSON"
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
