package signal

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/time/rate"

	"github.com/peercall/peercall/internal/room"
	"github.com/peercall/peercall/protocol"
)

// conn is one participant's WebSocket. The reader goroutine owns session.
// Writes happen on a flush goroutine that exists only while frames are
// queued, so an idle connection costs one goroutine (its reader) and no
// buffers; keepalive is checked by one sweeper for the whole server.
type conn struct {
	s       *Server
	ws      *websocket.Conn
	ip      string // client address, for per-address limits
	host    string // Host the client reached us at, for ICE server URLs
	limiter *rate.Limiter
	start   time.Time

	lastRead atomic.Int64 // unix nanoseconds of the last frame read
	joined   atomic.Bool

	mu       sync.Mutex     // guards the fields below
	queue    [][]byte       // frames to write, in order; nil while idle
	holding  bool           // between joining the room and queueing joined
	early    [][]byte       // frames for the client that must follow joined
	flushing bool           // a flush goroutine runs
	closing  bool           // closeWith was called: no more frames
	final    protocol.Error // written before closing, if it has a code

	closed chan struct{} // closed once the socket is closed

	session room.Session // reader goroutine only
	room    string       // set before session; immutable after
}

func newConn(s *Server, ws *websocket.Conn, r *http.Request) *conn {
	c := &conn{
		s:       s,
		ws:      ws,
		ip:      clientIP(r),
		host:    r.Host,
		limiter: rate.NewLimiter(rate.Limit(s.opts.MessageRate), s.opts.MessageBurst),
		start:   time.Now(),
		closed:  make(chan struct{}),
	}
	c.lastRead.Store(c.start.UnixNano())
	return c
}

// Send implements room.Sink. It never blocks: a client whose queue is full
// is not reading, and is disconnected.
func (c *conn) Send(frame []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.holding {
		c.early = append(c.early, frame)
		return
	}
	c.enqueueLocked(frame)
}

// hold makes Send keep frames back until release, so that joined is the
// first frame of a session even when the room talks to the new member
// before the transport has queued joined.
func (c *conn) hold() {
	c.mu.Lock()
	c.holding = true
	c.mu.Unlock()
}

// release queues first, then the frames held back, and resumes Send.
func (c *conn) release(first []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if first != nil {
		c.enqueueLocked(first)
	}
	for _, f := range c.early {
		c.enqueueLocked(f)
	}
	c.early, c.holding = nil, false
}

func (c *conn) enqueueLocked(frame []byte) {
	if c.closing {
		return
	}
	if len(c.queue) >= c.s.opts.QueueLen {
		c.s.stats.slowConsumers.Add(1)
		c.closeLocked(protocol.Error{Code: protocol.CodeSlowConsumer, Message: "too many unread messages; the connection is not being read fast enough"})
		return
	}
	c.queue = append(c.queue, frame)
	c.startFlushLocked()
}

func (c *conn) startFlushLocked() {
	if !c.flushing {
		c.flushing = true
		go c.flush()
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

// closeWith asks for the connection to be closed after sending e, if e has
// a code (a fatal error). Frames still queued are dropped.
func (c *conn) closeWith(e protocol.Error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closeLocked(e)
}

func (c *conn) closeLocked(e protocol.Error) {
	if c.closing {
		return
	}
	e.Type = protocol.TypeError
	e.Fatal = true
	c.closing, c.final = true, e
	c.queue = nil
	c.startFlushLocked()
}

// isClosing reports whether closeWith was called.
func (c *conn) isClosing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closing
}

func (c *conn) wait() { <-c.closed }

// flush writes queued frames until the queue is empty, or performs the
// close. Only one runs at a time.
func (c *conn) flush() {
	for {
		c.mu.Lock()
		if c.closing {
			final := c.final
			c.mu.Unlock()
			c.finish(final)
			return
		}
		batch := c.queue
		c.queue = nil
		if len(batch) == 0 {
			c.flushing = false
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		if err := c.writeBatch(batch); err != nil {
			c.mu.Lock()
			if errors.Is(err, context.DeadlineExceeded) {
				c.s.stats.slowConsumers.Add(1)
				c.final = protocol.Error{Type: protocol.TypeError, Code: protocol.CodeSlowConsumer, Message: "write timed out", Fatal: true}
			}
			c.closing = true
			c.queue = nil
			c.mu.Unlock()
			c.ws.CloseNow()
			close(c.closed)
			return
		}
	}
}

// writeBatch writes frames under one write deadline.
func (c *conn) writeBatch(frames [][]byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), c.s.opts.WriteTimeout)
	defer cancel()
	for _, f := range frames {
		if err := c.ws.Write(ctx, websocket.MessageText, f); err != nil {
			return err
		}
	}
	return nil
}

