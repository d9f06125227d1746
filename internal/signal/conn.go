package signal

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/peercall/peercall/internal/room"
	"github.com/peercall/peercall/protocol"
)

// conn is one participant's WebSocket, framed by this package (frame.go)
// on the hijacked connection.
//
// Reads: a reader goroutine (run) reads what the socket holds into a
// pooled buffer, handles every complete frame, and, when the socket is
// empty, parks the connection in the server's poller and ends. An idle
// connection therefore costs this struct and its socket: no goroutine, no
// buffer (the pooled one goes back once no frame is in flight), no timer
// (one sweeper per server checks keepalive). Where there is no poller
// (other systems, TLS), the reader waits in its read instead.
//
// Writes: Send frames a message and writes it at once with one write(2)
// that never waits (the socket is non-blocking), under mu, so that frames
// keep their order. Only when the kernel cannot take everything (the
// client reads slowly) does the rest wait in the queue, and a flush
// goroutine, existing only until the queue is empty, writes it in batches
// under a write deadline. A client whose queue reaches QueueLen frames, or
// whose write deadline passes, is disconnected as a slow consumer.
// Connections that are not plain sockets (TLS) always write through the
// flush goroutine.
type conn struct {
	s       *Server
	nc      net.Conn
	raw     syscall.RawConn       // nc's socket; nil for TLS
	readFn  func(fd uintptr) bool // c.rawRead, bound once
	writeFn func(fd uintptr) bool // c.rawWrite, bound once
	ip      string                // client address, for per-address limits
	host    string                // Host the client reached us at, for ICE server URLs
	start   int64                 // unix nanoseconds when accepted

	lastRead atomic.Int64 // unix nanoseconds of the last message read
	joined   atomic.Bool
	closingA atomic.Bool  // closing, readable without mu
	state    atomic.Int32 // connActive, connWoken, connParked or connDone
	hangup   atomic.Bool  // the poller saw the client close or reset
	tracked  bool         // counted in Server.conns; immutable after ServeHTTP
	counted  bool         // counted in the per-address limit; immutable after ServeHTTP
	poll     *poller      // where the connection parks when idle; nil: it does not
	pollID   uint64       // its key in poll

	// Reader goroutine only.
	in      *buffer // bytes read, in.b[r:w] not yet handled; nil while idle
	r, w    int
	rn      int   // result of the last rawRead
	rerr    error // result of the last rawRead
	skip    int64 // payload bytes of the current frame still to discard
	skipFin bool  // the frame being discarded ends an oversized message
	msgOp   byte  // opcode of the fragmented message in progress; 0 if none
	msgLen  int64 // its payload bytes so far
	tooBig  bool  // it is over MaxMessageBytes: the rest is discarded
	frag    *buffer
	fragLen int
	tokens  float64 // message rate limiter: a token bucket
	tokenAt int64   // unix nanoseconds of the last refill
	one     [1]byte // for connections without raw: waits for data without a buffer
	noWait  bool    // rawRead: do not wait for data
	eagain  bool    // rawRead found no data
	drained bool    // the last read emptied the socket (see poller_linux.go)
	armed   bool    // the socket is in poll's epoll set
	armErr  error
	armFn   func(fd uintptr) // c.armSocket, bound once
	session room.Session
	room    string // set before session; immutable after

	mu         sync.Mutex // guards the fields below
	queue      [][]byte   // messages waiting for the flush goroutine; nil while idle
	pending    []byte     // framed bytes to write before the queue: the rest of a partial write
	pendingBuf *buffer    // pending's pooled buffer
	holding    bool       // between joining the room and queueing joined
	early      [][]byte   // messages for the client that must follow joined
	flushing   bool       // a flush goroutine runs: it owns the socket's write side
	closing    bool       // no more messages: the close handshake has begun
	cl         *closeState
	wout       []byte // for rawWrite
	wn         int    // result of rawWrite
	werr       error  // result of rawWrite
}

// closeState is the closing handshake, allocated when it starts.
type closeState struct {
	final  protocol.Error // sent before the close frame if it has a code
	code   uint16         // close status; statusNoStatus: an empty close frame
	reason string
	// fail: the connection is failed (protocol violation, write error):
	// no waiting for the client's close frame.
	fail bool
	// noFrame: write nothing (the socket is broken).
	noFrame bool
	done    chan struct{} // closed once the close frame is written or abandoned
}

