package bench

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// envSelf makes the test binary act as "peercall bench" for the processes a
// suite starts: the load generator and the signaling server.
const envSelf = "PEERCALL_BENCH_TEST_SELF"

func TestMain(m *testing.M) {
	if os.Getenv(envSelf) == "1" {
		os.Exit(Run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// tinyScale is the quick suite's logic at a scale that runs in seconds.
var tinyScale = SignalScale{
	ConnectLevels: []int{10, 20}, ConnectConcurrency: 8,
	ConnectSettle: 200 * time.Millisecond, ConnectHold: 500 * time.Millisecond,
	RelayPairs: []int{5}, RelayWarmup: 200 * time.Millisecond, RelayDuration: time.Second,
	StormRooms: 10, StormCandidates: 8, StormTimeout: 10 * time.Second,
}

func TestTheSignalSuiteMeasuresSaneNumbersAtATinyScale(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	servers := []string{serverPeercall}
	peerjsDir := os.Getenv("PEERCALL_BENCH_PEERJS_DIR")
	if ok, _ := peerJSInstalled(peerjsDir); peerjsDir != "" && ok {
		servers = append(servers, serverPeerJS)
	} else {
		t.Log("peerjs-server part skipped: set PEERCALL_BENCH_PEERJS_DIR to a directory with node_modules/peer@" + peerJSVersion + " to include it (the unit test never runs npm)")
	}
	var stderr bytes.Buffer
	o := Options{
		Reps:      1,
		Self:      []string{exe},
		SelfEnv:   []string{envSelf + "=1"},
		Scale:     &tinyScale,
		Servers:   servers,
		PeerJSDir: peerjsDir,
		Stdout:    &bytes.Buffer{},
		Stderr:    &stderr,
	}
	rep, err := runSignalSuite(ctx, o)
	if err != nil {
		t.Fatalf("suite: %v\n%s", err, stderr.String())
	}
	raw := rep.Raw.(signalRaw)
	for _, r := range raw.Runs {
		res := r.Result
		switch r.Workload {
		case "connect":
			c := res.Connect
			if c == nil || len(c.Levels) != 2 || c.Levels[1].Conns != 20 {
				t.Errorf("%s connect: want 20 connections held, got %+v", r.Server, c)
				continue
			}
			if c.Drops != 0 || c.Failures != 0 || c.ServerErrors != 0 {
				t.Errorf("%s connect: %d drops, %d failures, %d error frames: %s", r.Server, c.Drops, c.Failures, c.ServerErrors, c.FirstError)
			}
			if c.Levels[1].ConnsPerSec <= 0 || c.BaselineKiB <= 0 || c.Levels[1].RSSKiB <= 0 {
				t.Errorf("%s connect: implausible numbers %+v", r.Server, c)
			}
		case "relay":
			rl := res.Relay
			if rl == nil || rl.Messages == 0 || rl.MsgsPerSec <= 0 {
				t.Errorf("%s relay: no messages relayed: %+v", r.Server, rl)
				continue
			}
			if rl.Errors != 0 {
				t.Errorf("%s relay: %d errors: %s", r.Server, rl.Errors, rl.FirstError)
			}
			if rl.P50ms <= 0 || rl.P99ms < rl.P50ms || rl.CPUPer100k <= 0 {
				t.Errorf("%s relay: implausible latency or CPU %+v", r.Server, rl)
			}
		case "storm":
			s := res.Storm
			if s == nil || s.Completed != tinyScale.StormRooms || s.Failed != 0 {
				t.Errorf("%s storm: want all %d setups completed, got %+v", r.Server, tinyScale.StormRooms, s)
				continue
			}
			if s.TotalSeconds <= 0 || s.P99ms < s.P50ms {
				t.Errorf("%s storm: implausible times %+v", r.Server, s)
			}
		}
	}
	if want := (2 + len(tinyScale.RelayPairs)) * len(servers); len(raw.Runs) != want {
		t.Errorf("%d runs, want %d", len(raw.Runs), want)
	}
	for _, s := range []string{"### connect", "### relay", "### setup storm", "**Summary (signal):**"} {
		if !strings.Contains(rep.Markdown, s) {
			t.Errorf("report lacks %q:\n%s", s, rep.Markdown)
		}
	}
	dir := t.TempDir()
	if err := rep.write(dir); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"signal.json", "signal.csv", "signal.md"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	t.Logf("\n%s", rep.Markdown)
}

func TestTheChartShowsBothServersAndTheGoals(t *testing.T) {
	res := func(msgs, cpu float64) loadgenResult {
		return loadgenResult{Relay: &relayResult{MsgsPerSec: msgs, CPUPer100k: cpu}}
	}
	runs := []signalRun{
		{Server: serverPeercall, Workload: "relay", Param: 5, Result: res(30000, 2)},
		{Server: serverPeerJS, Workload: "relay", Param: 5, Result: res(20000, 4)},
	}
	_, relay, _ := signalMetrics(tinyScale)
	svg := string(ratioChart("t", runs, relay[:1]))
	for _, s := range []string{"<svg", "peercall 30,000 (1.50×)", "peerjs-server 20,000", `stroke="#d62f2f"`} {
		if !strings.Contains(svg, s) {
			t.Errorf("chart lacks %q:\n%s", s, svg)
		}
	}
}

func TestMaskingIsItsOwnInverse(t *testing.T) {
	p := []byte("the quick brown fox jumps over the lazy dog")
	orig := string(p)
	key := [4]byte{1, 2, 3, 250}
	maskBytes(p, key)
	if string(p) == orig {
		t.Fatal("masking changed nothing")
	}
	for i := range p {
		if p[i] != orig[i]^key[i%4] {
			t.Fatalf("byte %d masked wrongly", i)
		}
	}
	maskBytes(p, key)
	if string(p) != orig {
		t.Fatal("unmasking did not restore the payload")
	}
}

func TestBothDialectsClassifyRelayedFramesAndTheirSender(t *testing.T) {
	tests := []struct {
		name  string
		d     dialect
		frame string
		kind  frameKind
		from  string
	}{
		{"peercall offer", peercallDialect{}, `{"type":"offer","from":"AAA","payload":{"type":"offer","sdp":"v=0"}}`, kindOffer, "AAA"},
		{"peercall candidate", peercallDialect{}, `{"type":"candidate","from":"BBB","payload":{}}`, kindCandidate, "BBB"},
		{"peercall peer_joined", peercallDialect{}, `{"type":"peer_joined","participant":{"id":"CCC","name":"x"}}`, kindPeerJoined, "CCC"},
		{"peercall pong", peercallDialect{}, `{"type":"pong"}`, kindPong, ""},
		{"peercall error", peercallDialect{}, `{"type":"error","code":"unknown_peer"}`, kindError, ""},
		{"peerjs answer", peerjsDialect{}, `{"type":"ANSWER","src":"s1a","dst":"s1b","payload":{}}`, kindAnswer, "s1a"},
		{"peerjs expire", peerjsDialect{}, `{"type":"EXPIRE","src":"x"}`, kindError, ""},
		{"type not first", peercallDialect{}, `{"from":"DDD","type":"answer","payload":{}}`, kindAnswer, "DDD"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, from := tt.d.classify([]byte(tt.frame))
			if k != tt.kind || from != tt.from {
				t.Errorf("classify = %v %q, want %v %q", k, from, tt.kind, tt.from)
			}
		})
	}
}

func TestRelayFramesAreAboutTheIssuesSizes(t *testing.T) {
	id := "5JZBQ7E2B4XKQ2Q4U6BFGSQW7M"
	for _, d := range []dialect{peercallDialect{}, peerjsDialect{}} {
		offer, cand := len(d.relay(kindOffer, id, offerPayload)), len(d.relay(kindCandidate, id, candidatePayload))
		if offer < 2800 || offer > 3200 || cand < 200 || cand > 300 {
			t.Errorf("%T: offer frame %d bytes, candidate frame %d bytes; want about 3 KB and 250 B", d, offer, cand)
		}
	}
}

// reexecOptions runs a suite of one repetition whose children are this
// test binary re-executed (as peercall would re-execute itself); the suite's
// log goes to the returned buffer.
func reexecOptions(t *testing.T) (Options, *bytes.Buffer) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &bytes.Buffer{}
	return Options{
		Reps:    1,
		Self:    []string{exe},
		SelfEnv: []string{envSelf + "=1"},
		Stdout:  &bytes.Buffer{},
		Stderr:  stderr,
	}, stderr
}
