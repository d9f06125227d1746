package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/peercall/peercall/protocol"
)

// The signaling connection: dial and join, one reader and one writer per
// connection, and a supervisor that reconnects and resumes the session when
// Config.Reconnect is set.

const (
	// dialTimeout bounds each reconnect attempt (dial and join).
	dialTimeout = 10 * time.Second
	// defaultResumeGrace is how long reconnecting is tried if the server
	// announces no resume grace period.
	defaultResumeGrace = 25 * time.Second
	// Reconnect backoff: doubling from the first to the largest wait.
	firstBackoff = 100 * time.Millisecond
	maxBackoff   = 2 * time.Second
)

// errLeft ends a connection after Close sent leave.
var errLeft = errors.New("left")

// dial opens a WebSocket to the server and joins; resume is a resume token
// or "". lobby, if not nil, lets the join wait in the lobby of a locked
// room. A refusal is returned as *Error.
func (r *Room) dial(ctx context.Context, resume string, lobby *lobbyWait) (*websocket.Conn, *handshakeResult, error) {
	conn, _, err := websocket.Dial(ctx, r.wsURL, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: dial %s: %w", ErrDisconnected, r.wsURL, err)
	}
	conn.SetReadLimit(readLimit)
	hs, err := handshake(ctx, conn, r.cfg, resume, lobby)
	if err != nil {
		_ = conn.CloseNow()
		return nil, nil, err
	}
	return conn, hs, nil
}

// lobbyWait lets a join wait in the lobby of a locked room.
type lobbyWait struct {
	ctx     context.Context // bounds the wait once in the lobby
	onLobby func()          // optional; called on entering the lobby
}

// handshakeResult is what a join got.
type handshakeResult struct {
	joined *protocol.Joined
	// early are room frames that arrived after lobby, before joined.
	early [][]byte
	// unanswered counts pings sent in the lobby whose pong has not
	// arrived: the pongs still to come on the connection.
	unanswered uint64
}

const (
	// lobbyPingInterval is how often a join waiting in the lobby pings.
	// joined announces the server's interval; lobby does not, so ping
	// well within three of the default 5 s.
	lobbyPingInterval = time.Second
	// lobbySilence is how long a server may stay silent (no pong) while
	// the join waits in the lobby.
	lobbySilence = 15 * time.Second
)

// handshake sends join and waits for joined or a refusal; with lobby, also
// through a wait in the lobby.
func handshake(ctx context.Context, conn *websocket.Conn, cfg Config, resume string, lobby *lobbyWait) (*handshakeResult, error) {
	join, err := json.Marshal(protocol.Join{
		Type:    protocol.TypeJoin,
		Version: protocol.Version,
		Room:    cfg.Room,
		Name:    cfg.Name,
		State:   cfg.State,
		Token:   cfg.Token,
		Resume:  resume,
	})
	if err != nil {
		return nil, err
	}
	if err := conn.Write(ctx, websocket.MessageText, join); err != nil {
		return nil, fmt.Errorf("%w: send join: %w", ErrDisconnected, err)
	}
	res := &handshakeResult{}
	readCtx := ctx
	var pinger *lobbyPinger
	defer func() {
		if pinger != nil {
			pinger.stop()
		}
	}()
	var pongs uint64
	for {
		_, b, err := conn.Read(readCtx)
		if err != nil {
			if pinger != nil {
				if cause := context.Cause(readCtx); errors.Is(cause, ErrServerTimeout) {
					return nil, cause
				}
				if err := lobby.ctx.Err(); err != nil {
					return nil, fmt.Errorf("peercall: gave up waiting in the lobby: %w", err)
				}
				return nil, fmt.Errorf("%w: waiting in the lobby: %w", ErrDisconnected, err)
			}
			return nil, fmt.Errorf("%w: waiting for joined: %w", ErrDisconnected, err)
		}
		if pinger != nil {
			pinger.heard()
		}
		var env protocol.Envelope
		if err := json.Unmarshal(b, &env); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrProtocol, err)
		}
		switch env.Type {
		case protocol.TypeJoined:
			var j protocol.Joined
			if err := json.Unmarshal(b, &j); err != nil {
				return nil, fmt.Errorf("%w: joined: %w", ErrProtocol, err)
			}
			res.joined = &j
			if pinger != nil {
				res.unanswered = pinger.stop() - pongs
			}
			return res, nil
		case protocol.TypeError:
			var e protocol.Error
			if err := json.Unmarshal(b, &e); err != nil {
				return nil, fmt.Errorf("%w: error: %w", ErrProtocol, err)
			}
			if e.Fatal || pinger == nil {
				return nil, errorFromFrame(e)
			}
			// A non-fatal error in the lobby (say, rate_limited): keep waiting.
		case protocol.TypeLobby:
			if lobby == nil {
				return nil, errNotResumed
			}
			if pinger == nil {
				var cancel context.CancelCauseFunc
				readCtx, cancel = context.WithCancelCause(lobby.ctx)
				defer cancel(nil)
				pinger = startLobbyPinger(conn, cancel)
				if lobby.onLobby != nil {
					lobby.onLobby()
				}
			}
		case protocol.TypePong:
			pongs++
		default:
			if pinger != nil {
				res.early = append(res.early, b)
			}
			// Otherwise nothing is expected before joined; skip it.
		}
	}
}

