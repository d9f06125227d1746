package bench

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// callPercentile is the p-th percentile (0-100) of v, interpolating linearly
// between the closest ranks; NaN for no values.
func callPercentile(v []float64, p float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := slices.Clone(v)
	slices.Sort(s)
	r := p / 100 * float64(len(s)-1)
	lo := int(math.Floor(r))
	hi := min(lo+1, len(s)-1)
	return s[lo] + (s[hi]-s[lo])*(r-float64(lo))
}

func callRound2(x float64) float64 { return math.Round(x*100) / 100 }

// callFigure is one figure of a sample.
type callFigure struct {
	label string
	get   func(callSample) float64
}

// callFigures are the main table's rows for each scenario; the last is the
// headline, judged against the goal.
var callFigures = []callFigure{
	{label: "ICE connected", get: func(s callSample) float64 { return s.ICEMS }},
	{label: "connected (ICE + DTLS)", get: func(s callSample) float64 { return s.ConnectedMS }},
	{label: "first media", get: func(s callSample) float64 { return s.MediaMS }},
}

// callStepRows are the rows of the breakdown table.
var callStepRows = []callFigure{
	{label: "in the room (Go: Join returned; browser: joined frame arrived)", get: func(s callSample) float64 { return s.Steps[stepJoined] }},
	{label: "offer sent (browser)", get: func(s callSample) float64 { return s.Steps[stepOfferSent] }},
	{label: "offer at the answerer (Go, baselines: applied; browser: arrived)", get: func(s callSample) float64 { return s.Steps[stepOfferApplied] }},
	{label: "answer at the offerer (Go, baselines: applied; browser: arrived)", get: func(s callSample) float64 { return s.Steps[stepAnswerApplied] }},
	{label: "ICE connected", get: func(s callSample) float64 { return s.ICEMS }},
	{label: "connected (ICE + DTLS)", get: func(s callSample) float64 { return s.ConnectedMS }},
	{label: "first frame's packets received (browser)", get: func(s callSample) float64 {
		return max(s.Sides[0].FrameReceivedMS, s.Sides[1].FrameReceivedMS)
	}},
	{label: "first media", get: func(s callSample) float64 { return s.MediaMS }},
	{label: "main thread blocked by long tasks until then, the more blocked page (browser)", get: func(s callSample) float64 {
		return max(s.Sides[0].LongTaskMS, s.Sides[1].LongTaskMS)
	}},
}

// callStepColumns are the breakdown table's columns.
var callStepColumns = []struct{ scenario, system, header string }{
	{callGoDirect, callPeercall, "go-direct peercall"},
	{callGoDirect, callBaseline, "go-direct baseline"},
	{callGoDirect, callBaselineICE, "go-direct baseline with STUN/TURN"},
	{callGoRelay, callPeercall, "go-relay peercall"},
	{callGoRelay, callBaseline, "go-relay baseline"},
	{callBrowser, callPeercall, "browser peercall"},
	{callBrowser, callBaseline, "browser baseline"},
}

// callValues are a figure's values over the successful timed iterations,
// leaving out zeros (a step not seen).
func callValues(samples []callSample, scenario, system string, get func(callSample) float64) []float64 {
	var v []float64
	for _, s := range samples {
		if s.Scenario == scenario && s.System == system && !s.Warmup && s.Error == "" {
			if x := get(s); x != 0 {
				v = append(v, x)
			}
		}
	}
	return v
}

func callCounts(samples []callSample, scenario, system string) (ok, failed int) {
	for _, s := range samples {
		if s.Scenario == scenario && s.System == system && !s.Warmup {
			if s.Error == "" {
				ok++
			} else {
				failed++
			}
		}
	}
	return ok, failed
}

func callFmtMS(x float64) string {
	if math.IsNaN(x) {
		return "—"
	}
	if x >= 100 {
		return fmtNum(x, 0)
	}
	return fmtNum(x, 1)
}

