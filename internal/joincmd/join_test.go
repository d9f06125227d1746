package joincmd

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/peercall/peercall/client"
	"github.com/peercall/peercall/internal/config"
	"github.com/peercall/peercall/internal/servertest"
	"github.com/peercall/peercall/internal/testutil"
)

// testutil.Buffer is a bytes.Buffer that a test may read while Run writes it.

// result is one finished Run.
type result struct {
	name   string
	code   int
	stdout string
	stderr string
}

// startRun runs Run in a goroutine; wait for its result on the channel.
// stderr may be nil.
func startRun(ctx context.Context, name string, stderr *testutil.Buffer, args ...string) <-chan result {
	if stderr == nil {
		stderr = &testutil.Buffer{}
	}
	ch := make(chan result, 1)
	go func() {
		var stdout testutil.Buffer
		code := Run(ctx, args, &stdout, stderr)
		ch <- result{name: name, code: code, stdout: stdout.String(), stderr: stderr.String()}
	}()
	return ch
}

func await(t *testing.T, ch <-chan result) result {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(60 * time.Second):
		t.Fatal("Run did not return within 60 s")
		return result{}
	}
}

func decodeReport(t *testing.T, b []byte) Report {
	t.Helper()
	var r Report
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		t.Fatalf("stdout is not one JSON report: %v\n%s", err, b)
	}
	if dec.More() {
		t.Fatalf("stdout holds more than one JSON value:\n%s", b)
	}
	return r
}