// lobbyPinger keeps a join waiting in the lobby alive, and gives up on a
// server that stops answering.
type lobbyPinger struct {
	conn      *websocket.Conn
	cancel    context.CancelCauseFunc // ends the wait, with ErrServerTimeout
	done      chan struct{}           // closed by stop
	exited    chan struct{}           // closed when the goroutine returns
	lastHeard atomic.Int64            // UnixNano
	sent      atomic.Uint64
}

func startLobbyPinger(conn *websocket.Conn, cancel context.CancelCauseFunc) *lobbyPinger {
	lp := &lobbyPinger{conn: conn, cancel: cancel, done: make(chan struct{}), exited: make(chan struct{})}
	lp.heard()
	go lp.run()
	return lp
}

func (lp *lobbyPinger) heard() { lp.lastHeard.Store(time.Now().UnixNano()) }

func (lp *lobbyPinger) run() {
	defer close(lp.exited)
	ping, _ := json.Marshal(protocol.Envelope{Type: protocol.TypePing})
	t := time.NewTicker(lobbyPingInterval)
	defer t.Stop()
	for {
		select {
		case <-lp.done:
			return
		case <-t.C:
		}
		if time.Since(time.Unix(0, lp.lastHeard.Load())) > lobbySilence {
			lp.cancel(ErrServerTimeout)
			return
		}
		// Not canceled by stop: canceling a write closes the connection.
		lp.sent.Add(1)
		ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
		err := lp.conn.Write(ctx, websocket.MessageText, ping)
		cancel()
		if err != nil {
			return // the reader sees the connection fail
		}
	}
}

// stop ends the pinger, waits for it and returns how many pings it sent.
// Idempotent.
func (lp *lobbyPinger) stop() uint64 {
	select {
	case <-lp.done:
	default:
		close(lp.done)
	}
	<-lp.exited
	return lp.sent.Load()
}

// supervise serves connections until the room ends: the first one from
// Join, then, with Config.Reconnect, resumed ones.
func (r *Room) supervise(conn *websocket.Conn, unanswered uint64) {
	defer r.wg.Done()
	for {
		err := r.serve(conn, unanswered)
		unanswered = 0
		if r.isEnded() {
			return
		}
		if !r.cfg.Reconnect || !resumable(err) {
			r.end(err)
			return
		}
		r.log.Info("signaling connection lost; resuming", "err", err)
		if conn = r.reconnect(err); conn == nil {
			return
		}
	}
}

// probeTimeout is how long a liveness probe of the signaling connection
// (sent when a media path breaks) waits for any answer.
const probeTimeout = 3 * time.Second

// probeSignaling asks the writer to check the signaling connection now.
func (r *Room) probeSignaling() {
	select {
	case r.probe <- struct{}{}:
	default:
	}
}

// resumable reports whether a connection that ended with err is worth
// resuming: network trouble and server restarts are, refusals are not.
func resumable(err error) bool {
	if notResumed(err) {
		return false
	}
	var e *Error
	if !errors.As(err, &e) {
		return true
	}
	switch e.Code {
	case protocol.CodeServerShutdown, protocol.CodeTimeout, protocol.CodeSlowConsumer, protocol.CodeUnavailable:
		return true
	}
	return false
}

