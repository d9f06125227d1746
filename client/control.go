package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/peercall/peercall/protocol"
)

// Host controls (docs/protocol.md, "Room control (hosts)").
//
// The server never acknowledges a control request; it only refuses one,
// with a non-fatal error frame whose ref is the request's id. It handles a
// connection's frames one at a time, in order, and queues its answers (the
// error, the pong to a ping) in that same order. So the writer follows
// every request with a ping: when the pong to that ping arrives and no
// error for the request came before it, the server has carried the request
// out. Pings and pongs are counted per connection to tell which pong
// answers which ping.

// controlTimeout bounds a host-control call whose context has no deadline.
const controlTimeout = 10 * time.Second

// request is a host-control request waiting for the server's verdict.
type request struct {
	id   string
	typ  string
	done chan struct{} // closed by resolve
	err  error         // set before done is closed

	// Guarded by Room.reqMu.
	taken     bool   // the writer took the frame: it may reach the server
	abandoned bool   // the caller gave up before the writer took it: never sent
	pong      uint64 // the number of the ping written after it; 0 until then
}

// Lock locks (true) or unlocks (false) the room. While it is locked, new
// joiners wait in the lobby and hosts get OnKnock; unlocking admits
// everyone waiting. Everyone in the room gets OnRoomUpdated.
//
// Lock and the other host controls (Admit, Deny, Remove, Mute) return once
// the server has carried out the request: nil, or the server's refusal as
// an *Error, e.g. protocol.CodeForbidden when this participant is not a
// host (see Room.Self().Host) or protocol.CodeUnknownPeer for an ID that is
// not in the room (or, for Admit and Deny, not in the lobby). ctx bounds the
// wait (10 s if it has no deadline). Any other error means the outcome is
// unknown: ErrClosed if the room ended, an error wrapping ErrDisconnected if
// the signaling connection dropped after sending the request, or ctx's
// error (a request not yet sent by then is not sent at all). Errors these
// calls return are not also given to Config.OnError. They may be called
// from a callback: they wait for the server, not for the event goroutine
// (which they hold up meanwhile).
func (r *Room) Lock(ctx context.Context, locked bool) error {
	return r.request(ctx, protocol.TypeLock, func(id string) any {
		return protocol.Lock{Type: protocol.TypeLock, ID: id, Locked: locked}
	})
}

// Admit lets the participant with the given ID (from OnKnock or Knocks)
// in from the lobby: its Join returns, and everyone gets OnPeerJoined. The
// result is as for Lock.
func (r *Room) Admit(ctx context.Context, id string) error {
	return r.target(ctx, protocol.TypeAdmit, id)
}

// Deny turns the participant with the given ID away from the lobby: its Join
// fails with code protocol.CodeDenied. The result is as for Lock.
func (r *Room) Deny(ctx context.Context, id string) error {
	return r.target(ctx, protocol.TypeDeny, id)
}

// Remove removes the participant with the given ID from the room: its room
// ends with code protocol.CodeRemoved (and it cannot resume its session),
// the others get OnPeerLeft with reason protocol.LeftReasonRemoved. The
// result is as for Lock.
func (r *Room) Remove(ctx context.Context, id string) error {
	return r.target(ctx, protocol.TypeRemove, id)
}

// Mute asks the participant with the given ID, or with id "" everyone else,
// to mute its microphone: browsers mute at once (the user may unmute
// again); Go clients get OnMuteRequest. The result is as for Lock.
func (r *Room) Mute(ctx context.Context, id string) error {
	return r.target(ctx, protocol.TypeMute, id)
}

func (r *Room) target(ctx context.Context, typ, participant string) error {
	return r.request(ctx, typ, func(id string) any {
		return protocol.Target{Type: typ, ID: id, Participant: participant}
	})
}

// Locked reports whether the room is locked: new joiners wait in the lobby.
func (r *Room) Locked() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.locked
}

// Knocks returns the participants waiting in the lobby, oldest first, as
// far as this participant knows: the server tells only hosts (OnKnock,
// OnKnockEnded), so for others it is empty.
func (r *Room) Knocks() []protocol.Participant {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.knocks)
}

// request sends the frame made by frame (given the request ID) and waits
// for the server's verdict.
func (r *Room) request(ctx context.Context, typ string, frame func(id string) any) error {
	r.reqMu.Lock()
	r.nextReq++
	id := typ + "-" + strconv.FormatUint(r.nextReq, 10)
	r.reqMu.Unlock()
	b, err := json.Marshal(frame(id))
	if err != nil {
		return err
	}
	req := &request{id: id, typ: typ, done: make(chan struct{})}
	r.mu.Lock()
	if r.ended {
		r.mu.Unlock()
		return ErrClosed
	}
	r.reqMu.Lock()
	r.reqs[id] = req
	r.reqMu.Unlock()
	r.out.push(outFrame{b: b, req: req})
	r.mu.Unlock()

	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, controlTimeout)
		defer cancel()
	}
	var cause error
	select {
	case <-req.done:
		return req.err
	case <-ctx.Done():
		cause = ctx.Err()
	case <-r.done:
		cause = ErrClosed
	}
	r.reqMu.Lock()
	defer r.reqMu.Unlock()
	select {
	case <-req.done: // answered meanwhile
		return req.err
	default:
	}
	delete(r.reqs, id)
	if !req.taken {
		req.abandoned = true
		return fmt.Errorf("peercall: %s not sent: %w", typ, cause)
	}
	return fmt.Errorf("peercall: no answer to %s (it may have taken effect): %w", typ, cause)
}

