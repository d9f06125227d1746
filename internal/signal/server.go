// Package signal is the WebSocket transport of peercall's signaling: one
// connection per participant, frames decoded and validated here, routed by
// their envelope through a room.Backend. It speaks RFC 6455 itself
// (handshake.go, frame.go) on the hijacked connection, so that an idle
// connection holds no buffer and a relayed message costs one read and one
// write system call; see conn.go.
package signal

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"path"
	"sync"
	"sync/atomic"
	"time"

	"github.com/peercall/peercall/internal/auth"
	"github.com/peercall/peercall/internal/room"
	"github.com/peercall/peercall/protocol"
)

// ICEServerFunc returns the ICE servers for a participant that reached the
// server at host (the request's Host header), and when their credentials
// expire.
type ICEServerFunc func(host, participantID string) ([]protocol.ICEServer, time.Time)

// Options configure a Server. Zero values mean the documented default.
type Options struct {
	Backend room.Backend // required
	// ICEServers hands out ICE servers at join. Nil: none.
	ICEServers ICEServerFunc
	// MaxParticipants and ResumeGrace are reported to clients in joined.
	// Informational; the backend enforces them.
	MaxParticipants int
	ResumeGrace     time.Duration
	// PingInterval clients must keep; silence for 3 intervals closes the
	// connection. Default 5s.
	PingInterval time.Duration
	// JoinTimeout is how long a new connection may take to send join.
	// Default 10s.
	JoinTimeout time.Duration
	// MaxMessageBytes is the largest frame read. Default protocol.MaxMessageBytes.
	MaxMessageBytes int
	// QueueLen bounds the per-connection outgoing queue: the frames that
	// wait because the socket did not take them at once (allocated only
	// while frames wait). A client that lets it fill is disconnected as a
	// slow consumer. Default 256 frames.
	QueueLen int
	// WriteTimeout bounds the writing of queued frames; a client that
	// does not read them in time is disconnected as a slow consumer.
	// Default 10s.
	WriteTimeout time.Duration
	// MessageRate and MessageBurst limit frames per second per connection.
	// Defaults 50 and 200.
	MessageRate  float64
	MessageBurst int
	// OriginPatterns allows cross-origin WebSocket clients (browsers on
	// other sites), as host patterns ("app.example.com", "*.example.com").
	// Same-origin is always allowed; clients that send no Origin (not
	// browsers) too. Default none.
	OriginPatterns []string
	// Tokens, when set, require every join to carry an access token valid
	// for its room (token mode). Nil: open mode.
	Tokens *auth.Verifier
	// MaxConnsPerIP bounds open connections per client address. Default
	// 100; negative means unlimited.
	MaxConnsPerIP int
	// JoinsPerIPPerMinute bounds joins per client address. Default 120;
	// negative means unlimited.
	JoinsPerIPPerMinute int
	// TrustedProxies are the reverse proxies whose X-Forwarded-For header
	// names the client address used by the per-address limits and in logs
	// (see ClientAddr). Default none: the header is ignored and the
	// client address is the TCP peer's.
	TrustedProxies []netip.Prefix
	Logger         *slog.Logger
}