// reconnect dials and resumes the session with backoff until it works, the
// resume grace period is over, or the room is closed. It returns the new
// connection, or nil after ending the room (or if it was closed).
func (r *Room) reconnect(cause error) *websocket.Conn {
	r.connMu.Lock()
	r.conn = nil
	r.connMu.Unlock()
	r.mu.Lock()
	grace, token := r.resumeGrace, r.resumeToken
	r.mu.Unlock()
	if grace <= 0 {
		grace = defaultResumeGrace
	}
	deadline := time.Now().Add(grace)
	backoff := firstBackoff
	for {
		t := time.NewTimer(backoff)
		select {
		case <-r.leaveCtx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(r.leaveCtx, dialTimeout)
		conn, hs, err := r.dial(ctx, token, nil)
		cancel()
		if err == nil {
			if err := r.resumed(hs.joined); err != nil {
				_ = conn.CloseNow()
				r.end(err)
				return nil
			}
			r.connMu.Lock()
			r.conn = conn
			r.connMu.Unlock()
			if r.isEnded() { // closed while we resumed: leave properly
				r.leave()
			}
			r.log.Info("session resumed")
			return conn
		}
		if r.leaveCtx.Err() != nil {
			return nil
		}
		if !resumable(err) {
			r.end(err)
			return nil
		}
		if time.Now().After(deadline) {
			r.end(fmt.Errorf("%w (resuming failed: %w)", cause, err))
			return nil
		}
		r.log.Debug("resume attempt failed", "err", err)
		backoff = min(2*backoff, maxBackoff)
	}
}

// resumed reconciles the room with the joined frame of a resumed session.
// Listed peers not known are new (and make the first offer, as newcomers
// do). Known peers not listed are kept for the resume grace period, shown as
// reconnecting: after a server restart every participant comes back on its
// own, and their peer connections, which never depended on the server,
// carry on; the ones that do not come back in time are dropped. (Peers that
// left while we were away are announced by the frames held for us.)
func (r *Room) resumed(j *protocol.Joined) error {
	r.mu.Lock()
	if !j.Resumed || j.Self.ID != r.self.ID {
		r.mu.Unlock()
		return errNotResumed
	}
	r.applyJoinedLocked(j)
	listed := make(map[string]protocol.Participant, len(j.Participants))
	for _, part := range j.Participants {
		listed[part.ID] = part
	}
	var missing []*Peer
	for id, p := range r.peers {
		if _, ok := listed[id]; !ok {
			missing = append(missing, p)
			if r.unconfirmed == nil {
				r.unconfirmed = map[string]bool{}
			}
			r.unconfirmed[id] = true
		}
	}
	known := make(map[string]*Peer, len(r.peers))
	for id, p := range r.peers {
		known[id] = p
	}
	grace := r.resumeGrace
	r.mu.Unlock()

	for _, p := range missing {
		p.mu.Lock()
		changed := !p.reconnect
		p.reconnect = true
		p.mu.Unlock()
		if changed && r.cfg.OnPeerUpdated != nil {
			r.emit(func() { r.cfg.OnPeerUpdated(p) })
		}
	}
	if len(missing) > 0 {
		if grace <= 0 {
			grace = 25 * time.Second
		}
		time.AfterFunc(grace, r.dropUnconfirmed)
	}
	for _, part := range j.Participants {
		if p := known[part.ID]; p != nil {
			r.updatePeer(p, part)
			// A network change that broke signaling likely broke the media
			// path too, and an offer (an ICE restart) sent meanwhile may have
			// been lost with the old socket.
			p.inbox.push(peerEvent{kind: evResync})
		} else {
			r.addPeer(part, false)
		}
	}
	return nil
}

// dropUnconfirmed removes the peers that a resume left unconfirmed and
// that have not come back since.
func (r *Room) dropUnconfirmed() {
	r.mu.Lock()
	if r.ended {
		r.mu.Unlock()
		return
	}
	var gone []*Peer
	for id := range r.unconfirmed {
		if p := r.peers[id]; p != nil {
			gone = append(gone, p)
			delete(r.peers, id)
		}
	}
	r.unconfirmed = nil
	r.mu.Unlock()
	for _, p := range gone {
		p.close()
		if r.cfg.OnPeerLeft != nil {
			r.emit(func() { r.cfg.OnPeerLeft(p, protocol.LeftReasonTimeout) })
		}
	}
}

// serve runs one connection until it ends and returns why.
func (r *Room) serve(conn *websocket.Conn, unanswered uint64) error {
	ctx, cancel := context.WithCancel(r.ctx)
	defer cancel()
	r.lastHeard.Store(time.Now().UnixNano())
	r.resetPings(unanswered)
	werr := make(chan error, 1)
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		werr <- r.writeLoop(ctx, conn)
	}()
	rerr := r.readLoop(ctx, conn)
	cancel()
	_ = conn.CloseNow()
	w := <-werr
	// Requests sent on this connection and not answered may or may not
	// have been carried out; those still queued go out on the next one.
	r.failTaken(fmt.Errorf("%w: the connection ended before the server answered", ErrDisconnected))
	var se *Error
	switch {
	case errors.As(rerr, &se):
		return rerr // a fatal error frame says it best
	case errors.Is(w, errLeft):
		return nil
	case w != nil:
		return w
	}
	return rerr
}

