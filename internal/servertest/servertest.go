// Package servertest starts a real peercall server for tests: signaling, web
// app and embedded STUN/TURN (allowing loopback peers) on random 127.0.0.1
// ports. Use it from tests that run in a loopback-only network namespace
// (testutil.MainInLoopbackNamespace).
package servertest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/peercall/peercall/internal/config"
	"github.com/peercall/peercall/internal/httpserver"
)

// Server is a running test server.
type Server struct {
	// URL is the base URL, "http://127.0.0.1:PORT".
	URL string
	// Config is the configuration it runs with.
	Config config.Config
	*httpserver.Server

	done     chan error
	stopOnce sync.Once
	stopErr  error
}

// Start starts a server configured by config.Default, loopback addresses,
// TURN allowing loopback peers and a 5 s resume grace, then each option, and
// shuts it down when the test ends. Set PEERCALL_TEST_LOG=debug to see its
// log.
func Start(t testing.TB, opts ...func(*config.Config)) *Server {
	t.Helper()
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.TURNListen = "127.0.0.1:0"
	cfg.TURNAllowLoopback = true
	// Short, so tests of dropped connections end quickly; tests of
	// resuming raise it.
	cfg.ResumeGrace = 5 * time.Second
	for _, o := range opts {
		o(&cfg)
	}
	srv, err := httpserver.New(cfg, logger())
	if err != nil {
		t.Fatalf("servertest: start server: %v", err)
	}
	s := &Server{URL: srv.URL(), Config: cfg, Server: srv, done: make(chan error, 1)}
	go func() { s.done <- srv.Serve() }()
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("servertest: shutdown: %v", err)
		}
	})
	return s
}

// Stop shuts the server down gracefully and waits for it. Safe to call more
// than once.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		s.stopErr = s.Shutdown(ctx)
		select {
		case err := <-s.done:
			if s.stopErr == nil {
				s.stopErr = err
			}
		case <-ctx.Done():
			s.stopErr = errors.Join(s.stopErr, fmt.Errorf("serve did not return: %w", ctx.Err()))
		}
	})
	return s.stopErr
}

func logger() *slog.Logger {
	lvl := os.Getenv("PEERCALL_TEST_LOG")
	if lvl == "" {
		return nil
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(lvl)); err != nil {
		l = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
}
