package turnserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/peercall/peercall/internal/testutil"
)

// exchange sends ping from the relay to peer and pong back, retrying until
// both arrive: the first packets may race the CreatePermission.
func exchange(t *testing.T, relay net.PacketConn, peer *net.UDPConn) {
	t.Helper()
	ping, pong := []byte("ping through the relay"), []byte("pong back through the relay")
	buf := make([]byte, 1500)
	var relayAddr net.Addr
	testutil.Eventually(t, waitFor, func() error {
		if _, err := relay.WriteTo(ping, peer.LocalAddr()); err != nil {
			return fmt.Errorf("relay write: %w", err)
		}
		_ = peer.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		n, from, err := peer.ReadFrom(buf)
		if err != nil {
			return fmt.Errorf("peer read: %w", err)
		}
		if !bytes.Equal(buf[:n], ping) {
			return fmt.Errorf("peer got %q", buf[:n])
		}
		relayAddr = from
		return nil
	})
	if relayAddr.String() != relay.LocalAddr().String() {
		t.Errorf("peer got data from %v, want the relay address %v", relayAddr, relay.LocalAddr())
	}
	testutil.Eventually(t, waitFor, func() error {
		if _, err := peer.WriteTo(pong, relayAddr); err != nil {
			return fmt.Errorf("peer write: %w", err)
		}
		_ = relay.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		n, from, err := relay.ReadFrom(buf)
		if err != nil {
			return fmt.Errorf("relay read: %w", err)
		}
		if !bytes.Equal(buf[:n], pong) || from.String() != peer.LocalAddr().String() {
			return fmt.Errorf("relay got %q from %v", buf[:n], from)
		}
		return nil
	})
}