// callHeadline is a scenario's headline: first media p50 of peercall and
// the baseline.
type callHeadline struct {
	sc                 callScenario
	pc50, pc95         float64
	base50, base95     float64
	ratio              float64
	met                bool
	measured           bool
	okN, failN, baseOK int
}

func callHeadlines(raw *callRaw) []callHeadline {
	var out []callHeadline
	media := callFigures[len(callFigures)-1].get
	for _, sc := range callScenarios {
		pc := callValues(raw.Samples, sc.id, callPeercall, media)
		base := callValues(raw.Samples, sc.id, callBaseline, media)
		ok, failed := callCounts(raw.Samples, sc.id, callPeercall)
		baseOK, _ := callCounts(raw.Samples, sc.id, callBaseline)
		h := callHeadline{sc: sc, pc50: callPercentile(pc, 50), pc95: callPercentile(pc, 95),
			base50: callPercentile(base, 50), base95: callPercentile(base, 95), okN: ok, failN: failed, baseOK: baseOK}
		h.measured = len(pc) > 0
		h.ratio = h.pc50 / h.base50
		h.met = h.measured && h.pc50 < sc.goalMS
		out = append(out, h)
	}
	return out
}

// renderCall turns raw results into the report: tables, summary line, CSV
// and chart.
func renderCall(raw *callRaw) *Report {
	var b strings.Builder
	b.WriteString("### call: call-setup time against the floor\n\n")
	m := raw.Machine
	fmt.Fprintf(&b, "Machine: %d CPUs (%s), %s, Linux %s", m.CPUs, m.Model, m.Go, m.Kernel)
	if raw.Chromium != "" {
		fmt.Fprintf(&b, ", %s", raw.Chromium)
	}
	fmt.Fprintf(&b, ". Server: `%s`. ", raw.Server)
	fmt.Fprintf(&b, "%d repetition(s) of %d timed iterations per Go scenario and %d per browser scenario, for peercall and for the baseline each, alternating the two (after %d warm-up iteration(s) each, not counted); the Go participants send a sample of each kind every %v. "+
		"Times run from the second participant's Join (browser: the click on Join; baselines: before the PeerConnections are created) until both sides have the event; p50 and p95 over the iterations, in ms.\n\n",
		raw.Reps, raw.Scale.GoIterations, raw.Scale.BrowserIterations, raw.Scale.Warmup, raw.Scale.MediaInterval)
	b.WriteString("| scenario | from the start to | peercall p50 | peercall p95 | baseline p50 | baseline p95 | p50 ratio | goal |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|---:|---|\n")
	heads := callHeadlines(raw)
	for i, sc := range callScenarios {
		if ok, failed := callCounts(raw.Samples, sc.id, callPeercall); ok+failed == 0 {
			continue
		}
		for j, f := range callFigures {
			pc := callValues(raw.Samples, sc.id, callPeercall, f.get)
			base := callValues(raw.Samples, sc.id, callBaseline, f.get)
			name, label, goal := "", f.label, ""
			if j == 0 {
				name = sc.label
			}
			if j == len(callFigures)-1 {
				label = "first media: " + sc.media
				h := heads[i]
				verdict := "**NOT met**"
				if h.met {
					verdict = "met"
				}
				goal = fmt.Sprintf("p50 < %s ms: %s", fmtNum(sc.goalMS, 0), verdict)
				if !h.measured {
					goal = fmt.Sprintf("p50 < %s ms: not measured", fmtNum(sc.goalMS, 0))
				}
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", name, label,
				callFmtMS(callPercentile(pc, 50)), callFmtMS(callPercentile(pc, 95)),
				callFmtMS(callPercentile(base, 50)), callFmtMS(callPercentile(base, 95)),
				fmtRatio(callPercentile(pc, 50)/callPercentile(base, 50)), goal)
		}
	}
	b.WriteString("\nBaselines: ")
	for i, sc := range callScenarios {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s: %s", sc.id, sc.baseline)
	}
	fmt.Fprintf(&b, "; and, for go-direct, %s: the direct baseline given the STUN and TURN servers peercall hands out, which separates what gathering those candidates costs from what signaling costs. Ratios are peercall / baseline of the p50s.\n\n", callBaselineICE)

	// Iteration counts and failures.
	var fails []string
	for _, sc := range callScenarios {
		for _, sys := range []string{callPeercall, callBaseline, callBaselineICE} {
			ok, failed := callCounts(raw.Samples, sc.id, sys)
			if ok+failed == 0 {
				continue
			}
			if failed > 0 {
				fails = append(fails, fmt.Sprintf("%s %s: %d of %d failed (first: %s)", sc.id, sys, failed, ok+failed, firstCallError(raw.Samples, sc.id, sys)))
			}
		}
	}
	if len(fails) == 0 {
		b.WriteString("Every timed iteration succeeded. ")
	} else {
		b.WriteString("Failed iterations (not in the figures): " + strings.Join(fails, "; ") + ". ")
	}
	if c := callCandidates(raw.Samples); c != "" {
		fmt.Fprintf(&b, "Selected candidate pairs: %s. ", c)
	}
	fmt.Fprintf(&b, "The run took %.0f s. Other load on the machine: 1-minute load average %.1f before, %.1f after, on %d CPUs; CPU pressure (10 s) %.0f %% before, %.0f %% after.\n",
		raw.Seconds, raw.Before.Load1, raw.After.Load1, raw.Machine.CPUs, raw.Before.CPUPressure10, raw.After.CPUPressure10)
	for _, n := range raw.Notes {
		fmt.Fprintf(&b, "\n**Note:** %s\n", n)
	}
	if raw.Reps > 1 {
		b.WriteString("\n" + callPerRep(raw))
	}
	b.WriteString("\n" + callBreakdown(raw))
	b.WriteString("\n" + callSummary(heads) + "\n")

	rep := &Report{Suite: "call", Markdown: b.String(), Raw: raw, CSV: callCSV(raw)}
	if svg := callChart(heads); svg != nil {
		rep.Charts = map[string][]byte{"bench-call.svg": svg}
	}
	return rep
}

