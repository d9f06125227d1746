package turnserver

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/logging"
	"github.com/pion/stun/v4"
	"github.com/pion/turn/v5"

	"github.com/peercall/peercall/internal/testutil"
)

// The tests create STUN/TURN traffic, so they run in a loopback-only
// network namespace.
func TestMain(m *testing.M) { testutil.MainInLoopbackNamespace(m) }

const (
	testSecret = "test-secret-0123456789"
	// waitFor is the deadline for anything a test polls for.
	waitFor = 10 * time.Second
)

// fakeClock is a settable clock for Config.Now.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1_800_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// testLogger logs through t when -v is given, else discards.
func testLogger(t testing.TB) *slog.Logger {
	if !testing.Verbose() {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// startServer starts a server on 127.0.0.1:0 with the test secret, fills
// in cfg's zero fields for tests, and closes it when the test ends.
func startServer(t testing.TB, cfg Config) *Server {
	t.Helper()
	if cfg.ListenAddr == "" {
		cfg.ListenAddr = "127.0.0.1:0"
	}
	if cfg.Secret == "" {
		cfg.Secret = testSecret
	}
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// checkGoroutines fails the test if goroutines started during it are still
// running once its cleanups ran. Call it first, so its cleanup runs last.
func checkGoroutines(t testing.TB) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		err := testutil.Poll(waitFor, func() error {
			if n := runtime.NumGoroutine(); n > before {
				return fmt.Errorf("%d goroutines running, %d before the test", n, before)
			}
			return nil
		})
		if err != nil {
			buf := make([]byte, 1<<20)
			t.Errorf("goroutine leak: %v\n%s", err, buf[:runtime.Stack(buf, true)])
		}
	})
}

// discardLoggers silences the pion TURN client.
var discardLoggers = discardFactory{}

type discardFactory struct{}

func (discardFactory) NewLogger(string) logging.LeveledLogger {
	l := logging.NewDefaultLeveledLoggerForScope("", logging.LogLevelDisabled, io.Discard)
	return l
}

// dialClient returns a pion TURN client of s over UDP (or TCP when tcp is
// true) with the given credentials, closed when the test ends.
func dialClient(t testing.TB, s *Server, username, password string, tcp bool) *turn.Client {
	t.Helper()
	var conn net.PacketConn
	addr := s.UDPAddr().String()
	if tcp {
		c, err := net.Dial("tcp", s.TCPAddr().String())
		if err != nil {
			t.Fatalf("dial TCP: %v", err)
		}
		conn = turn.NewSTUNConn(c)
		addr = s.TCPAddr().String()
	} else {
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("listen: %v", err)
		}
		conn = c
	}
	return dialClientConn(t, addr, conn, username, password)
}

// dialClientConn returns a pion TURN client of the server at addr on conn,
// closed (with conn) when the test ends.
func dialClientConn(t testing.TB, addr string, conn net.PacketConn, username, password string) *turn.Client {
	t.Helper()
	client, err := turn.NewClient(&turn.ClientConfig{
		STUNServerAddr: addr,
		TURNServerAddr: addr,
		Conn:           conn,
		Username:       username,
		Password:       password,
		LoggerFactory:  discardLoggers,
	})
	if err != nil {
		_ = conn.Close()
		t.Fatalf("turn.NewClient: %v", err)
	}
	if err := client.Listen(); err != nil {
		t.Fatalf("Listen: %v", err)
	}
	t.Cleanup(func() {
		client.Close()
		_ = conn.Close()
	})
	return client
}

// allocate allocates a relay and closes it (deallocating) when the test
// ends.
func allocate(t testing.TB, c *turn.Client) (net.PacketConn, error) {
	t.Helper()
	relay, err := c.Allocate()
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { _ = relay.Close() })
	return relay, nil
}

// turnErrorCode returns the STUN error code in err, or 0.
func turnErrorCode(err error) stun.ErrorCode {
	var te *stun.TurnError
	if errors.As(err, &te) {
		return te.ErrorCodeAttr.Code
	}
	return 0
}

// listenPeer returns a plain UDP socket on loopback standing in for a
// remote peer.
func listenPeer(t testing.TB) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatalf("listen peer: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestMainRunsInLoopbackNamespace(t *testing.T) {
	if !testutil.InLoopbackNamespace() {
		t.Fatal("tests must run in the loopback-only namespace")
	}
}
