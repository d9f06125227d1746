// Package redistest runs a real redis-server on loopback for tests: the
// Debian package, which scripts/test.sh installs. Each server has its own
// port and keeps nothing on disk, so a restart loses every key, as an
// unpersisted Redis does.
package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Server is a redis-server process.
type Server struct {
	Port int
	dir  string
	args []string // beyond the common ones: replication, Sentinel mode

	mu  sync.Mutex
	cmd *exec.Cmd
}

// Start starts a redis-server on a free loopback port and stops it when
// the test ends. It fails the test if redis-server is not installed.
func Start(t testing.TB) *Server {
	t.Helper()
	return startWith(t, nil)
}

func startWith(t testing.TB, args func(port int, dir string) []string) *Server {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatal("redis-server is not installed: run ./scripts/test.sh, or apt-get install redis-server")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	s := &Server{Port: port, dir: t.TempDir()}
	if args != nil {
		s.args = args(port, s.dir)
	}
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// StartReplica starts a redis-server that replicates s, and waits until
// it has synchronised.
func (s *Server) StartReplica(t testing.TB) *Server {
	t.Helper()
	r := startWith(t, func(int, string) []string {
		return []string{"--replicaof", "127.0.0.1", strconv.Itoa(s.Port)}
	})
	c := r.Client(t)
	deadline := time.Now().Add(20 * time.Second)
	for {
		info, err := c.Info(context.Background(), "replication").Result()
		if err == nil && strings.Contains(info, "master_link_status:up") {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica on port %d did not synchronise: %v %q", r.Port, err, info)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Sentinel is a redis-server in Sentinel mode watching one master.
type Sentinel struct {
	*Server
	Master string // the name it knows the master by
}

// StartSentinel starts a Sentinel (quorum 1) for master under name, quick
// to act: the master is down after 500 ms of silence, and a failover is
// retried after 2 s. It waits until the Sentinel knows replicas replicas.
func StartSentinel(t testing.TB, master *Server, name string, replicas int) *Sentinel {
	t.Helper()
	s := &Sentinel{Master: name}
	s.Server = startWith(t, func(port int, dir string) []string {
		conf := filepath.Join(dir, "sentinel.conf") // Sentinel rewrites it
		body := fmt.Sprintf("port %d\nbind 127.0.0.1\nsentinel monitor %s 127.0.0.1 %d 1\nsentinel down-after-milliseconds %s 500\nsentinel failover-timeout %s 2000\n",
			port, name, master.Port, name, name)
		if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return []string{conf, "--sentinel"}
	})
	c := s.Client(t)
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := c.Do(context.Background(), "SENTINEL", "REPLICAS", name).Slice()
		if err == nil && len(got) >= replicas {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("Sentinel knows %d replicas of %s, want %d: %v", len(got), name, replicas, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// URL is the --redis URL that follows the master through this Sentinel.
func (s *Sentinel) URL() string { return s.Server.URL() + "?master_name=" + s.Master }

// MasterAddr is the master's address as the Sentinel names it now.
func (s *Sentinel) MasterAddr(t testing.TB) string {
	t.Helper()
	addr, err := s.Client(t).Do(context.Background(), "SENTINEL", "GET-MASTER-ADDR-BY-NAME", s.Master).StringSlice()
	if err != nil || len(addr) != 2 {
		return ""
	}
	return net.JoinHostPort(addr[0], addr[1])
}

// Addr is host:port.
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.Port) }

// URL is the redis:// URL of database 0.
func (s *Server) URL() string { return "redis://" + s.Addr() + "/0" }

// Client returns a client closed when the test ends.
func (s *Server) Client(t testing.TB) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: s.Addr(), DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second})
	t.Cleanup(func() { c.Close() })
	return c
}

func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var args []string
	if len(s.args) > 0 && s.args[len(s.args)-1] == "--sentinel" {
		args = append(args, s.args...) // the config file first, then the mode
	} else {
		args = append([]string{"--bind", "127.0.0.1", "--port", strconv.Itoa(s.Port),
			"--save", "", "--appendonly", "no", "--dir", s.dir, "--protected-mode", "no", "--loglevel", "warning"}, s.args...)
	}
	cmd := exec.Command("redis-server", args...)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	s.cmd = cmd
	c := redis.NewClient(&redis.Options{Addr: s.Addr()})
	defer c.Close()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			return fmt.Errorf("redis-server on port %d did not answer: %w", s.Port, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop kills the server (SIGKILL: an outage, not a shutdown). Idempotent.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	s.cmd.Wait()
	s.cmd = nil
}

// Restart starts the server again on the same port, empty.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop()
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
}
