// Package httpserver wires peercall serve together: configuration, the room
// backend, the signaling transport, the embedded STUN/TURN server, the web
// app, health and metrics, behind one http.Handler.
package httpserver

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/peercall/peercall/internal/auth"
	"github.com/peercall/peercall/internal/config"
	"github.com/peercall/peercall/internal/room"
	"github.com/peercall/peercall/internal/signal"
	"github.com/peercall/peercall/internal/turnserver"
	"github.com/peercall/peercall/protocol"
	"github.com/peercall/peercall/web"
)

// Server is a running peercall server.
type Server struct {
	cfg      config.Config
	log      *slog.Logger
	backend  room.Backend
	cluster  *room.Cluster // nil on a single node
	draining atomic.Bool   // Shutdown has begun
	signal   *signal.Server
	turn     *turnserver.Server // nil when disabled
	ice      []config.ICEServer // external ICE servers
	webFS    fs.FS
	reg      *prometheus.Registry
	started  time.Time

	metricsLn   net.Listener // /metrics' own listener; nil if none
	metricsHTTP *http.Server

	ln      net.Listener
	http    *http.Server
	tlsNote string // describes the certificate; empty for plain HTTP
}

// New validates cfg, binds the HTTP and TURN listeners and returns a server
// ready to Serve.
func New(cfg config.Config, log *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, log: log, started: time.Now()}
	for _, u := range cfg.ICEServers {
		srv, err := config.ParseICEServer(u)
		if err != nil {
			return nil, err
		}
		s.ice = append(s.ice, srv)
	}
	if cfg.WebDir != "" {
		if st, err := os.Stat(cfg.WebDir); err != nil || !st.IsDir() {
			return nil, fmt.Errorf("%w: web-dir: %q is not a directory", config.ErrInvalid, cfg.WebDir)
		}
		s.webFS = os.DirFS(cfg.WebDir)
	} else {
		s.webFS = web.FS()
	}

	keys, err := auth.ParseAPIKeys(cfg.APIKeys)
	if err != nil {
		return nil, err
	}
	// Checked by Validate; parsed here, so that the signaling package
	// gets prefixes and reads no configuration.
	trusted, err := config.ParseTrustedProxies(cfg.TrustedProxies)
	if err != nil {
		return nil, fmt.Errorf("%w: trusted-proxies: %v", config.ErrInvalid, err)
	}
	tc, note, err := tlsConfig(cfg, log)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", cfg.Listen, err)
	}
	s.ln = ln
	if tc != nil {
		s.ln, s.tlsNote = tls.NewListener(ln, tc), note
	}
	if cfg.MetricsOwnListener() {
		if s.metricsLn, err = net.Listen("tcp", cfg.MetricsListen); err != nil {
			ln.Close()
			return nil, fmt.Errorf("metrics-listen %s: %w", cfg.MetricsListen, err)
		}
	}
	if cfg.TURNEnabled() {
		var turnsTLS *tls.Config
		if cfg.TURNSListen != "" {
			turnsTLS = tc
		}
		s.turn, err = turnserver.New(turnserver.Config{
			TLSListenAddr: cfg.TURNSListen,
			TLSConfig:     turnsTLS,
			ListenAddr:    cfg.TURNListen,
			PublicIP:      cfg.TURNPublicIP,
			Secret:        cfg.TURNSecret,
			AllowLoopback: cfg.TURNAllowLoopback,
			Logger:        log.With("component", "turn"),
		})
		if err != nil {
			s.closeListeners()
			return nil, fmt.Errorf("embedded TURN server: %w", err)
		}
	}
	// Local or clustered is decided here, once.
	ro := room.LocalOptions{
		OpenRooms:            len(keys) == 0, // open mode: the first joiner hosts
		MaxParticipants:      cfg.MaxParticipants,
		Grace:                cfg.ResumeGrace,
		SessionSecret:        []byte(cfg.SessionSecret),
		MaxRooms:             cfg.MaxRooms,
		MaxTotalParticipants: cfg.MaxTotalParticipants,
	}
	if cfg.Redis == "" {
		s.backend = room.NewLocal(ro)
	} else {
		rdb, err := redisClient(cfg.Redis)
		if err != nil {
			s.closeListeners()
			return nil, err
		}
		c, err := room.NewCluster(room.ClusterOptions{
			LocalOptions: ro,
			Redis:        rdb,
			NodeID:       cfg.NodeID,
			KeyPrefix:    cfg.RedisPrefix,
			ConfigCheck:  clusterConfigCheck(cfg),
			Logger:       log.With("component", "cluster"),
		})
		if err != nil {
			s.closeListeners()
			return nil, err
		}
		s.backend, s.cluster = c, c
	}

	var tokens *auth.Verifier
	if len(keys) > 0 {
		tokens = &auth.Verifier{Keys: keys}
	}
	s.signal = signal.NewServer(signal.Options{
		Tokens:              tokens,
		Backend:             s.backend,
		ICEServers:          s.iceServers,
		MaxParticipants:     cfg.MaxParticipants,
		ResumeGrace:         cfg.ResumeGrace,
		PingInterval:        cfg.PingInterval,
		MaxMessageBytes:     cfg.MaxMessageBytes,
		MessageRate:         float64(cfg.MessageRate),
		MessageBurst:        cfg.MessageBurst,
		MaxConnsPerIP:       cfg.MaxConnsPerIP,
		JoinsPerIPPerMinute: cfg.JoinsPerIPPerMinute,
		OriginPatterns:      cfg.AllowedOrigins,
		TrustedProxies:      trusted,
		Logger:              log.With("component", "signal"),
	})
	s.reg = s.newMetrics()
	s.http = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	if s.metricsLn != nil {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", s.metricsHandler())
		s.metricsHTTP = &http.Server{
			Handler:           mux,
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		}
	}
	return s, nil
}