// checkGotMediaFrom checks a --json report of a run that exchanged media
// with exactly one peer called peerName.
func checkGotMediaFrom(t *testing.T, r result, peerName, candidateType string) {
	t.Helper()
	if r.code != 0 {
		t.Errorf("%s: exit status %d; stderr:\n%s", r.name, r.code, r.stderr)
	}
	rep := decodeReport(t, []byte(r.stdout))
	if !rep.OK || rep.ParticipantID == "" || len(rep.Errors) != 0 {
		t.Errorf("%s: report %+v", r.name, rep)
	}
	if len(rep.Peers) != 1 {
		t.Fatalf("%s: %d peers in the report, want 1: %+v", r.name, len(rep.Peers), rep.Peers)
	}
	p := rep.Peers[0]
	if p.Name != peerName || p.ID == "" || p.ID == rep.ParticipantID {
		t.Errorf("%s: peer %q (%s), want %s", r.name, p.Name, p.ID, peerName)
	}
	if p.Video.Packets == 0 || p.Video.Bytes == 0 || p.Audio.Packets == 0 || p.Audio.Bytes == 0 {
		t.Errorf("%s: got video %+v, audio %+v from %s; want both", r.name, p.Video, p.Audio, peerName)
	}
	if p.ICEConnectedMS == nil || p.FirstMediaMS == nil || p.LastMediaAgeMS == nil {
		t.Errorf("%s: missing times: connected %v, first media %v, last media age %v",
			r.name, p.ICEConnectedMS, p.FirstMediaMS, p.LastMediaAgeMS)
	}
	if candidateType == "" && p.CandidateType == "" || candidateType != "" && p.CandidateType != candidateType {
		t.Errorf("%s: candidate type %q, want %q", r.name, p.CandidateType, or(candidateType, "any"))
	}
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// waitJoined waits until a run started with --verbose has joined its room.
func waitJoined(t *testing.T, log *testutil.Buffer) {
	t.Helper()
	testutil.Eventually(t, 20*time.Second, func() error {
		if !strings.Contains(log.String(), "joined room") {
			return fmt.Errorf("not joined yet; log:\n%s", log.String())
		}
		return nil
	})
}

// exchange runs alice and then bob in room with extra flags, both with
// --expect-peers 1 --json, and checks both got audio and video from the
// other. bob starts once alice has joined; see
// TestJoinsStartingAtOnceSeeEachOther for the two starting together.
func exchange(t *testing.T, room, candidateType string, extra ...string) {
	srv := servertest.Start(t)
	baseline := runtime.NumGoroutine()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	common := append([]string{"--url", srv.URL, "--room", room, "--expect-peers", "1", "--json", "--timeout", "30s", "--verbose"}, extra...)
	aliceLog := &testutil.Buffer{}
	alice := startRun(ctx, "alice", aliceLog, append(common, "--name", "alice")...)
	waitJoined(t, aliceLog)
	bob := startRun(ctx, "bob", nil, append(common, "--name", "bob")...)
	checkGotMediaFrom(t, await(t, alice), "bob", candidateType)
	checkGotMediaFrom(t, await(t, bob), "alice", candidateType)
	// Everything Run started has ended: pion, the SDK, players, readers.
	testutil.Eventually(t, 20*time.Second, func() error {
		if n := runtime.NumGoroutine(); n > baseline {
			return fmt.Errorf("%d goroutines, %d before the runs:\n%s", n, baseline, goroutines())
		}
		return nil
	})
}

func goroutines() string {
	buf := make([]byte, 1<<20)
	return string(buf[:runtime.Stack(buf, true)])
}

func TestTwoJoinsExchangeAudioAndVideoAndStopOnceTheyHave(t *testing.T) {
	exchange(t, "demo", "")
}

func TestRelayOnlyJoinsConnectThroughTheTURNRelay(t *testing.T) {
	exchange(t, "relay", "relay", "--relay-only")
}

func TestJoinsStartingAtOnceSeeEachOther(t *testing.T) {
	// Two participants joining the same room at the same moment must each
	// learn of the other, whichever the server admits first.
	srv := servertest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const pairs = 3
	var runs []<-chan result
	for i := range pairs {
		room := fmt.Sprintf("race%d", i)
		common := []string{"--url", srv.URL, "--room", room, "--expect-peers", "1", "--json", "--timeout", "20s"}
		runs = append(runs,
			startRun(ctx, room+"/alice", nil, append(common, "--name", "alice")...),
			startRun(ctx, room+"/bob", nil, append(common, "--name", "bob")...))
	}
	for i, ch := range runs {
		other := []string{"bob", "alice"}[i%2]
		checkGotMediaFrom(t, await(t, ch), other, "")
	}
}

func TestAPeerThatLeftStaysInTheReport(t *testing.T) {
	srv := servertest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// alice stays until cancelled (Ctrl-C); bob leaves once he has media.
	aliceCtx, ctrlC := context.WithCancel(ctx)
	defer ctrlC()
	aliceLog := &testutil.Buffer{}
	alice := startRun(aliceCtx, "alice", aliceLog, "--url", srv.URL, "--room", "leave", "--name", "alice",
		"--duration", "50s", "--json", "--verbose")
	waitJoined(t, aliceLog)
	bob := startRun(ctx, "bob", nil, "--url", srv.URL, "--room", "leave", "--name", "bob",
		"--expect-peers", "1", "--json", "--timeout", "30s")
	checkGotMediaFrom(t, await(t, bob), "alice", "")
	testutil.Eventually(t, 20*time.Second, func() error {
		if !strings.Contains(aliceLog.String(), `"bob"`) || !strings.Contains(aliceLog.String(), "left: left") {
			return fmt.Errorf("alice has not seen bob leave; her log:\n%s", aliceLog.String())
		}
		return nil
	})
	ctrlC()
	r := await(t, alice)
	if r.code != 0 {
		t.Fatalf("alice: exit status %d after Ctrl-C; stderr:\n%s", r.code, r.stderr)
	}
	rep := decodeReport(t, []byte(r.stdout))
	if len(rep.Peers) != 1 {
		t.Fatalf("alice: %d peers in the report, want bob: %+v", len(rep.Peers), rep.Peers)
	}
	// bob may leave before his media reaches alice: he stops as soon as
	// hers reached him.
	p := rep.Peers[0]
	if p.Name != "bob" || !p.Left || p.LeftReason != "left" || p.ICEConnectedMS == nil {
		t.Errorf("alice's report on bob: %+v", p)
	}
	for _, s := range []string{`joined room "leave" as "alice"`, `"bob" (` + p.ID + `) joined`, `"bob" (` + p.ID + `) left: left`} {
		if !strings.Contains(r.stderr, s) {
			t.Errorf("alice's --verbose log lacks %q:\n%s", s, r.stderr)
		}
	}
}

func TestExpectPeersFailsAfterTheTimeoutWhenNobodyCame(t *testing.T) {
	srv := servertest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r := await(t, startRun(ctx, "alone", nil, "--url", srv.URL, "--room", "empty", "--expect-peers", "1", "--timeout", "500ms"))
	if r.code != exitFailed {
		t.Errorf("exit status %d, want %d", r.code, exitFailed)
	}
	if want := "peercall join: got media from 0 of 1 expected peers (missing: 1 never joined)\n"; r.stderr != want {
		t.Errorf("stderr %q, want %q", r.stderr, want)
	}
	if !strings.Contains(r.stdout, `joined room "empty" as participant `) {
		t.Errorf("no human summary on stdout: %q", r.stdout)
	}
}

func TestAFullRoomIsReportedWithItsErrorCode(t *testing.T) {
	srv := servertest.Start(t, func(c *config.Config) { c.MaxParticipants = 2 })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, name := range []string{"first", "second"} {
		r, err := client.Join(ctx, client.Config{URL: srv.URL, Room: "full", Name: name})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
	}
	r := await(t, startRun(ctx, "third", nil, "--url", srv.URL, "--room", "full", "--json"))
	if r.code != exitFailed {
		t.Errorf("exit status %d, want %d", r.code, exitFailed)
	}
	if !strings.HasPrefix(r.stderr, "peercall join: room_full: ") || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("stderr %q, want one line starting with %q", r.stderr, "peercall join: room_full: ")
	}
	rep := decodeReport(t, []byte(r.stdout))
	if rep.OK || rep.ParticipantID != "" || len(rep.Errors) != 1 || !strings.HasPrefix(rep.Errors[0], "room_full: ") {
		t.Errorf("report %+v", rep)
	}
}

func TestServerShutdownEndsTheRunWithAnError(t *testing.T) {
	srv := servertest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	log := &testutil.Buffer{}
	ch := startRun(ctx, "alice", log, "--url", srv.URL, "--room", "shutdown", "--duration", "50s", "--verbose", "--reconnect=false")
	testutil.Eventually(t, 20*time.Second, func() error {
		if !strings.Contains(log.String(), `joined room "shutdown"`) {
			return fmt.Errorf("not joined yet; log:\n%s", log.String())
		}
		return nil
	})
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	r := await(t, ch)
	if r.code != exitFailed {
		t.Errorf("exit status %d, want %d", r.code, exitFailed)
	}
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, "peercall join: disconnected: ") &&
		last != "peercall join: lost the connection to the server" {
		t.Errorf("last stderr line %q", last)
	}
}