// closeTimeout bounds the wait for the client's close frame after ours.
const closeTimeout = 5 * time.Second

func newConn(s *Server, nc net.Conn, ip, host string) *conn {
	c := &conn{s: s, nc: nc, ip: ip, host: host, start: time.Now().UnixNano()}
	if c.raw = rawConn(nc); c.raw != nil {
		c.readFn, c.writeFn = c.rawRead, c.rawWrite
	}
	c.lastRead.Store(c.start)
	c.tokens, c.tokenAt = float64(s.opts.MessageBurst), c.start
	return c
}

// Send implements room.Sink. It never blocks: a client whose queue is full
// is not reading, and is disconnected.
func (c *conn) Send(frame []byte) {
	c.mu.Lock()
	if c.holding {
		c.early = append(c.early, frame)
	} else {
		c.sendLocked(frame)
	}
	c.mu.Unlock()
}

// hold makes Send keep frames back until release, so that joined is the
// first frame of a session even when the room talks to the new member
// before the transport has queued joined.
func (c *conn) hold() {
	c.mu.Lock()
	c.holding = true
	c.mu.Unlock()
}

// release sends first, then the frames held back, and resumes Send.
func (c *conn) release(first []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if first != nil {
		c.early = append([][]byte{first}, c.early...)
	}
	c.sendLocked(c.early...)
	c.early, c.holding = nil, false
}

// sendLocked writes messages now if the socket takes them, and queues what
// it does not take.
func (c *conn) sendLocked(msgs ...[]byte) {
	if c.closing || len(msgs) == 0 {
		return
	}
	if c.flushing || c.raw == nil {
		if len(c.queue)+len(msgs) > c.s.opts.QueueLen {
			c.s.stats.slowConsumers.Add(1)
			c.closeLocked(&closeState{final: protocol.Error{Code: protocol.CodeSlowConsumer, Message: "too many unread messages; the connection is not being read fast enough"}})
			return
		}
		c.queue = append(c.queue, msgs...)
		c.startFlushLocked()
		return
	}
	n := 0
	for _, m := range msgs {
		n += frameLen(len(m))
	}
	buf := getBuffer(n)
	b := buf.b[:0]
	for _, m := range msgs {
		b = appendFrame(b, opText, m)
	}
	c.wout = b
	err := c.raw.Write(c.writeFn)
	written, werr := c.wn, c.werr
	c.wout, c.wn, c.werr = nil, 0, nil
	if err == nil {
		err = werr
	}
	switch {
	case err != nil:
		putBuffer(buf)
		c.brokenLocked()
	case written == len(b):
		putBuffer(buf)
	default:
		c.pending, c.pendingBuf = b[written:], buf
		c.startFlushLocked()
	}
}

func (c *conn) startFlushLocked() {
	if !c.flushing {
		c.flushing = true
		go c.flush()
	}
}

// sendPong answers a ping frame.
func (c *conn) sendPong(payload []byte) {
	var b [2 + maxControlPayload]byte
	frame := appendFrame(b[:0], opPong, payload)
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.closing:
	case c.flushing || c.raw == nil:
		// Control frames may go between messages: before the queue.
		c.pending = append(c.pending, frame...)
		c.startFlushLocked()
	default:
		c.wout = frame
		err := c.raw.Write(c.writeFn)
		if err == nil {
			err = c.werr
		}
		if err != nil {
			c.brokenLocked()
		} else if c.wn != len(frame) {
			c.pending = append([]byte(nil), frame[c.wn:]...)
			c.startFlushLocked()
		}
		c.wout, c.wn, c.werr = nil, 0, nil
	}
}

func (c *conn) sendJSON(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		c.s.opts.Logger.Error("marshal outgoing frame", "type", fmt.Sprintf("%T", v), "err", err)
		return
	}
	c.Send(b)
}

// sendError sends a non-fatal error frame.
func (c *conn) sendError(e protocol.Error) {
	e.Type = protocol.TypeError
	c.s.stats.errors.Add(1)
	c.sendJSON(e)
}

