// Package cli tests the peercall binary as a user runs it: peercall serve in
// one process, peercall join participants in others, all inside a
// loopback-only network namespace.
package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/peercall/peercall/internal/testutil"
)

func TestMain(m *testing.M) { testutil.MainInLoopbackNamespace(m) }

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds cmd/peercall once per test run.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "peercall-cli")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "peercall")
		out, err := exec.Command("go", "build", "-race", "-o", binPath, "../../cmd/peercall").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

type server struct {
	cmd    *exec.Cmd
	url    string
	stdout *testutil.Buffer
	stderr *testutil.Buffer
	exited chan struct{} // closed when the process has exited
	err    error         // its exit status, valid after exited
}

var urlLine = regexp.MustCompile(`signaling on (http://\S+)`)

// serve starts peercall serve with args on random loopback ports and waits
// for it to print its URL.
func serve(t *testing.T, args ...string) *server {
	t.Helper()
	args = append([]string{"serve", "--listen", "127.0.0.1:0", "--turn-listen", "127.0.0.1:0"}, args...)
	cmd := exec.Command(binary(t), args...)
	pr, pw := io.Pipe()
	s := &server{cmd: cmd, stdout: &testutil.Buffer{}, stderr: &testutil.Buffer{}, exited: make(chan struct{})}
	cmd.Stdout = io.MultiWriter(s.stdout, pw)
	cmd.Stderr = s.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.err = cmd.Wait(); pw.Close(); close(s.exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-s.exited
		if t.Failed() {
			t.Logf("serve stdout:\n%s\nserve stderr:\n%s", s.stdout, s.stderr)
		}
	})
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if m := urlLine.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
	}()
	select {
	case s.url = <-found:
	case <-s.exited:
		t.Fatalf("peercall serve exited: %v\n%s", s.err, s.stderr)
	case <-time.After(30 * time.Second):
		t.Fatalf("peercall serve printed no URL:\n%s", s.stdout)
	}
	return s
}

type joinReport struct {
	ParticipantID string `json:"participant_id"`
	Room          string `json:"room"`
	Peers         []struct {
		ID             string  `json:"id"`
		Name           string  `json:"name"`
		ICEConnectedMS float64 `json:"ice_connected_ms"`
		FirstMediaMS   float64 `json:"first_media_ms"`
		CandidateType  string  `json:"candidate_type"`
		SafetyCode     string  `json:"safety_code"`
		Video, Audio   struct {
			Packets int `json:"packets"`
			Bytes   int `json:"bytes"`
		}
	} `json:"peers"`
	Errors []string `json:"errors"`
}

type joinResult struct {
	code   int
	report joinReport
	stderr string
}

func join(ctx context.Context, t *testing.T, args ...string) joinResult {
	cmd := exec.CommandContext(ctx, binary(t), append([]string{"join", "--json"}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := joinResult{code: cmd.ProcessState.ExitCode(), stderr: stderr.String()}
	if err != nil && r.code == 0 {
		r.code = -1
	}
	if stdout.Len() > 0 {
		if err := json.Unmarshal(stdout.Bytes(), &r.report); err != nil {
			t.Errorf("join --json printed invalid JSON %q: %v", stdout.String(), err)
		}
	}
	return r
}

// joinPair runs two peercall join processes in one room at once.
func joinPair(t *testing.T, url, room string, extra ...string) [2]joinResult {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var res [2]joinResult
	var wg sync.WaitGroup
	for i, name := range []string{"alice", "bob"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i] = join(ctx, t, append([]string{"--url", url, "--room", room, "--name", name, "--expect-peers", "1"}, extra...)...)
		}()
	}
	wg.Wait()
	return res
}