// resolveLocked gives req its verdict. r.reqMu must be held.
func (r *Room) resolveLocked(req *request, err error) {
	delete(r.reqs, req.id)
	req.err = err
	close(req.done)
}

// takeRequest is called by the writer before writing req's frame; false
// means the caller gave up, and the frame must not be sent.
func (r *Room) takeRequest(req *request) bool {
	r.reqMu.Lock()
	defer r.reqMu.Unlock()
	if req.abandoned {
		return false
	}
	req.taken = true
	return true
}

// pingWritten counts a ping about to be written on the current connection;
// req, if not nil, is the request the ping follows.
func (r *Room) pingWritten(req *request) {
	r.reqMu.Lock()
	defer r.reqMu.Unlock()
	r.pings++
	if req != nil {
		req.pong = r.pings
	}
}

// pongRead counts a pong: every request whose ping it answers (or came
// before) succeeded.
func (r *Room) pongRead() {
	r.reqMu.Lock()
	defer r.reqMu.Unlock()
	r.pongs++
	for _, req := range r.reqs {
		if req.pong != 0 && req.pong <= r.pongs {
			r.resolveLocked(req, nil)
		}
	}
}

// resetPings starts counting on a new connection, unanswered pings already
// written to it.
func (r *Room) resetPings(unanswered uint64) {
	r.reqMu.Lock()
	defer r.reqMu.Unlock()
	r.pings, r.pongs = unanswered, 0
}

// failTaken fails every request that may have reached the server without
// an answer: the connection it was sent on ended, or the server dropped a
// frame (rate_limited) without saying which.
func (r *Room) failTaken(err error) {
	r.reqMu.Lock()
	defer r.reqMu.Unlock()
	for _, req := range r.reqs {
		if req.taken {
			r.resolveLocked(req, err)
		}
	}
}

// failRequest fails a request whose frame could not be written.
func (r *Room) failRequest(req *request, err error) {
	r.reqMu.Lock()
	defer r.reqMu.Unlock()
	if _, ok := r.reqs[req.id]; ok {
		r.resolveLocked(req, err)
	}
}

// serverError handles a non-fatal error frame: the answer to a request, or
// something for OnError.
func (r *Room) serverError(m protocol.Error) {
	e := errorFromFrame(m)
	if m.Ref != "" {
		r.reqMu.Lock()
		req := r.reqs[m.Ref]
		if req != nil {
			r.resolveLocked(req, e)
		}
		r.reqMu.Unlock()
		if req != nil {
			return
		}
	}
	if m.Code == protocol.CodeRateLimited {
		// The server dropped a frame and cannot say which: a request
		// waiting for its pong may be the one.
		r.failTaken(e)
	}
	r.log.Warn("server error", "code", m.Code, "message", m.Message, "ref", m.Ref)
	if r.cfg.OnError != nil {
		r.emit(func() { r.cfg.OnError(e) })
	}
}

// Room-control frames from the server.

func (r *Room) handleKnock(b []byte) {
	var m protocol.Knock
	if err := json.Unmarshal(b, &m); err != nil || m.Participant.ID == "" {
		r.log.Warn("bad knock", "err", err)
		return
	}
	r.mu.Lock()
	i := slices.IndexFunc(r.knocks, func(k protocol.Participant) bool { return k.ID == m.Participant.ID })
	if i >= 0 { // told again, e.g. after resuming
		r.knocks[i] = m.Participant
		r.mu.Unlock()
		return
	}
	r.knocks = append(r.knocks, m.Participant)
	r.mu.Unlock()
	if r.cfg.OnKnock != nil {
		r.emit(func() { r.cfg.OnKnock(m.Participant) })
	}
}

func (r *Room) handleKnockEnded(b []byte) {
	var m protocol.KnockEnded
	if err := json.Unmarshal(b, &m); err != nil {
		r.log.Warn("bad knock_ended", "err", err)
		return
	}
	r.mu.Lock()
	r.knocks = slices.DeleteFunc(r.knocks, func(k protocol.Participant) bool { return k.ID == m.ID })
	r.mu.Unlock()
	if r.cfg.OnKnockEnded != nil {
		r.emit(func() { r.cfg.OnKnockEnded(m.ID, m.Outcome) })
	}
}

func (r *Room) handleRoomUpdated(b []byte) {
	var m protocol.RoomUpdated
	if err := json.Unmarshal(b, &m); err != nil {
		r.log.Warn("bad room_updated", "err", err)
		return
	}
	r.mu.Lock()
	r.locked = m.Locked
	r.mu.Unlock()
	if r.cfg.OnRoomUpdated != nil {
		r.emit(func() { r.cfg.OnRoomUpdated(m.Locked, m.By) })
	}
}

func (r *Room) handleMuteRequest(b []byte) {
	var m protocol.MuteRequest
	if err := json.Unmarshal(b, &m); err != nil {
		r.log.Warn("bad mute_request", "err", err)
		return
	}
	r.log.Info("a host asks to mute the microphone", "from", m.From)
	if r.cfg.OnMuteRequest != nil {
		from := r.Peer(m.From)
		r.emit(func() { r.cfg.OnMuteRequest(from) })
	}
}

// updateSelf applies a peer_updated about this participant: the server
// made it host.
func (r *Room) updateSelf(part protocol.Participant) {
	r.mu.Lock()
	r.self.Host = part.Host
	r.mu.Unlock()
}

// errNotResumed ends a reconnect whose join was not answered as a resumed
// session.
var errNotResumed = fmt.Errorf("%w: the server did not resume the session", ErrDisconnected)

func notResumed(err error) bool { return errors.Is(err, errNotResumed) }