// closeWith closes the connection after sending e, if e has a code (a
// fatal error), with the close status for e's code. Frames still queued are
// dropped.
func (c *conn) closeWith(e protocol.Error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closeLocked(&closeState{final: e})
}

// closeLocked starts the closing handshake: the flush goroutine writes the
// final error frame, if any, and the close frame. cl's close status is
// taken from its final error if it has none.
func (c *conn) closeLocked(cl *closeState) {
	if c.closing {
		return
	}
	if cl.final.Code != "" {
		cl.final.Type, cl.final.Fatal = protocol.TypeError, true
		if cl.code == 0 {
			cl.code, cl.reason = closeStatus(cl.final.Code), string(cl.final.Code)
		}
	} else if cl.code == 0 {
		cl.code = statusNormalClosure
	}
	cl.done = make(chan struct{})
	c.closing, c.cl = true, cl
	c.closingA.Store(true)
	c.queue, c.early = nil, nil
	c.startFlushLocked()
}

// brokenLocked handles a write error: the client is gone.
func (c *conn) brokenLocked() {
	c.closeLocked(&closeState{fail: true, noFrame: true})
}

// closer returns the closing handshake's state once it has begun.
func (c *conn) closer() *closeState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cl
}

// flush writes what waits, in batches, then performs the close if one was
// asked for. Only one runs at a time (flushing).
func (c *conn) flush() {
	deadline := false
	var batch [][]byte
	for {
		c.mu.Lock()
		if p := c.pending; p != nil {
			pb := c.pendingBuf
			c.pending, c.pendingBuf = nil, nil
			c.mu.Unlock()
			if !deadline {
				deadline = true
				c.nc.SetWriteDeadline(time.Now().Add(c.s.opts.WriteTimeout))
			}
			_, err := c.nc.Write(p)
			putBuffer(pb)
			if err != nil {
				c.writeFailed(err)
				return
			}
			continue
		}
		if c.closing {
			cl := c.cl
			c.mu.Unlock()
			c.finish(cl)
			return
		}
		batch, c.queue = c.queue, nil
		if len(batch) == 0 {
			if deadline {
				c.nc.SetWriteDeadline(time.Time{}) // direct writes must not see it
			}
			c.flushing = false
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		if !deadline {
			deadline = true
			c.nc.SetWriteDeadline(time.Now().Add(c.s.opts.WriteTimeout))
		}
		if err := c.writeBatch(batch); err != nil {
			c.writeFailed(err)
			return
		}
		clear(batch)
	}
}

// writeBatchBytes is the most a flush writes with one write(2).
const writeBatchBytes = 64 << 10

// writeBatch frames messages and writes them, several per write(2).
func (c *conn) writeBatch(msgs [][]byte) error {
	for len(msgs) > 0 {
		n, k := 0, 0
		for k < len(msgs) && (k == 0 || n+frameLen(len(msgs[k])) <= writeBatchBytes) {
			n += frameLen(len(msgs[k]))
			k++
		}
		buf := getBuffer(n)
		b := buf.b[:0]
		for _, m := range msgs[:k] {
			b = appendFrame(b, opText, m)
		}
		_, err := c.nc.Write(b)
		putBuffer(buf)
		if err != nil {
			return err
		}
		msgs = msgs[k:]
	}
	return nil
}

// writeFailed ends a connection whose write failed or timed out.
func (c *conn) writeFailed(err error) {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		c.s.stats.slowConsumers.Add(1)
	}
	c.mu.Lock()
	c.closeLocked(&closeState{fail: true, noFrame: true})
	cl := c.cl
	c.flushing = false
	c.mu.Unlock()
	c.nc.Close() // ends the reader
	c.closeDone(cl)
}

// closeDone marks the close frame written or abandoned, and wakes a parked
// reader to finish the connection.
func (c *conn) closeDone(cl *closeState) {
	select {
	case <-cl.done:
	default:
		close(cl.done)
	}
	c.wake()
}