func checkCall(t *testing.T, res [2]joinResult, wantCandidate string) {
	t.Helper()
	for i, r := range res {
		if r.code != 0 {
			t.Fatalf("participant %d exited %d: %s", i, r.code, r.stderr)
		}
		if len(r.report.Peers) != 1 {
			t.Fatalf("participant %d saw peers %+v", i, r.report.Peers)
		}
		p := r.report.Peers[0]
		if p.Video.Packets == 0 || p.Audio.Packets == 0 || p.FirstMediaMS <= 0 {
			t.Fatalf("participant %d got no media: %+v", i, p)
		}
		if wantCandidate != "" && p.CandidateType != wantCandidate {
			t.Fatalf("participant %d used a %q pair, want %q", i, p.CandidateType, wantCandidate)
		}
		t.Logf("%s: ICE connected after %.0f ms, first media after %.0f ms over %s", p.Name, p.ICEConnectedMS, p.FirstMediaMS, p.CandidateType)
	}
	if res[0].report.Peers[0].ID != res[1].report.ParticipantID || res[1].report.Peers[0].ID != res[0].report.ParticipantID {
		t.Fatal("participants disagree on each other's IDs")
	}
	if a, b := res[0].report.Peers[0].SafetyCode, res[1].report.Peers[0].SafetyCode; a == "" || a != b {
		t.Fatalf("safety codes %q and %q: an untampered call must show one code on both sides", a, b)
	}
}

func TestTwoJoinProcessesCallEachOtherThroughPeercallServe(t *testing.T) {
	s := serve(t)
	checkCall(t, joinPair(t, s.url, "demo"), "host")
}

func TestARelayOnlyCallGoesThroughTheEmbeddedTURN(t *testing.T) {
	s := serve(t, "--turn-allow-loopback")
	checkCall(t, joinPair(t, s.url, "relay", "--relay-only"), "relay")
	resp, err := http.Get(s.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^peercall_turn_relayed_bytes_total (\S+)$`).FindSubmatch(body)
	if m == nil || string(m[1]) == "0" {
		t.Fatalf("TURN relayed no bytes according to /metrics: %q", m)
	}
}

func TestWithoutAllowLoopbackTheRelayRefusesLoopbackPeers(t *testing.T) {
	// Both relays live on 127.0.0.1, so each relay's peer is a loopback
	// address: the default peer filter must refuse it and the call fail.
	s := serve(t)
	for i, r := range joinPair(t, s.url, "norelay", "--relay-only", "--duration", "8s") {
		if r.code == 0 {
			t.Fatalf("participant %d connected through a relay to loopback: %+v", i, r.report)
		}
		for _, p := range r.report.Peers {
			if p.Video.Packets > 0 || p.Audio.Packets > 0 {
				t.Fatalf("participant %d received media through a forbidden relay: %+v", i, p)
			}
		}
	}
}

func TestServeShutsDownGracefullyAndTellsClients(t *testing.T) {
	s := serve(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res := make(chan joinResult, 1)
	go func() { res <- join(ctx, t, "--url", s.url, "--room", "bye", "--duration", "50s", "--reconnect=false") }()
	testutil.Eventually(t, 30*time.Second, func() error {
		resp, err := http.Get(s.url + "/healthz")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var h struct{ Participants int }
		json.NewDecoder(resp.Body).Decode(&h)
		if h.Participants != 1 {
			return fmt.Errorf("%d participants", h.Participants)
		}
		return nil
	})
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
		if s.err != nil {
			t.Fatalf("serve exited with %v after SIGTERM", s.err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not exit within 20 s of SIGTERM")
	}
	if !strings.Contains(s.stdout.String(), "shutting down") {
		t.Fatalf("serve did not say it was shutting down:\n%s", s.stdout)
	}
	r := <-res
	if !strings.Contains(r.stderr+strings.Join(r.report.Errors, " "), "server_shutdown") {
		t.Fatalf("join was not told about the shutdown: exit %d, stderr %q, errors %q", r.code, r.stderr, r.report.Errors)
	}
}

func TestServeRefusesBadFlagsClearly(t *testing.T) {
	out, err := exec.Command(binary(t), "serve", "--max-participants", "1").CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), "max-participants") {
		t.Fatalf("exit %v, output %q", err, out)
	}
}