func TestRelay(t *testing.T) {
	for _, transport := range []string{"UDP", "TCP"} {
		t.Run("a client over "+transport+" exchanges data with a loopback peer when loopback is allowed", func(t *testing.T) {
			checkGoroutines(t)
			s := startServer(t, Config{AllowLoopback: true})
			u, p, _ := s.Credentials("alice")
			relay, err := allocate(t, dialClient(t, s, u, p, transport == "TCP"))
			if err != nil {
				t.Fatalf("Allocate: %v", err)
			}
			if ip := relay.LocalAddr().(*net.UDPAddr).IP; !ip.Equal(net.IPv4(127, 0, 0, 1)) {
				t.Errorf("relay address %v, want it on 127.0.0.1", relay.LocalAddr())
			}
			if st := s.Stats(); st.Allocations != 1 || st.AllocationsTotal != 1 {
				t.Errorf("Stats after Allocate = %+v, want 1 allocation", st)
			}
			peer := listenPeer(t)
			exchange(t, relay, peer)
			// Both payloads crossed the relay socket at least once. The
			// counter is added to after the socket call returns, so it
			// may trail the data by a moment.
			least := uint64(len("ping through the relay") + len("pong back through the relay"))
			testutil.Eventually(t, waitFor, func() error {
				if got := s.Stats().RelayedBytes; got < least {
					return fmt.Errorf("RelayedBytes = %d, want at least %d", got, least)
				}
				return nil
			})

			if err := relay.Close(); err != nil {
				t.Fatalf("close relay: %v", err)
			}
			testutil.Eventually(t, waitFor, func() error {
				if st := s.Stats(); st.Allocations != 0 || st.AllocationsTotal != 1 {
					return fmt.Errorf("Stats after deallocation = %+v", st)
				}
				return nil
			})
		})
	}

	t.Run("a permission to a loopback peer is refused when loopback is not allowed", func(t *testing.T) {
		checkGoroutines(t)
		s := startServer(t, Config{})
		u, p, _ := s.Credentials("mallory")
		c := dialClient(t, s, u, p, false)
		relay, err := allocate(t, c)
		if err != nil {
			t.Fatalf("Allocate: %v", err)
		}
		peer := listenPeer(t)
		if err := c.CreatePermission(peer.LocalAddr()); err == nil {
			t.Fatal("CreatePermission to 127.0.0.1 succeeded")
		}
		if _, err := relay.WriteTo([]byte("ssrf"), peer.LocalAddr()); err == nil {
			t.Error("WriteTo 127.0.0.1 through the relay succeeded")
		}
		// Nothing reaches the peer, and the peer cannot reach the client
		// through the relay either.
		_, _ = peer.WriteTo([]byte("in"), relay.LocalAddr())
		_ = peer.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		if n, _, err := peer.ReadFrom(make([]byte, 64)); err == nil {
			t.Fatalf("peer received %d bytes through a refused relay", n)
		}
		_ = relay.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		if n, _, err := relay.ReadFrom(make([]byte, 64)); err == nil {
			t.Fatalf("client received %d bytes from a refused peer", n)
		}
		if st := s.Stats(); st.PeerDenials == 0 {
			t.Errorf("Stats = %+v, want PeerDenials > 0", st)
		}
	})

	t.Run("Close releases open allocations and connections", func(t *testing.T) {
		checkGoroutines(t)
		s, err := New(Config{ListenAddr: "127.0.0.1:0", Secret: testSecret, Logger: testLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		u, p, _ := s.Credentials("alice")
		for _, tcp := range []bool{false, true} {
			c := dialClient(t, s, u, p, tcp)
			if _, err := allocate(t, c); err != nil {
				t.Fatalf("Allocate: %v", err)
			}
		}
		if n := s.Stats().Allocations; n != 2 {
			t.Fatalf("Allocations = %d, want 2", n)
		}
		idle, err := net.Dial("tcp", s.TCPAddr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer idle.Close()
		testutil.Eventually(t, waitFor, func() error {
			s.mu.Lock()
			defer s.mu.Unlock()
			if n := len(s.tcpConns); n != 2 {
				return fmt.Errorf("%d TCP connections tracked, want 2", n)
			}
			return nil
		})
		start := time.Now()
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if d := time.Since(start); d > closeTimeout/2 {
			t.Errorf("Close took %v: it waited for something that was not released", d)
		}
		// The server closed the TCP connections itself; pion alone would
		// leave them (and their goroutines) open.
		_ = idle.SetReadDeadline(time.Now().Add(waitFor))
		if _, err := idle.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
			t.Errorf("read on a TCP connection after Close: %v, want EOF", err)
		}
		if n := s.Stats().Allocations; n != 0 {
			t.Errorf("Allocations after Close = %d, want 0", n)
		}
		if err := s.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
	})
}

func TestRelayToRelay(t *testing.T) {
	checkGoroutines(t)
	// Two relay-only clients reach each other through the server's own
	// relay address, which the peer filter must allow (here loopback).
	s := startServer(t, Config{AllowLoopback: true})
	ua, pa, _ := s.Credentials("alice")
	ub, pb, _ := s.Credentials("bob")
	alice := dialClient(t, s, ua, pa, false)
	bob := dialClient(t, s, ub, pb, true)
	relayA, err := allocate(t, alice)
	if err != nil {
		t.Fatal(err)
	}
	relayB, err := allocate(t, bob)
	if err != nil {
		t.Fatal(err)
	}
	if err := bob.CreatePermission(relayA.LocalAddr()); err != nil {
		t.Fatalf("bob's permission for alice's relay: %v", err)
	}
	msg := []byte("relay to relay")
	buf := make([]byte, 1500)
	testutil.Eventually(t, waitFor, func() error {
		if _, err := relayA.WriteTo(msg, relayB.LocalAddr()); err != nil {
			return err
		}
		_ = relayB.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		n, from, err := relayB.ReadFrom(buf)
		if err != nil {
			return err
		}
		if !bytes.Equal(buf[:n], msg) || from.String() != relayA.LocalAddr().String() {
			return fmt.Errorf("bob got %q from %v", buf[:n], from)
		}
		return nil
	})
	if st := s.Stats(); st.Allocations != 2 || st.PeerDenials != 0 {
		t.Errorf("Stats = %+v", st)
	}
}

// levelRecorder records the level of every log record whose message
// contains substr.
type levelRecorder struct {
	substr string
	mu     sync.Mutex
	levels []slog.Level
}

func (r *levelRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *levelRecorder) Handle(_ context.Context, rec slog.Record) error {
	if strings.Contains(rec.Message, r.substr) {
		r.mu.Lock()
		r.levels = append(r.levels, rec.Level)
		r.mu.Unlock()
	}
	return nil
}
func (r *levelRecorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *levelRecorder) WithGroup(string) slog.Handler      { return r }

func (r *levelRecorder) seen() []slog.Level {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.levels)
}

// Anyone can send UDP to a relay address. pion/turn logs each such packet
// from a peer without permission at info level; the server keeps that below
// debug, so that strangers cannot flood the log.
func TestPacketsFromStrangersAreNotLoggedAtInfo(t *testing.T) {
	rec := &levelRecorder{substr: "No Permission"}
	s := startServer(t, Config{AllowLoopback: true, Logger: slog.New(rec)})
	u, p, _ := s.Credentials("alice")
	relay, err := allocate(t, dialClient(t, s, u, p, false))
	if err != nil {
		t.Fatalf("Allocate: %v", err)
	}
	defer relay.Close()
	stranger := listenPeer(t)
	testutil.Eventually(t, waitFor, func() error {
		if _, err := stranger.WriteTo([]byte("knock knock"), relay.LocalAddr()); err != nil {
			return err
		}
		if len(rec.seen()) < 5 {
			return fmt.Errorf("pion logged %d dropped packets so far", len(rec.seen()))
		}
		return nil
	})
	for _, l := range rec.seen() {
		if l >= slog.LevelDebug {
			t.Fatalf("a packet from a stranger was logged at %v", l)
		}
	}
}
