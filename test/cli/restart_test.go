package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/peercall/peercall/internal/testutil"
)

// TestCallsKeepTheirMediaThroughAServerRestart kills peercall serve in the
// middle of a call and starts it again with the same session secret: the
// participants reconnect, resume with their IDs, and their media, peer to
// peer, never stops.
func TestCallsKeepTheirMediaThroughAServerRestart(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	args := []string{"--listen", "127.0.0.1:" + strconv.Itoa(port), "--turn-listen", "off", "--session-secret", "restart-test-secret-0123456789"}
	s1 := serve(t, args...)

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	type proc struct {
		cmd            *exec.Cmd
		stdout, stderr *testutil.Buffer
		done           chan error
	}
	var procs []*proc
	for _, name := range []string{"alice", "bob"} {
		p := &proc{stdout: &testutil.Buffer{}, stderr: &testutil.Buffer{}, done: make(chan error, 1)}
		p.cmd = exec.CommandContext(ctx, binary(t), "join", "--url", s1.url, "--room", "restart", "--name", name,
			"--duration", "20s", "--expect-peers", "1", "--json", "--verbose")
		p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
		if err := p.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { p.done <- p.cmd.Wait() }()
		procs = append(procs, p)
	}
	testutil.Eventually(t, 30*time.Second, func() error {
		for _, p := range procs {
			if !strings.Contains(p.stderr.String(), "first video packet") {
				return fmt.Errorf("no video yet")
			}
		}
		return nil
	})

	s1.cmd.Process.Kill()
	<-s1.exited
	restarted := time.Now()
	s2 := serve(t, args...)
	testutil.Eventually(t, 20*time.Second, func() error {
		resp, err := http.Get(s2.url + "/healthz")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var h struct{ Participants int }
		json.NewDecoder(resp.Body).Decode(&h)
		if h.Participants != 2 {
			return fmt.Errorf("%d participants back", h.Participants)
		}
		return nil
	})
	t.Logf("both participants back on the restarted server %v after it was started", time.Since(restarted).Round(time.Millisecond))

	var ids [2]string
	var reps [2]struct {
		ParticipantID string `json:"participant_id"`
		Peers         []struct {
			ID    string
			Video struct {
				Packets  int   `json:"packets"`
				MaxGapMS int64 `json:"max_gap_ms"`
			}
		} `json:"peers"`
	}
	for i, p := range procs {
		if err := <-p.done; err != nil {
			t.Fatalf("join %d: %v\n%s", i, err, p.stderr)
		}
		if err := json.Unmarshal(bytes.TrimSpace([]byte(p.stdout.String())), &reps[i]); err != nil {
			t.Fatal(err)
		}
		ids[i] = reps[i].ParticipantID
	}
	for i, r := range reps {
		if len(r.Peers) != 1 || r.Peers[0].ID != ids[1-i] {
			t.Fatalf("participant %d saw %+v; want the same peer throughout", i, r.Peers)
		}
		if gap := r.Peers[0].Video.MaxGapMS; gap > 1000 {
			t.Errorf("participant %d: video stopped for %d ms across the restart", i, gap)
		}
		t.Logf("participant %d: longest video gap %d ms across the restart", i, r.Peers[0].Video.MaxGapMS)
	}
}
