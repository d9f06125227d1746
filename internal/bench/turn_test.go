package bench

import (
	"context"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// tinyTurnScale is the suite's logic at a scale that runs in seconds.
var tinyTurnScale = TurnScale{Allocations: 4, PayloadBytes: 200, StartPPS: 2000, Factor: 2, MaxPPS: 8000,
	Refine: 1, Step: 300 * time.Millisecond, Drain: 150 * time.Millisecond, MaxLoss: 0.01, Retries: 1}

// TestTheTURNSuiteMeasuresSaneNumbersAtATinyScale runs the turn suite's
// processes as in a real run: the test binary re-executes itself (as
// "peercall bench turn") into a loopback-only network namespace, where it
// starts peercall's TURN server and coturn and a load generator against
// each. It needs root, for the namespace, and coturn installed (the test
// never runs apt-get).
func TestTheTURNSuiteMeasuresSaneNumbersAtATinyScale(t *testing.T) {
	if _, err := exec.LookPath("turnserver"); err != nil {
		t.Fatal("coturn is not installed: the turn suite compares against it. Install it with `apt-get install coturn` (scripts/test.sh does)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	o, stderr := reexecOptions(t)
	rep, err := runTurn(ctx, o, tinyTurnScale, []string{turnPeercall, turnCoturn})
	if err != nil {
		t.Fatalf("suite: %v\n%s", err, stderr.String())
	}
	raw := rep.Raw.(turnRaw)
	if len(raw.Runs) != 2 {
		t.Fatalf("%d runs, want one per server", len(raw.Runs))
	}
	for _, r := range raw.Runs {
		l := r.Result
		if len(l.Steps) == 0 {
			t.Errorf("%s: no ladder steps", r.Server)
			continue
		}
		for _, st := range l.Steps {
			if st.Sent <= 0 || st.Received <= 0 || st.Received > st.Sent {
				t.Errorf("%s at %v pkts/s: sent %d, received %d: nothing relayed, or more than sent", r.Server, st.TargetPPS, st.Sent, st.Received)
			}
			if st.Loss < 0 || st.Loss > 1 || math.Abs(st.Loss-(1-float64(st.Received)/float64(st.Sent))) > 1e-9 {
				t.Errorf("%s at %v pkts/s: loss %v does not follow from %d of %d", r.Server, st.TargetPPS, st.Loss, st.Received, st.Sent)
			}
			if st.ServerCPUSecs < 0 || st.ServerCPUusPer < 0 {
				t.Errorf("%s: negative CPU %+v", r.Server, st)
			}
		}
		// 2,000 packets a second is far below what either server relays.
		if l.MaxHeldPPS < tinyTurnScale.StartPPS {
			t.Errorf("%s held no rate: %+v", r.Server, l)
		}
	}
	pc := figuresFor(raw.Runs, turnPeercall)
	if math.IsNaN(pc.rateRatio) || pc.rateRatio <= 0 {
		t.Errorf("no rate ratio against coturn: %v", pc.rateRatio)
	}
	if pc.common == 0 || math.IsNaN(pc.cpuRate) || pc.cpuRate <= 0 {
		t.Errorf("no CPU comparison at a common rate: common %v, ratio %v", pc.common, pc.cpuRate)
	}
	for _, s := range []string{"| peercall |", "| coturn " + coturnVersion, "÷ coturn", "### Ladders", "**Summary (turn):** peercall vs coturn"} {
		if !strings.Contains(rep.Markdown, s) {
			t.Errorf("report lacks %q:\n%s", s, rep.Markdown)
		}
	}
	dir := t.TempDir()
	if err := rep.write(dir); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"turn.json", "turn.csv", "turn.md", "bench-turn.svg"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	t.Logf("\n%s", rep.Markdown)
}

func TestTheTURNReportComparesCPUAtTheHighestRateBothHeld(t *testing.T) {
	step := func(pps float64, held bool, cpu float64) turnStep {
		loss := 0.0
		if !held {
			loss = 0.2
		}
		return turnStep{TargetPPS: pps, Coarse: true, Held: held, Loss: loss, Sent: 1000, Received: 1000, ServerCPUusPer: cpu}
	}
	runs := []turnRun{
		{Rep: 1, Server: turnPeercall, Result: turnLadder{MaxHeldPPS: 45000, FirstFailPPS: 67500,
			Steps: []turnStep{step(20000, true, 3), step(30000, true, 2.5), step(45000, true, 2), step(67500, false, 2)}}},
		{Rep: 1, Server: turnCoturn, Result: turnLadder{MaxHeldPPS: 30000, FirstFailPPS: 45000,
			Steps: []turnStep{step(20000, true, 6), step(30000, true, 5), step(45000, false, 5)}}},
	}
	f := figuresFor(runs, turnPeercall)
	if f.common != 30000 || f.cpuRate != 0.5 || f.rateRatio != 1.5 {
		t.Errorf("common rate %v, CPU ratio %v, rate ratio %v; want 30000, 0.5, 1.5", f.common, f.cpuRate, f.rateRatio)
	}
	rep := turnReport(turnRaw{Suite: "turn", Reps: 1, Servers: []string{turnPeercall, turnCoturn}, Scale: turnFull, Runs: runs})
	for _, s := range []string{"1.50×", "0.50×", "goal ≥ 1.0×: met", "goal ≤ 1.0×: met"} {
		if !strings.Contains(rep.Markdown, s) {
			t.Errorf("report lacks %q:\n%s", s, rep.Markdown)
		}
	}
	svg := string(rep.Charts["bench-turn.svg"])
	for _, s := range []string{"<svg", "45,000 (1.50×)", "2.50 µs (0.50×)", "1% loss limit"} {
		if !strings.Contains(svg, s) {
			t.Errorf("chart lacks %q", s)
		}
	}
}