// finish writes the final error frame, if any, and the close frame, then
// gives the client closeTimeout to answer with its own close frame.
func (c *conn) finish(cl *closeState) {
	defer c.closeDone(cl)
	if cl.noFrame {
		return
	}
	var b []byte
	if cl.final.Code != "" {
		c.s.stats.errors.Add(1)
		if j, err := json.Marshal(cl.final); err == nil {
			b = appendFrame(b, opText, j)
		}
	}
	b = appendCloseFrame(b, cl.code, cl.reason)
	c.nc.SetWriteDeadline(time.Now().Add(min(c.s.opts.WriteTimeout, closeTimeout)))
	if _, err := c.nc.Write(b); err != nil {
		c.nc.Close()
		return
	}
	c.nc.SetReadDeadline(time.Now().Add(closeTimeout))
}

// isClosing reports whether the close handshake has begun.
func (c *conn) isClosing() bool { return c.closingA.Load() }

// checkAlive closes the connection if it missed its join or keepalive
// deadline. The server's sweeper calls it.
func (c *conn) checkAlive(now int64) {
	if !c.joined.Load() {
		if time.Duration(now-c.start) > c.s.opts.JoinTimeout {
			c.closeWith(protocol.Error{Code: protocol.CodeTimeout, Message: "no join received in time"})
		}
		return
	}
	if time.Duration(now-c.lastRead.Load()) > 3*c.s.opts.PingInterval && !c.isClosing() {
		c.s.stats.keepaliveExpired.Add(1)
		c.closeWith(protocol.Error{Code: protocol.CodeTimeout, Message: "no message or ping received in time; connection considered dead"})
	}
}

// Reader states. A connection is active while a goroutine runs its reader
// (run); woken if, while active, it was told not to park; parked while it
// waits for data in its poller with no goroutine; done once its reader has
// ended for good. Only the reader leaves active and woken; others only
// move active to woken and parked to active (starting a reader).
const (
	connActive int32 = iota
	connWoken
	connParked
	connDone
)

// How readLoop ended.
type readEnd int

const (
	endPeerClosed readEnd = iota // the client sent a close frame: a goodbye
	endAnswered                  // the client answered our close frame
	endStop                      // a message ended the session; closing
	endRefused                   // a message closed the connection (too big): a drop, closing
	endFail                      // a protocol violation; closing without waiting
	endError                     // the connection dropped (or the close wait timed out)
	endIdle                      // nothing left to read: the reader may park
	endMore                      // (more only) bytes were read
)

// run is the connection's reader goroutine. It reads and handles messages
// until nothing is left to read, then parks the connection and ends; the
// poller starts it again when data arrives. When the connection ends, it
// leaves the room, or, if the connection dropped without a goodbye,
// detaches from it so that the participant can resume within the grace
// period.
func (c *conn) run() {
	for {
		end := c.readLoop(c.poll != nil)
		if end != endIdle {
			c.end(end)
			return
		}
		if c.park() {
			return
		}
	}
}

// park waits for data in the poller instead of in a goroutine. It reports
// false if the connection cannot park (it is closing or was woken, or the
// poller failed); the reader then goes on.
func (c *conn) park() bool {
	c.drained = false // whoever wakes us has seen data arrive
	if c.in != nil && c.r == c.w {
		putBuffer(c.in) // nothing in flight: hold no buffer
		c.in = nil
	}
	if c.pollID == 0 && !c.poll.add(c) {
		c.poll = nil
		return false
	}
	if !c.poll.arm(c) {
		c.poll.remove(c)
		c.poll, c.pollID = nil, 0
		return false
	}
	if c.closingA.Load() {
		return false
	}
	// From here another goroutine may take over: touch nothing after.
	if c.state.CompareAndSwap(connActive, connParked) {
		return true
	}
	c.state.Store(connActive) // woken while arming: read on
	return false
}

// wake makes sure a reader runs: it starts one for a parked connection,
// and stops an active one from parking. The poller calls it when a parked
// socket is readable; the close handshake, which needs a reader to read
// the client's close frame or to see the socket closed.
func (c *conn) wake() {
	for {
		switch c.state.Load() {
		case connParked:
			if c.state.CompareAndSwap(connParked, connActive) {
				c.poll.start(c)
				return
			}
		case connActive:
			if c.state.CompareAndSwap(connActive, connWoken) {
				return
			}
		default: // already woken, or done
			return
		}
	}
}