// redisClient makes the cluster's Redis client for a --redis URL: a plain
// client, or, for Sentinels (master_name), one that follows the master
// through failovers. Either fails fast while Redis is away: joins then get
// "unavailable" within about a second instead of hanging.
func redisClient(u string) (*redis.Client, error) {
	plain, failover, err := config.ParseRedisURL(u) // checked by Validate
	if err != nil {
		return nil, err
	}
	if failover != nil {
		failover.DialTimeout, failover.ReadTimeout, failover.WriteTimeout = time.Second, time.Second, time.Second
		failover.PoolTimeout, failover.MaxRetries = time.Second, 1
		return redis.NewFailoverClient(failover), nil
	}
	plain.DialTimeout, plain.ReadTimeout, plain.WriteTimeout = time.Second, time.Second, time.Second
	plain.PoolTimeout, plain.MaxRetries = time.Second, 1
	return redis.NewClient(plain), nil
}

// clusterConfigCheck hashes the settings every node of a cluster must
// share: secrets, access-token keys and room limits.
func clusterConfigCheck(cfg config.Config) string {
	h := sha256.New()
	fmt.Fprintf(h, "peercall cluster check v1\x00%s\x00%s\x00%q\x00%d\x00%d\x00%v",
		cfg.SessionSecret, cfg.TURNSecret, cfg.APIKeys, cfg.MaxParticipants, cfg.ResumeGrace, len(cfg.APIKeys) == 0)
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// closeListeners undoes New's listens when a later step fails.
func (s *Server) closeListeners() {
	s.ln.Close()
	if s.metricsLn != nil {
		s.metricsLn.Close()
	}
	if s.turn != nil {
		s.turn.Close()
	}
}

// URL is the server's base URL (http:// or https://) on its bound address.
func (s *Server) URL() string {
	if s.tlsNote != "" {
		return "https://" + s.ln.Addr().String()
	}
	return "http://" + s.ln.Addr().String()
}

// TLSNote describes the HTTPS certificate, or is empty for plain HTTP.
func (s *Server) TLSNote() string { return s.tlsNote }

// Addr is the bound HTTP address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// TURN is the embedded STUN/TURN server, nil when disabled.
func (s *Server) TURN() *turnserver.Server { return s.turn }

// MetricsAddr is the bound address of /metrics' own listener, or nil when
// /metrics is on the main listener or off.
func (s *Server) MetricsAddr() net.Addr {
	if s.metricsLn == nil {
		return nil
	}
	return s.metricsLn.Addr()
}

// Serve serves HTTP until Shutdown. It returns nil after a clean shutdown.
func (s *Server) Serve() error {
	if s.metricsHTTP != nil {
		go func() {
			if err := s.metricsHTTP.Serve(s.metricsLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.log.Error("metrics listener stopped", "err", err)
			}
		}()
	}
	err := s.http.Serve(s.ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown tells connected clients the server is going away, closes their
// connections, stops HTTP and TURN, and waits until ctx expires at most.
func (s *Server) Shutdown(ctx context.Context) error {
	s.draining.Store(true)
	errs := []error{s.signal.Shutdown(ctx), s.http.Shutdown(ctx)}
	if s.metricsHTTP != nil {
		errs = append(errs, s.metricsHTTP.Shutdown(ctx))
	}
	if s.turn != nil {
		errs = append(errs, s.turn.Close())
	}
	if s.cluster != nil {
		errs = append(errs, s.cluster.Close())
	}
	return errors.Join(errs...)
}

// iceServers hands a joining participant the embedded server's URLs with
// fresh credentials (addressed by the host the client reached us at), then
// the external ones.
func (s *Server) iceServers(host, participantID string) ([]protocol.ICEServer, time.Time) {
	var out []protocol.ICEServer
	var expires time.Time
	if s.turn != nil {
		out, expires = s.turn.ICEServers(hostOnly(host), participantID)
	}
	for _, e := range s.ice {
		srv := protocol.ICEServer{URLs: []string{e.URL}, Username: e.Username, Credential: e.Credential}
		if e.IsTURN() && e.Username == "" {
			// An external TURN server sharing our secret (coturn
			// use-auth-secret): mint this participant's own credentials.
			exp := time.Now().Add(turnserver.DefaultCredentialTTL)
			srv.Username, srv.Credential = turnserver.RESTCredentials(s.cfg.TURNSecret, participantID, exp)
			if expires.IsZero() || exp.Before(expires) {
				expires = exp
			}
		}
		out = append(out, srv)
	}
	return out, expires
}

// hostOnly is the host part of a Host header; "localhost" becomes 127.0.0.1
// so ICE needs no name resolution.
func hostOnly(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if host == "" || host == "localhost" {
		return "127.0.0.1"
	}
	return host
}
