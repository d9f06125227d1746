package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/peercall/peercall/internal/config"
	"github.com/peercall/peercall/internal/httpserver"
)

// callServer is the peercall server the call suite measures: the web app,
// signaling and the embedded STUN/TURN server on 127.0.0.1.
//
// The suite runs it as a separate "peercall serve" process (Options.Serve):
// the binary and flags users run, with its own CPU and garbage collector
// apart from the participants', as a server on another machine would be.
// Tests, whose binary has no serve command, run the same configuration
// (the same flags, parsed by config.Load) in-process.
type callServer struct {
	desc     string // command line, or "in-process"
	url      string // http://127.0.0.1:PORT
	turnAddr string // 127.0.0.1:PORT, UDP and TCP
	secret   string // TURN REST secret, for the baseline's credentials
	stop     func()
}

// callServeFlags are the flags the suite runs peercall serve with. Every
// join comes from 127.0.0.1, so the per-address join rate is lifted; the
// TURN relay must reach loopback peers. Everything else is the default.
func callServeFlags(httpPort, turnPort int, secret string) []string {
	return []string{
		"--listen", "127.0.0.1:" + strconv.Itoa(httpPort),
		"--turn-listen", "127.0.0.1:" + strconv.Itoa(turnPort),
		"--turn-allow-loopback",
		"--turn-secret", secret,
		"--joins-per-ip-per-minute", "-1",
		"--log-level", "warn",
	}
}

// startCallServer starts the server: serve + flags as a process, or
// in-process when serve is nil.
func startCallServer(ctx context.Context, serve []string) (*callServer, error) {
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		s, err := tryStartCallServer(ctx, serve)
		if err == nil {
			return s, nil
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
	}
	return nil, lastErr
}

func tryStartCallServer(ctx context.Context, serve []string) (*callServer, error) {
	httpPort, err := freePort()
	if err != nil {
		return nil, err
	}
	// The TURN server takes the same port number for UDP and TCP.
	turnPort, err := callFreeUDPTCPPort()
	if err != nil {
		return nil, err
	}
	var sb [16]byte
	if _, err := rand.Read(sb[:]); err != nil {
		return nil, err
	}
	secret := hex.EncodeToString(sb[:])
	flags := callServeFlags(httpPort, turnPort, secret)
	s := &callServer{
		url:      "http://127.0.0.1:" + strconv.Itoa(httpPort),
		turnAddr: "127.0.0.1:" + strconv.Itoa(turnPort),
		secret:   secret,
	}
	if serve == nil {
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		cfg, err := config.Load(fs, flags, os.Getenv)
		if err != nil {
			return nil, err
		}
		srv, err := httpserver.New(cfg, nil)
		if err != nil {
			return nil, err
		}
		done := make(chan struct{})
		go func() { defer close(done); _ = srv.Serve() }()
		s.desc = "in-process (" + strings.Join(callRedactSecret(flags), " ") + ")"
		s.stop = func() {
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = srv.Shutdown(sctx)
			<-done
		}
	} else {
		argv := append(append([]string(nil), serve...), flags...)
		p, err := startProcess("peercall serve", argv, nil)
		if err != nil {
			return nil, err
		}
		s.desc = "peercall serve " + strings.Join(callRedactSecret(flags), " ")
		s.stop = func() { p.stop(5 * time.Second) }
		if err := waitTCP(ctx, "127.0.0.1:"+strconv.Itoa(httpPort), p.exited, 15*time.Second); err != nil {
			s.stop()
			return nil, fmt.Errorf("%w\n%s", err, p.lastLog())
		}
	}
	if err := callCheckHealth(ctx, s.url); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

func callRedactSecret(flags []string) []string {
	out := append([]string(nil), flags...)
	for i := range out {
		if out[i] == "--turn-secret" && i+1 < len(out) {
			out[i+1] = "RANDOM"
		}
	}
	return out
}

// callFreeUDPTCPPort returns a port free for both UDP and TCP on 127.0.0.1 a
// moment ago.
func callFreeUDPTCPPort() (int, error) {
	for i := 0; i < 20; i++ {
		u, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := u.LocalAddr().(*net.UDPAddr).Port
		t, err := net.Listen("tcp4", "127.0.0.1:"+strconv.Itoa(port))
		u.Close()
		if err == nil {
			t.Close()
			return port, nil
		}
	}
	return 0, errors.New("no port free for both UDP and TCP")
}

func callCheckHealth(ctx context.Context, base string) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/healthz", nil)
		if err != nil {
			return err
		}
		res, err := http.DefaultClient.Do(req)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("GET /healthz: %s", res.Status)
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}