// callPerRep lists each repetition's first-media p50s, to show how much
// they move between repetitions.
func callPerRep(raw *callRaw) string {
	media := callFigures[len(callFigures)-1].get
	var parts []string
	for _, sc := range callScenarios {
		for _, sys := range []string{callPeercall, callBaseline} {
			var ps []string
			for rep := 0; rep < raw.Reps; rep++ {
				var v []float64
				for _, s := range raw.Samples {
					if s.Rep == rep && s.Scenario == sc.id && s.System == sys && !s.Warmup && s.Error == "" {
						v = append(v, media(s))
					}
				}
				if len(v) > 0 {
					ps = append(ps, callFmtMS(callPercentile(v, 50)))
				}
			}
			if len(ps) > 0 {
				parts = append(parts, fmt.Sprintf("%s %s %s", sc.id, sys, strings.Join(ps, " / ")))
			}
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return "First media p50 in each repetition (ms): " + strings.Join(parts, "; ") + ".\n"
}

// callBreakdown is the table of where the time goes: the p50 of every step
// for every scenario and system.
func callBreakdown(raw *callRaw) string {
	type col struct{ scenario, system, header string }
	var cols []col
	for _, c := range callStepColumns {
		if ok, _ := callCounts(raw.Samples, c.scenario, c.system); ok > 0 {
			cols = append(cols, col(c))
		}
	}
	if len(cols) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("Where the time goes: p50 of each step, in ms from the start.\n\n| step |")
	for _, c := range cols {
		b.WriteString(" " + c.header + " |")
	}
	b.WriteString("\n|---|" + strings.Repeat("---:|", len(cols)) + "\n")
	for _, r := range callStepRows {
		var cells []string
		seen := false
		for _, c := range cols {
			v := callValues(raw.Samples, c.scenario, c.system, r.get)
			seen = seen || len(v) > 0
			cells = append(cells, callFmtMS(callPercentile(v, 50)))
		}
		if seen {
			fmt.Fprintf(&b, "| %s | %s |\n", r.label, strings.Join(cells, " | "))
		}
	}
	return b.String()
}

func firstCallError(samples []callSample, scenario, system string) string {
	for _, s := range samples {
		if s.Scenario == scenario && s.System == system && !s.Warmup && s.Error != "" {
			e := s.Error
			if len(e) > 160 {
				e = e[:160] + "…"
			}
			return e
		}
	}
	return ""
}

// callCandidates lists the selected pair types per Go scenario and system.
func callCandidates(samples []callSample) string {
	var parts []string
	for _, sc := range []string{callGoDirect, callGoRelay} {
		for _, sys := range []string{callPeercall, callBaseline, callBaselineICE} {
			n := map[string]int{}
			var keys []string
			for _, s := range samples {
				if s.Scenario == sc && s.System == sys && !s.Warmup && s.Error == "" {
					if n[s.Candidate] == 0 {
						keys = append(keys, s.Candidate)
					}
					n[s.Candidate]++
				}
			}
			if len(keys) == 0 {
				continue
			}
			slices.Sort(keys)
			var kv []string
			for _, k := range keys {
				kv = append(kv, fmt.Sprintf("%s ×%d", k, n[k]))
			}
			parts = append(parts, fmt.Sprintf("%s %s %s", sc, sys, strings.Join(kv, ", ")))
		}
	}
	return strings.Join(parts, "; ")
}

// callSummary is the suite's one summary line.
func callSummary(heads []callHeadline) string {
	var parts []string
	for _, h := range heads {
		if !h.measured {
			parts = append(parts, fmt.Sprintf("%s not measured", h.sc.id))
			continue
		}
		verdict := "NOT met"
		if h.met {
			verdict = "met"
		}
		parts = append(parts, fmt.Sprintf("%s %s ms (p95 %s; %s the baseline's %s ms; goal < %s ms: %s)",
			h.sc.id, callFmtMS(h.pc50), callFmtMS(h.pc95), fmtRatio(h.ratio), callFmtMS(h.base50), fmtNum(h.sc.goalMS, 0), verdict))
	}
	return "**Summary (call):** first media p50: " + strings.Join(parts, "; ") + "."
}

func callCSV(raw *callRaw) [][]string {
	rows := [][]string{{"rep", "scenario", "system", "iter", "warmup", "join_ms", "ice_connected_ms", "connected_ms", "first_media_ms",
		"a_ice_connected_ms", "a_connected_ms", "a_first_media_ms", "b_ice_connected_ms", "b_connected_ms", "b_first_media_ms",
		"a_frame_received_ms", "b_frame_received_ms",
		"step_joined_ms", "step_offer_sent_ms", "step_offer_at_answerer_ms", "step_answer_at_offerer_ms",
		"candidate_type", "error"}}
	f := func(x float64) string { return strconv.FormatFloat(callRound2(x), 'f', -1, 64) }
	for _, s := range raw.Samples {
		rows = append(rows, []string{strconv.Itoa(s.Rep + 1), s.Scenario, s.System, strconv.Itoa(s.Iter), strconv.FormatBool(s.Warmup),
			f(s.JoinMS), f(s.ICEMS), f(s.ConnectedMS), f(s.MediaMS),
			f(s.Sides[0].ICEMS), f(s.Sides[0].ConnectedMS), f(s.Sides[0].MediaMS),
			f(s.Sides[1].ICEMS), f(s.Sides[1].ConnectedMS), f(s.Sides[1].MediaMS),
			f(s.Sides[0].FrameReceivedMS), f(s.Sides[1].FrameReceivedMS),
			f(s.Steps[stepJoined]), f(s.Steps[stepOfferSent]), f(s.Steps[stepOfferApplied]), f(s.Steps[stepAnswerApplied]),
			s.Candidate, s.Error})
	}
	return rows
}
