package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/peercall/peercall/internal/config"
	"github.com/peercall/peercall/internal/httpserver"
)

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: peercall serve [flags]\n\nEvery flag has a PEERCALL_* environment twin and a YAML key (see config-sample.yaml).\n\n")
		fs.PrintDefaults()
	}
	cfg, err := config.Load(fs, args, os.Getenv)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "peercall serve: %v\n", err)
		return 2
	}
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	srv, err := httpserver.New(cfg, log)
	if err != nil {
		fmt.Fprintf(stderr, "peercall serve: %v\n", err)
		return 1
	}
	addr := srv.Addr().(*net.TCPAddr)
	scheme := "http"
	if note := srv.TLSNote(); note != "" {
		scheme = "https"
		fmt.Fprintf(stdout, "peercall serve: HTTPS with %s\n", note)
	}
	switch a := srv.MetricsAddr(); {
	case a != nil:
		fmt.Fprintf(stdout, "peercall serve: web app and signaling on %s (WebSocket /ws, /healthz)\n", srv.URL())
		fmt.Fprintf(stdout, "peercall serve: Prometheus metrics on http://%s/metrics\n", a)
	case cfg.MetricsListen == "off":
		fmt.Fprintf(stdout, "peercall serve: web app and signaling on %s (WebSocket /ws, /healthz; metrics off)\n", srv.URL())
	default:
		fmt.Fprintf(stdout, "peercall serve: web app and signaling on %s (WebSocket /ws, /healthz, /metrics)\n", srv.URL())
	}
	if t := srv.TURN(); t != nil {
		fmt.Fprintf(stdout, "peercall serve: STUN/TURN on %s/udp and %s/tcp\n", t.UDPAddr(), t.TCPAddr())
		if a := t.TLSAddr(); a != nil {
			fmt.Fprintf(stdout, "peercall serve: TURN over TLS on %s/tcp\n", a)
		}
	} else {
		fmt.Fprintf(stdout, "peercall serve: embedded STUN/TURN disabled\n")
	}
	fmt.Fprintf(stdout, "peercall serve: open %s://%s/ in a browser\n", scheme, openHost(addr))

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve() }()
	select {
	case err := <-errc:
		fmt.Fprintf(stderr, "peercall serve: %v\n", err)
		return 1
	case <-ctx.Done():
	}
	fmt.Fprintf(stdout, "peercall serve: shutting down; telling clients\n")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		fmt.Fprintf(stderr, "peercall serve: shutdown: %v\n", err)
		return 1
	}
	<-errc
	return 0
}

// openHost is the address a local user can open: localhost for wildcard
// listeners.
func openHost(a *net.TCPAddr) string {
	if a.IP.IsUnspecified() || a.IP.IsLoopback() {
		return fmt.Sprintf("localhost:%d", a.Port)
	}
	return a.String()
}