// finish sends the final error frame, if any, and closes the socket.
func (c *conn) finish(final protocol.Error) {
	defer close(c.closed)
	status, reason := websocket.StatusNormalClosure, ""
	if final.Code != "" {
		c.s.stats.errors.Add(1)
		if b, err := json.Marshal(final); err == nil {
			_ = c.writeBatch([][]byte{b})
		}
		status, reason = closeStatus(final.Code), string(final.Code)
	}
	if err := c.ws.Close(status, reason); err != nil && !errors.Is(err, context.Canceled) {
		c.ws.CloseNow()
	}
}

// checkAlive closes the connection if it missed its join or keepalive
// deadline. The server's sweeper calls it.
func (c *conn) checkAlive(now time.Time) {
	if !c.joined.Load() {
		if now.Sub(c.start) > c.s.opts.JoinTimeout {
			c.closeWith(protocol.Error{Code: protocol.CodeTimeout, Message: "no join received in time"})
		}
		return
	}
	if now.Sub(time.Unix(0, c.lastRead.Load())) > 3*c.s.opts.PingInterval && !c.isClosing() {
		c.s.stats.keepaliveExpired.Add(1)
		c.closeWith(protocol.Error{Code: protocol.CodeTimeout, Message: "no message or ping received in time; connection considered dead"})
	}
}

// serve reads frames until the connection ends, then leaves the room, or,
// if the connection dropped without a goodbye, detaches from it so that the
// participant can resume within the grace period.
func (c *conn) serve() {
	left := false
	defer func() {
		c.closeWith(protocol.Error{}) // no-op if already closing
		// Tell the room before the close handshake, which may wait for a
		// dead peer.
		if c.session != nil {
			if left {
				c.session.Leave(protocol.LeftReasonLeft)
			} else {
				c.session.Detach()
			}
		}
		c.wait()
	}()
	ctx := context.Background()
	for {
		typ, r, err := c.ws.Reader(ctx)
		if err != nil {
			// A close frame from the client is a goodbye; anything else
			// (reset, EOF, our own timeout) is a drop.
			left = websocket.CloseStatus(err) != -1
			return
		}
		buf := getBuffer()
		stop, err := c.readAndHandle(typ, r, buf)
		putBuffer(buf)
		if err != nil {
			return // read error mid-message: a drop, or past the hard size limit
		}
		if stop {
			left = true
			return
		}
	}
}

// readAndHandle reads one message into buf and handles it. A message over
// MaxMessageBytes is refused with too_large and skipped; the socket's hard
// limit (hardLimitFactor times larger) closes the connection with 1009.
func (c *conn) readAndHandle(typ websocket.MessageType, r io.Reader, buf *bytes.Buffer) (stop bool, err error) {
	max := int64(c.s.opts.MaxMessageBytes)
	n, err := buf.ReadFrom(io.LimitReader(r, max+1))
	if err != nil {
		return false, err
	}
	c.lastRead.Store(time.Now().UnixNano())
	c.s.stats.messagesIn.Add(1)
	if n > max {
		if _, err := io.Copy(io.Discard, r); err != nil {
			return false, err
		}
		c.sendError(protocol.Error{Code: protocol.CodeTooLarge, Message: fmt.Sprintf("message larger than %d bytes; it was dropped", max)})
		return false, nil
	}
	if typ != websocket.MessageText {
		c.sendError(protocol.Error{Code: protocol.CodeBadRequest, Message: "binary frames are not part of the protocol; send JSON text frames"})
		return false, nil
	}
	if !c.limiter.Allow() {
		c.s.stats.rateLimited.Add(1)
		c.sendError(protocol.Error{Code: protocol.CodeRateLimited, Message: "too many messages; slow down"})
		return false, nil
	}
	return c.handle(buf.Bytes()), nil
}

// hardLimitFactor sets the size past which a message closes the connection
// (1009) instead of being skipped with too_large.
const hardLimitFactor = 16

var bufferPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func getBuffer() *bytes.Buffer { return bufferPool.Get().(*bytes.Buffer) }

func putBuffer(b *bytes.Buffer) {
	if b.Cap() > 64<<10 {
		return // let the rare big buffer go
	}
	b.Reset()
	bufferPool.Put(b)
}

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
func closeStatus(code protocol.Code) websocket.StatusCode {
	switch code {
	case protocol.CodeServerShutdown:
		return websocket.StatusGoingAway
	case protocol.CodeTooLarge:
		return websocket.StatusMessageTooBig
	case protocol.CodeInternal:
		return websocket.StatusInternalError
	case protocol.CodeUnavailable:
		return websocket.StatusTryAgainLater
	default:
		return websocket.StatusPolicyViolation
	}
}
