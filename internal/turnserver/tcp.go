package turnserver

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Deadlines of TURN-over-TCP connections; pion sets none.
const (
	// tcpFirstReadTimeout closes a connection that sends nothing.
	tcpFirstReadTimeout = 30 * time.Second
	// tcpIdleTimeout closes a connection that has been silent for longer
	// than an allocation lives (10 minutes) without a Refresh.
	tcpIdleTimeout = 12 * time.Minute
	// tcpWriteTimeout drops a client that stops reading, instead of
	// blocking the goroutine that relays to it.
	tcpWriteTimeout = 10 * time.Second
	// deadlineSlack is how stale a deadline may get before it is pushed
	// out again, so that not every read or write touches the timer.
	deadlineSlack = time.Second
)

// trackingListener records the TURN-over-TCP connections it accepts.
// pion's Server.Close closes the listener but not the connections, whose
// goroutines and allocations would outlive the server; Server.Close closes
// them through this record.
type trackingListener struct {
	net.Listener
	srv *Server
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	_ = c.SetReadDeadline(time.Now().Add(tcpFirstReadTimeout))
	tc := &trackedConn{Conn: c, srv: l.srv}
	if !l.srv.trackConn(tc) {
		_ = c.Close() // the server is closing
	}
	return tc, nil
}

// trackedConn removes itself from the server's record when closed, and
// keeps read and write deadlines.
type trackedConn struct {
	net.Conn
	srv  *Server
	once sync.Once

	readExtended  time.Time    // only Read, called by one goroutine, uses it
	writeExtended atomic.Int64 // unix nanoseconds; Write may run concurrently
}

func (c *trackedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		if now := time.Now(); now.Sub(c.readExtended) > deadlineSlack {
			c.readExtended = now
			_ = c.Conn.SetReadDeadline(now.Add(tcpIdleTimeout))
		}
	}
	return n, err
}

func (c *trackedConn) Write(p []byte) (int, error) {
	now := time.Now()
	if last := c.writeExtended.Load(); now.UnixNano()-last > int64(deadlineSlack) {
		c.writeExtended.Store(now.UnixNano())
		_ = c.Conn.SetWriteDeadline(now.Add(tcpWriteTimeout))
	}
	return c.Conn.Write(p)
}

func (c *trackedConn) Close() error {
	c.once.Do(func() { c.srv.untrackConn(c) })
	return c.Conn.Close()
}

// trackConn records c, or reports false if the server is closing.
func (s *Server) trackConn(c *trackedConn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.tcpConns[c] = struct{}{}
	return true
}

func (s *Server) untrackConn(c *trackedConn) {
	s.mu.Lock()
	delete(s.tcpConns, c)
	s.mu.Unlock()
	s.notifyIdle()
}
