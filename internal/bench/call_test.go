package bench

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/peercall/peercall/internal/browsertest"
)

// callTiny is the call suite at a scale that runs in about ten seconds on
// two cores (twenty with -race), the browser part included.
var callTiny = CallScale{GoIterations: 3, BrowserIterations: 1, Warmup: 1, MediaInterval: 5 * time.Millisecond, Timeout: 20 * time.Second}

func TestTheCallSuiteMeasuresSaneTimesAtATinyScale(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the call suite runs in a new network namespace, which needs root")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// Serve nil: the re-executed test binary runs the server in-process,
	// with the flags peercall serve would get.
	o, stderr := reexecOptions(t)
	rep, err := runCall(ctx, o, callTiny)
	if err != nil {
		t.Fatalf("suite: %v\n%s", err, stderr.String())
	}
	raw := rep.Raw.(*callRaw)
	_, browserErr := browsertest.ExecPath()
	wantBrowser := browserErr == nil
	if !wantBrowser {
		t.Log("no Chromium installed: the browser scenario is skipped")
	}
	for _, sc := range callScenarios {
		for _, sys := range []string{callPeercall, callBaseline} {
			want := callTiny.GoIterations
			if sc.id == callBrowser {
				want = callTiny.BrowserIterations
				if !wantBrowser {
					want = 0
				}
			}
			ok, failed := callCounts(raw.Samples, sc.id, sys)
			if ok != want || failed != 0 {
				t.Errorf("%s %s: %d iterations succeeded and %d failed, want %d and 0 (first error: %s)\n%s",
					sc.id, sys, ok, failed, want, firstCallError(raw.Samples, sc.id, sys), stderr.String())
			}
		}
	}
	for _, s := range raw.Samples {
		if s.Warmup || s.Error != "" {
			continue
		}
		for i, side := range s.Sides {
			if side.ICEMS <= 0 || side.ConnectedMS <= 0 || side.MediaMS <= 0 || side.MediaMS > callTiny.Timeout.Seconds()*1000 {
				t.Errorf("%s %s iteration %d side %d: implausible times %+v", s.Scenario, s.System, s.Iter, i, side)
			}
			// In pion, per side, ICE comes first, then DTLS, then media
			// (SRTP needs the DTLS keys). (A page learns of state changes
			// in events, which a busy main thread can run after the first
			// frame is shown.)
			if s.Scenario != callBrowser && (side.ConnectedMS < side.ICEMS || side.MediaMS < side.ConnectedMS) {
				t.Errorf("%s %s iteration %d side %d: ICE, DTLS and media out of order: %+v", s.Scenario, s.System, s.Iter, i, side)
			}
		}
		if s.MediaMS != max(s.Sides[0].MediaMS, s.Sides[1].MediaMS) {
			t.Errorf("%s %s iteration %d: first media %v is not the later side's", s.Scenario, s.System, s.Iter, s.MediaMS)
		}
		switch s.Scenario {
		case callGoDirect:
			if s.Candidate != "host" {
				t.Errorf("direct %s call on a %q pair", s.System, s.Candidate)
			}
		case callGoRelay:
			if s.Candidate != "relay" {
				t.Errorf("relay-only %s call on a %q pair", s.System, s.Candidate)
			}
		case callBrowser:
			for i, side := range s.Sides {
				if side.FrameReceivedMS > side.MediaMS+1 {
					t.Errorf("browser %s side %d: frame shown at %v ms before it was received at %v ms", s.System, i, side.MediaMS, side.FrameReceivedMS)
				}
			}
		}
		if s.System == callPeercall && s.Scenario != callBrowser && (s.JoinMS <= 0 || s.JoinMS > s.MediaMS) {
			t.Errorf("%s: Join returned after %v ms, first media after %v ms", s.Scenario, s.JoinMS, s.MediaMS)
		}
	}
	for _, want := range []string{"| scenario | from the start to |", "Go SDK pair, direct", "relay-only", "**Summary (call):** first media p50: go-direct "} {
		if !strings.Contains(rep.Markdown, want) {
			t.Errorf("report lacks %q:\n%s", want, rep.Markdown)
		}
	}
	dir := t.TempDir()
	if err := rep.write(dir); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"call.json", "call.csv", "call.md", "bench-call.svg"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	if n := len(rep.CSV); n != len(raw.Samples)+1 {
		t.Errorf("CSV has %d rows for %d samples", n, len(raw.Samples))
	}
	t.Logf("\n%s", rep.Markdown)
}

func TestPercentilesInterpolateBetweenRanks(t *testing.T) {
	v := []float64{40, 10, 30, 20}
	for _, tt := range []struct{ p, want float64 }{{0, 10}, {50, 25}, {100, 40}, {95, 38.5}} {
		if got := callPercentile(v, tt.p); math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("p%v = %v, want %v", tt.p, got, tt.want)
		}
	}
	if !math.IsNaN(callPercentile(nil, 50)) {
		t.Error("percentile of nothing is not NaN")
	}
}

func TestTheCallReportJudgesEachGoalOnTheMedian(t *testing.T) {
	var samples []callSample
	add := func(sc, sys string, ms ...float64) {
		for i, m := range ms {
			s := callSample{Scenario: sc, System: sys, Iter: i, Candidate: "host"}
			s.Sides[0] = callSide{ICEMS: m / 3, ConnectedMS: m / 2, MediaMS: m}
			s.Sides[1] = s.Sides[0]
			s.finish()
			samples = append(samples, s)
		}
	}
	add(callGoDirect, callPeercall, 20, 30, 40)
	add(callGoDirect, callBaseline, 10, 10, 10)
	add(callGoRelay, callPeercall, 90, 120, 130)
	add(callGoRelay, callBaseline, 50, 60, 70)
	samples = append(samples, callSample{Scenario: callGoRelay, System: callPeercall, Error: "no first media"})
	rep := renderCall(&callRaw{Samples: samples, Reps: 1, Scale: callQuick})
	for _, want := range []string{
		"go-direct 30.0 ms (p95 39.0; 3.00× the baseline's 10.0 ms; goal < 50 ms: met)",
		"go-relay 120 ms (p95 129; 2.00× the baseline's 60.0 ms; goal < 100 ms: NOT met)",
		"browser not measured",
		"go-relay peercall: 1 of 4 failed (first: no first media)",
	} {
		if !strings.Contains(rep.Markdown, want) {
			t.Errorf("report lacks %q:\n%s", want, rep.Markdown)
		}
	}
	svg := string(rep.Charts["bench-call.svg"])
	for _, want := range []string{"<svg", "peercall 30.0 ms (p95 39.0), 3.00×", "baseline 60.0 ms", `stroke="#d62f2f"`} {
		if !strings.Contains(svg, want) {
			t.Errorf("chart lacks %q:\n%s", want, svg)
		}
	}
}