// writeLoop is the connection's only writer. It also sends pings and
// notices a silent server. It returns why the connection should end, nil
// if ctx ended it, errLeft after sending leave for Close.
func (r *Room) writeLoop(ctx context.Context, conn *websocket.Conn) error {
	ping := pingFrame
	r.mu.Lock()
	interval := r.pingInterval
	r.mu.Unlock()
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	fail := func(err error) error {
		_ = conn.CloseNow() // unblocks the reader
		return err
	}
	// Frames queued while there was no connection.
	if err := r.flush(ctx, conn); err != nil {
		return fail(fmt.Errorf("%w: %w", ErrDisconnected, err))
	}
	var probeSent time.Time
	var probeDue <-chan time.Time // set while a liveness probe is out
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-r.probe:
			// A media path broke: the network may have changed under the
			// signaling socket too. Ping now instead of waiting for the
			// keepalive to notice.
			if probeDue != nil {
				continue
			}
			r.pingWritten(nil)
			if err := write(ctx, conn, ping); err != nil {
				return fail(fmt.Errorf("%w: %w", ErrDisconnected, err))
			}
			probeSent = time.Now()
			probeDue = time.After(probeTimeout)
		case <-probeDue:
			probeDue = nil
			if time.Unix(0, r.lastHeard.Load()).Before(probeSent) {
				return fail(ErrServerTimeout)
			}
		case <-r.leaveCtx.Done():
			if r.ctx.Err() != nil {
				return nil // the room ended some other way
			}
			_ = r.flush(ctx, conn)
			leave, _ := json.Marshal(protocol.Envelope{Type: protocol.TypeLeave})
			lctx, lcancel := context.WithTimeout(ctx, leaveTimeout)
			err := conn.Write(lctx, websocket.MessageText, leave)
			lcancel()
			if err == nil {
				_ = conn.Close(websocket.StatusNormalClosure, "leave")
			}
			return fail(errLeft)
		case <-r.out.wake:
			if err := r.flush(ctx, conn); err != nil {
				return fail(fmt.Errorf("%w: %w", ErrDisconnected, err))
			}
		case <-ticker.C:
			if time.Since(time.Unix(0, r.lastHeard.Load())) > 3*interval {
				return fail(ErrServerTimeout)
			}
			r.pingWritten(nil)
			if err := write(ctx, conn, ping); err != nil {
				return fail(fmt.Errorf("%w: %w", ErrDisconnected, err))
			}
		}
	}
}

// flush writes every queued frame, each host-control request followed by a
// ping (see control.go). Frames after a failed write are dropped; requests
// among them fail.
func (r *Room) flush(ctx context.Context, conn *websocket.Conn) error {
	frames, _ := r.out.take()
	for i, f := range frames {
		if f.req != nil && !r.takeRequest(f.req) {
			continue // the caller gave up on it
		}
		err := write(ctx, conn, f.b)
		if err == nil && f.req != nil {
			r.pingWritten(f.req)
			err = write(ctx, conn, pingFrame)
		}
		if err != nil {
			for _, rest := range frames[i+1:] {
				if rest.req != nil {
					r.failRequest(rest.req, fmt.Errorf("%w: %s not sent: %w", ErrDisconnected, rest.req.typ, err))
				}
			}
			return err
		}
	}
	return nil
}