func (o *Options) setDefaults() {
	if o.PingInterval == 0 {
		o.PingInterval = 5 * time.Second
	}
	if o.JoinTimeout == 0 {
		o.JoinTimeout = 10 * time.Second
	}
	if o.MaxMessageBytes == 0 {
		o.MaxMessageBytes = protocol.MaxMessageBytes
	}
	if o.QueueLen == 0 {
		o.QueueLen = 256
	}
	if o.WriteTimeout == 0 {
		o.WriteTimeout = 10 * time.Second
	}
	if o.MessageRate == 0 {
		o.MessageRate = 50
	}
	if o.MessageBurst == 0 {
		o.MessageBurst = 200
	}
	if o.MaxConnsPerIP == 0 {
		o.MaxConnsPerIP = 100
	}
	if o.JoinsPerIPPerMinute == 0 {
		o.JoinsPerIPPerMinute = 120
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Server accepts signaling WebSockets. It is an http.Handler.
type Server struct {
	opts   Options
	stats  counters
	limits *ipLimits

	mu          sync.Mutex // guards conns, shutdown, sweeperDone, poller and noPoller
	conns       map[*conn]struct{}
	shutdown    bool
	sweeperDone chan struct{}  // closes to stop the keepalive sweeper
	poller      *poller        // where idle connections wait; nil on other systems
	noPoller    bool           // the poller could not be created
	wg          sync.WaitGroup // one per live connection
}

// NewServer returns a signaling server.
func NewServer(opts Options) *Server {
	opts.setDefaults()
	return &Server{opts: opts, conns: map[*conn]struct{}{}, limits: newIPLimits(opts.MaxConnsPerIP, opts.JoinsPerIPPerMinute)}
}

// ServeHTTP upgrades the request to a WebSocket and serves it on a new
// goroutine, and returns. An idle connection costs no goroutine (see
// conn.go and poller_linux.go).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ip := ClientAddr(r, s.opts.TrustedProxies)
	nc, early, err := upgrade(w, r, s.opts.OriginPatterns)
	if err != nil {
		level := slog.LevelDebug
		if errors.Is(err, path.ErrBadPattern) {
			level = slog.LevelWarn // a configuration mistake
		}
		s.opts.Logger.Log(r.Context(), level, "websocket upgrade failed", "remote", ip, "peer", r.RemoteAddr, "err", err)
		return
	}
	c := newConn(s, nc, ip, r.Host)
	if len(early) > 0 {
		c.in, c.r, c.w = getBuffer(len(early)), 0, len(early)
		copy(c.in.b, early)
	}
	switch {
	case !s.track(c):
		c.closeWith(protocol.Error{Code: protocol.CodeServerShutdown, Message: "server is shutting down"})
	case !s.limits.addConn(c.ip):
		s.stats.rateLimited.Add(1)
		s.opts.Logger.Debug("connection refused: too many from this address", "remote", c.ip, "peer", r.RemoteAddr)
		c.closeWith(protocol.Error{Code: protocol.CodeRateLimited, Message: "too many connections from your address"})
	default:
		c.counted = true
	}
	go c.run()
}

// track counts c as open, and starts the sweeper and the poller with the
// first connection. It reports false once Shutdown was called.
func (s *Server) track(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shutdown {
		return false
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.stats.connections.Add(1)
	c.tracked = true
	if s.sweeperDone == nil {
		s.sweeperDone = make(chan struct{})
		go s.sweep(s.sweeperDone)
	}
	if c.raw != nil && s.poller == nil && !s.noPoller {
		p, err := newPoller()
		if err != nil {
			s.opts.Logger.Warn("idle connections will each keep a goroutine", "err", err)
			s.noPoller = true
		}
		s.poller = p
	}
	if c.raw != nil {
		c.poll = s.poller
	}
	return true
}

// ended is called once a connection has ended.
func (s *Server) ended(c *conn) {
	if c.counted {
		s.limits.removeConn(c.ip)
	}
	if c.tracked {
		s.untrack(c)
	}
}

// sweep checks every connection's join and keepalive deadlines, a few times
// per ping interval, until done is closed.
func (s *Server) sweep(done chan struct{}) {
	t := time.NewTicker(s.opts.PingInterval / 4)
	defer t.Stop()
	var conns []*conn
	for {
		select {
		case <-done:
			return
		case now := <-t.C:
			s.mu.Lock()
			conns = conns[:0]
			for c := range s.conns {
				conns = append(conns, c)
			}
			if s.poller != nil {
				s.poller.trim()
			}
			s.mu.Unlock()
			for _, c := range conns {
				c.checkAlive(now.UnixNano())
			}
			clear(conns)
		}
	}
}

func (s *Server) untrack(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	if len(s.conns) == 0 {
		// No connections: no sweeper, no poller.
		if s.sweeperDone != nil {
			close(s.sweeperDone)
			s.sweeperDone = nil
		}
		if s.poller != nil {
			s.poller.close()
			s.poller = nil
		}
	}
	s.mu.Unlock()
	s.stats.connections.Add(-1)
	s.wg.Done()
}

// Shutdown tells every connected client that the server is going away,
// closes their connections and waits for them to end or ctx to expire. New
// connections are refused from the first call.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if s.sweeperDone != nil {
		close(s.sweeperDone)
		s.sweeperDone = nil
	}
	s.shutdown = true
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.closeWith(protocol.Error{Code: protocol.CodeServerShutdown, Message: "server is shutting down; reconnect shortly", Fatal: true})
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Stats are the transport's counters.
type Stats struct {
	Connections      int64  // open WebSockets
	MessagesIn       uint64 // frames read
	MessagesRelayed  uint64 // offer, answer and candidate frames relayed
	Errors           uint64 // error frames sent
	SlowConsumers    uint64 // connections dropped for not reading
	KeepaliveExpired uint64 // connections dropped for silence
	RateLimited      uint64 // frames, joins and connections refused by a rate or count limit
}

type counters struct {
	connections      atomic.Int64
	messagesIn       atomic.Uint64
	messagesRelayed  atomic.Uint64
	errors           atomic.Uint64
	slowConsumers    atomic.Uint64
	keepaliveExpired atomic.Uint64
	rateLimited      atomic.Uint64
}

// Stats returns the current counters.
func (s *Server) Stats() Stats {
	return Stats{
		Connections:      s.stats.connections.Load(),
		MessagesIn:       s.stats.messagesIn.Load(),
		MessagesRelayed:  s.stats.messagesRelayed.Load(),
		Errors:           s.stats.errors.Load(),
		SlowConsumers:    s.stats.slowConsumers.Load(),
		KeepaliveExpired: s.stats.keepaliveExpired.Load(),
		RateLimited:      s.stats.rateLimited.Load(),
	}
}