// end finishes the connection once its reader has ended.
func (c *conn) end(how readEnd) {
	c.closeWith(protocol.Error{}) // no-op if already closing
	// Tell the room before the close handshake, which may wait for a dead
	// peer.
	if c.session != nil {
		if how == endPeerClosed || how == endStop {
			c.session.Leave(protocol.LeftReasonLeft)
		} else {
			c.session.Detach()
		}
	}
	cl := c.closer()
	switch how {
	case endStop, endRefused:
		// Wait for our close frame to go out, then for the client's.
		<-cl.done
		if !cl.fail {
			c.readLoop(false)
		}
	case endPeerClosed, endAnswered, endFail:
		<-cl.done // our close frame (or echo) is out
	}
	c.nc.Close()
	<-cl.done
	c.state.Store(connDone)
	if c.pollID != 0 {
		c.poll.remove(c)
	}
	c.releaseBuffers()
	c.s.ended(c)
}

func (c *conn) releaseBuffers() {
	putBuffer(c.in)
	putBuffer(c.frag)
	c.in, c.frag = nil, nil
	c.mu.Lock()
	putBuffer(c.pendingBuf)
	c.pending, c.pendingBuf, c.queue = nil, nil, nil
	c.mu.Unlock()
}

// unread returns the bytes read but not yet parsed.
func (c *conn) unread() []byte {
	if c.in == nil {
		return nil
	}
	return c.in.b[c.r:c.w]
}

// readLoop parses and handles frames until the client closes, the
// connection fails, or a message ends the session; or, if mayPark, until
// the socket is empty (a frame may be in flight: its bytes stay in c.in).
// While closing, data frames are discarded unread: it then only waits for
// the client's close frame.
func (c *conn) readLoop(mayPark bool) readEnd {
	max, hard := int64(c.s.opts.MaxMessageBytes), int64(c.s.opts.MaxMessageBytes)*hardLimitFactor
	for {
		if c.skip > 0 {
			n := min(c.skip, int64(c.w-c.r))
			c.r += int(n)
			c.skip -= n
			if c.skip > 0 {
				if end := c.more(0, mayPark); end != endMore {
					return end
				}
				continue
			}
			if c.skipFin {
				c.skipFin = false
				c.resetMessage()
				c.tooLarge(max)
			}
		}
		h, ok, err := parseFrameHeader(c.unread())
		if err != nil {
			c.fail(statusProtocolError, err.Error())
			return endFail
		}
		if !ok {
			if end := c.more(maxHeaderLen, mayPark); end != endMore {
				return end
			}
			continue
		}
		closing := c.closingA.Load()
		if h.opcode >= opClose { // control frame: whole in the buffer once read
			need := h.size + int(h.length)
			if c.w-c.r < need {
				if end := c.more(need, mayPark); end != endMore {
					return end
				}
				continue
			}
			p := c.in.b[c.r+h.size : c.r+need]
			unmask(p, h.mask)
			c.r += need
			switch h.opcode {
			case opPing:
				if !closing {
					c.sendPong(p)
				}
			case opClose:
				code, reason, err := parseClosePayload(p)
				if err != nil {
					c.fail(statusProtocolError, err.Error())
					return endFail
				}
				if closing {
					// An answer to our close frame (shutdown, keepalive,
					// removal), not a goodbye: the session may resume
					// elsewhere.
					return endAnswered
				}
				c.echoClose(code, reason)
				return endPeerClosed
			}
			continue
		}
		if closing {
			c.r += h.size
			c.skip, c.skipFin = h.length, false
			c.resetMessage()
			continue
		}
		if h.opcode == opContinuation && c.msgOp == 0 {
			c.fail(statusProtocolError, "continuation frame without a message to continue")
			return endFail
		}
		if h.opcode != opContinuation && c.msgOp != 0 {
			c.fail(statusProtocolError, "new message before the previous one was finished")
			return endFail
		}
		if h.length > hard-c.msgLen { // msgLen <= hard: no overflow
			c.r += h.size
			c.skip, c.skipFin = h.length, false
			c.resetMessage()
			c.closeWith(protocol.Error{Code: protocol.CodeTooLarge, Message: fmt.Sprintf("message larger than %d bytes; the connection is closed", hard)})
			return endRefused
		}
		total := c.msgLen + h.length
		if c.tooBig || total > max {
			// Over the limit: discard it as it arrives, then refuse it.
			if c.msgOp == 0 && !h.fin {
				c.msgOp = h.opcode
			}
			c.tooBig, c.msgLen = true, total
			putBuffer(c.frag)
			c.frag, c.fragLen = nil, 0
			c.r += h.size
			c.skip, c.skipFin = h.length, h.fin
			if h.length == 0 && h.fin {
				c.resetMessage()
				c.tooLarge(max)
			}
			continue
		}
		need := h.size + int(h.length)
		if c.w-c.r < need {
			if end := c.more(need, mayPark); end != endMore {
				return end
			}
			continue
		}
		p := c.in.b[c.r+h.size : c.r+need]
		unmask(p, h.mask)
		c.r += need
		if h.fin && c.msgOp == 0 {
			if c.message(h.opcode, p) {
				return endStop
			}
			continue
		}
		// A fragment.
		if c.msgOp == 0 {
			c.msgOp = h.opcode
		}
		c.appendFragment(p)
		c.msgLen = total
		if h.fin {
			op, data := c.msgOp, c.frag.b[:c.fragLen]
			stop := c.message(op, data)
			c.resetMessage()
			if stop {
				return endStop
			}
		}
	}
}