var pingFrame = []byte(`{"type":"ping"}`)

func write(ctx context.Context, conn *websocket.Conn, b []byte) error {
	ctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	return conn.Write(ctx, websocket.MessageText, b)
}

// readLoop is the connection's only reader. It returns why the connection
// ended.
func (r *Room) readLoop(ctx context.Context, conn *websocket.Conn) error {
	for {
		_, b, err := conn.Read(ctx)
		if err != nil {
			if websocket.CloseStatus(err) != -1 || errors.Is(err, io.EOF) {
				return fmt.Errorf("%w: server closed the connection (%w)", ErrDisconnected, err)
			}
			return fmt.Errorf("%w: %w", ErrDisconnected, err)
		}
		r.lastHeard.Store(time.Now().UnixNano())
		if err := r.handleFrame(b); err != nil {
			return err
		}
	}
}

// handleFrame acts on one frame from the server; an error ends the
// connection.
func (r *Room) handleFrame(b []byte) error {
	var env protocol.Envelope
	if err := json.Unmarshal(b, &env); err != nil {
		r.log.Warn("undecodable frame from server", "err", err)
		return nil
	}
	switch env.Type {
	case protocol.TypePong:
		r.pongRead()
	case protocol.TypeKnock:
		r.handleKnock(b)
	case protocol.TypeKnockEnded:
		r.handleKnockEnded(b)
	case protocol.TypeRoomUpdated:
		r.handleRoomUpdated(b)
	case protocol.TypeMuteRequest:
		r.handleMuteRequest(b)
	case protocol.TypeOffer, protocol.TypeAnswer, protocol.TypeCandidate:
		var rel protocol.Relay
		if err := json.Unmarshal(b, &rel); err != nil {
			r.log.Warn("bad relay frame", "err", err)
			return nil
		}
		if p := r.Peer(rel.From); p != nil {
			p.deliver(rel.Type, rel.Payload)
		} else {
			r.log.Warn("relay frame from unknown peer", "type", rel.Type, "from", rel.From)
		}
	case protocol.TypePeerJoined:
		var m protocol.PeerJoined
		if err := json.Unmarshal(b, &m); err != nil {
			r.log.Warn("bad peer_joined", "err", err)
			return nil
		}
		if p := r.Peer(m.Participant.ID); p != nil {
			// Known already: a restarted server re-creating participants.
			// Keep the connection.
			r.updatePeer(p, m.Participant)
			return nil
		}
		r.addPeer(m.Participant, false)
	case protocol.TypePeerUpdated:
		var m protocol.PeerUpdated
		if err := json.Unmarshal(b, &m); err != nil {
			r.log.Warn("bad peer_updated", "err", err)
			return nil
		}
		if p := r.Peer(m.Participant.ID); p != nil {
			r.updatePeer(p, m.Participant)
		} else if m.Participant.ID == r.Self().ID {
			r.updateSelf(m.Participant)
		}
	case protocol.TypePeerLeft:
		var m protocol.PeerLeft
		if err := json.Unmarshal(b, &m); err != nil {
			r.log.Warn("bad peer_left", "err", err)
			return nil
		}
		r.mu.Lock()
		p := r.peers[m.ID]
		delete(r.peers, m.ID)
		r.mu.Unlock()
		if p != nil {
			p.close()
			if r.cfg.OnPeerLeft != nil {
				r.emit(func() { r.cfg.OnPeerLeft(p, m.Reason) })
			}
		}
	case protocol.TypeError:
		var m protocol.Error
		if err := json.Unmarshal(b, &m); err != nil {
			r.log.Warn("bad error frame", "err", err)
			return nil
		}
		if m.Fatal {
			return errorFromFrame(m)
		}
		r.serverError(m)
	default:
		r.log.Debug("ignoring frame", "type", env.Type)
	}
	return nil
}