// appendFragment adds a fragment's payload to the message in progress.
func (c *conn) appendFragment(p []byte) {
	if c.frag == nil || c.fragLen+len(p) > len(c.frag.b) {
		nb := getBuffer(max(c.fragLen+len(p), 2*c.fragLen))
		if c.frag != nil {
			copy(nb.b, c.frag.b[:c.fragLen])
			putBuffer(c.frag)
		}
		c.frag = nb
	}
	c.fragLen += copy(c.frag.b[c.fragLen:], p)
}

func (c *conn) resetMessage() {
	putBuffer(c.frag)
	c.frag, c.fragLen, c.msgOp, c.msgLen, c.tooBig = nil, 0, 0, 0, false
}

// more reads more bytes, for a frame of need bytes (header included) that
// starts at c.r. If the reader may park, it does not wait: endIdle means
// the socket is empty (see poller_linux.go), and the bytes read so far
// stay in c.in for when the connection wakes. Otherwise it waits in the
// read. endMore means bytes were read.
func (c *conn) more(need int, mayPark bool) readEnd {
	c.makeRoom(need)
	if !mayPark || c.closingA.Load() {
		// Waiting in the read (closing, TLS, no poller): with no frame
		// begun, wait without a buffer (fill takes one when bytes arrive).
		// Closing: the close handshake's read deadline must apply.
		if c.in != nil && c.r == c.w {
			putBuffer(c.in)
			c.in, c.r, c.w = nil, 0, 0
		}
		if err := c.fill(); err != nil {
			return endError
		}
		return endMore
	}
	if c.drained && !c.hangup.Load() {
		return endIdle
	}
	switch ok, err := c.readNow(); {
	case err != nil:
		return endError
	case !ok:
		return endIdle
	}
	return endMore
}

// makeRoom makes room in c.in for a frame of need bytes that starts at
// c.r, moving or growing the buffer.
func (c *conn) makeRoom(need int) {
	if c.in == nil {
		return
	}
	unread := c.w - c.r
	switch {
	case unread == 0:
		c.r, c.w = 0, 0
	case need > len(c.in.b)-c.r:
		// The frame does not fit where it starts.
		if need > len(c.in.b) {
			nb := getBuffer(need)
			copy(nb.b, c.in.b[c.r:c.w])
			putBuffer(c.in)
			c.in = nb
		} else {
			copy(c.in.b, c.in.b[c.r:c.w])
		}
		c.r, c.w = 0, unread
	}
}

// fill reads more bytes into the room makeRoom made, waiting until some
// arrive; while it waits with nothing unread, the connection holds no
// buffer.
func (c *conn) fill() error {
	if c.raw != nil {
		space := bufferClasses[0] // rawRead takes a buffer if c.in is nil
		if c.in != nil {
			space = len(c.in.b) - c.w
		}
		if err := c.raw.Read(c.readFn); err != nil {
			return err
		}
		n, err := c.rn, c.rerr
		c.rn, c.rerr = 0, nil
		if err != nil {
			return err
		}
		if n == 0 {
			return io.EOF
		}
		c.w += n
		c.drained = n < space
		return nil
	}
	if c.in == nil {
		// Wait for the first byte without a buffer.
		n, err := c.nc.Read(c.one[:])
		if n == 0 {
			if err == nil {
				err = io.ErrNoProgress
			}
			return err
		}
		c.in, c.r, c.w = getBuffer(0), 0, 1
		c.in.b[0] = c.one[0]
		return nil
	}
	n, err := c.nc.Read(c.in.b[c.w:])
	c.w += n
	if n > 0 {
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

// readNow reads what the socket holds without waiting for more, into the
// room makeRoom made. It reports false if the socket holds nothing.
func (c *conn) readNow() (bool, error) {
	c.noWait = true
	err := c.raw.Read(c.readFn)
	c.noWait = false
	n, rerr := c.rn, c.rerr
	c.rn, c.rerr = 0, nil
	switch {
	case c.eagain:
		c.eagain = false
		return false, nil
	case err != nil:
		return false, err
	case rerr != nil:
		return false, rerr
	case n == 0:
		return false, io.EOF
	}
	c.w += n
	c.drained = n < len(c.in.b)-(c.w-n)
	return true, nil
}

// message handles one complete message. It reports whether the session
// ends.
func (c *conn) message(op byte, data []byte) (stop bool) {
	now := time.Now().UnixNano()
	c.lastRead.Store(now)
	c.s.stats.messagesIn.Add(1)
	if op != opText {
		c.sendError(protocol.Error{Code: protocol.CodeBadRequest, Message: "binary frames are not part of the protocol; send JSON text frames"})
		return false
	}
	if !c.allow(now) {
		c.s.stats.rateLimited.Add(1)
		c.sendError(protocol.Error{Code: protocol.CodeRateLimited, Message: "too many messages; slow down"})
		return false
	}
	return c.handle(data)
}

// tooLarge refuses a message over MaxMessageBytes, which was discarded.
func (c *conn) tooLarge(max int64) {
	c.lastRead.Store(time.Now().UnixNano())
	c.s.stats.messagesIn.Add(1)
	c.sendError(protocol.Error{Code: protocol.CodeTooLarge, Message: fmt.Sprintf("message larger than %d bytes; it was dropped", max)})
}

// allow takes a token from the message rate limiter.
func (c *conn) allow(now int64) bool {
	rate, burst := c.s.opts.MessageRate, float64(c.s.opts.MessageBurst)
	c.tokens = min(burst, c.tokens+float64(now-c.tokenAt)/1e9*rate)
	c.tokenAt = now
	if c.tokens < 1 {
		return false
	}
	c.tokens--
	return true
}

// fail fails the connection for a protocol violation: a close frame with
// code, and no waiting for the client's.
func (c *conn) fail(code uint16, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closeLocked(&closeState{code: code, reason: reason, fail: true})
}

// echoClose answers the client's close frame with the same status.
func (c *conn) echoClose(code uint16, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closeLocked(&closeState{code: code, reason: reason, fail: true})
}

// hardLimitFactor sets the size past which a message closes the connection
// (1009) instead of being skipped with too_large.
const hardLimitFactor = 16

// Close implements room.Sink: the room ends this connection (resumed
// elsewhere, removed or denied by a host).
func (c *conn) Close(e protocol.Error) { c.closeWith(e) }

// Admit implements room.Sink: a host let this participant in from the lobby.
func (c *conn) Admit(w room.Welcome) {
	b, err := json.Marshal(c.joinedFrame(w))
	if err != nil {
		c.closeWith(protocol.Error{Code: protocol.CodeInternal, Message: "internal server error"})
		return
	}
	c.Send(b)
}

// closeStatus maps a fatal error code to a WebSocket close status.
func closeStatus(code protocol.Code) uint16 {
	switch code {
	case protocol.CodeServerShutdown:
		return statusGoingAway
	case protocol.CodeTooLarge:
		return statusMessageTooBig
	case protocol.CodeInternal:
		return statusInternalError
	case protocol.CodeUnavailable:
		return statusTryAgainLater
	default:
		return statusPolicyViolation
	}
}
