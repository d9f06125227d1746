package bench

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// signalMetrics are the figures of the signal suite's tables, by workload.
func signalMetrics(sc SignalScale) (connect, relay, storm []metric) {
	top := len(sc.ConnectLevels) - 1
	for i, n := range sc.ConnectLevels {
		i := i
		level := func(r loadgenResult) (connectLevel, bool) {
			if r.Connect == nil || i >= len(r.Connect.Levels) {
				return connectLevel{}, false
			}
			return r.Connect.Levels[i], true
		}
		rate := metric{label: fmt.Sprintf("%s connections: connect rate", fmtNum(float64(n), 0)), workload: "connect", unit: "conn/s", higher: true,
			get: func(r loadgenResult) (float64, bool) { l, ok := level(r); return l.ConnsPerSec, ok }}
		rss := metric{label: fmt.Sprintf("%s connections: RSS per idle connection", fmtNum(float64(n), 0)), workload: "connect", unit: "KiB", decimals: 1,
			get: func(r loadgenResult) (float64, bool) { l, ok := level(r); return l.KiBPerConn, ok }}
		if i == top {
			rss.goal = 1
			rss.chart = fmt.Sprintf("RSS per idle connection at %s (KiB)", fmtNum(float64(n), 0))
			rate.chart = fmt.Sprintf("connect rate to %s (conn/s)", fmtNum(float64(n), 0))
		}
		connect = append(connect, rate, rss)
	}
	connect = append(connect,
		metric{label: "dropped or failed connections, all levels", workload: "connect", unit: "count",
			get: func(r loadgenResult) (float64, bool) {
				if r.Connect == nil {
					return 0, false
				}
				return float64(r.Connect.Drops + r.Connect.Failures + r.Connect.ServerErrors), true
			}},
		metric{label: "server CPU for the whole connect workload", workload: "connect", unit: "CPU-s", decimals: 2,
			get: func(r loadgenResult) (float64, bool) {
				if r.Connect == nil {
					return 0, false
				}
				return r.Connect.ServerCPUSecs, true
			}},
	)
	for pi, p := range sc.RelayPairs {
		p := p
		last := pi == len(sc.RelayPairs)-1
		rr := func(f func(*relayResult) float64) func(loadgenResult) (float64, bool) {
			return func(r loadgenResult) (float64, bool) {
				if r.Relay == nil {
					return 0, false
				}
				return f(r.Relay), true
			}
		}
		pre := fmt.Sprintf("%d pairs: ", p)
		ms := []metric{
			{label: pre + "messages relayed", workload: "relay", param: p, unit: "msgs/s", higher: true, goal: 1.5, get: rr(func(r *relayResult) float64 { return r.MsgsPerSec })},
			{label: pre + "latency p50", workload: "relay", param: p, unit: "ms", decimals: 2, get: rr(func(r *relayResult) float64 { return r.P50ms })},
			{label: pre + "latency p99", workload: "relay", param: p, unit: "ms", decimals: 2, get: rr(func(r *relayResult) float64 { return r.P99ms })},
			{label: pre + "server CPU per 100k messages", workload: "relay", param: p, unit: "CPU-s", decimals: 2, goal: 0.5, get: rr(func(r *relayResult) float64 { return r.CPUPer100k })},
			{label: pre + "load generator CPU per 100k messages", workload: "relay", param: p, unit: "CPU-s", decimals: 2, get: rr(func(r *relayResult) float64 { return r.LoadgenPer100 })},
		}
		if last {
			ms[0].chart = fmt.Sprintf("relay throughput, %d pairs (msgs/s)", p)
			ms[2].chart = fmt.Sprintf("relay latency p99, %d pairs (ms)", p)
			ms[3].chart = fmt.Sprintf("server CPU per 100k messages, %d pairs (CPU-s)", p)
		}
		relay = append(relay, ms...)
	}
	st := func(f func(*stormResult) float64) func(loadgenResult) (float64, bool) {
		return func(r loadgenResult) (float64, bool) {
			if r.Storm == nil {
				return 0, false
			}
			return f(r.Storm), true
		}
	}
	storm = []metric{
		{label: fmt.Sprintf("%s rooms: time until all are set up", fmtNum(float64(sc.StormRooms), 0)), workload: "storm", unit: "s", decimals: 2, goal: 0.5,
			chart: fmt.Sprintf("setup storm, %s rooms (s)", fmtNum(float64(sc.StormRooms), 0)), get: st(func(r *stormResult) float64 { return r.TotalSeconds })},
		{label: "per-setup time p50", workload: "storm", unit: "ms", decimals: 0, get: st(func(r *stormResult) float64 { return r.P50ms })},
		{label: "per-setup time p99", workload: "storm", unit: "ms", decimals: 0, get: st(func(r *stormResult) float64 { return r.P99ms })},
		{label: "failed setups", workload: "storm", unit: "count", get: st(func(r *stormResult) float64 { return float64(r.Failed) })},
		{label: "listen-queue overflows during the storm (kernel ListenOverflows)", workload: "storm", unit: "count", overflow: true},
		{label: "server CPU for the storm", workload: "storm", unit: "CPU-s", decimals: 2, get: st(func(r *stormResult) float64 { return r.ServerCPUSecs })},
	}
	return connect, relay, storm
}

// signalRaw is the suite's raw output (signal.json).
type signalRaw struct {
	Suite    string      `json:"suite"`
	Machine  Machine     `json:"machine"`
	Quick    bool        `json:"quick"`
	Reps     int         `json:"reps"`
	Scale    SignalScale `json:"scale"`
	Runs     []signalRun `json:"runs"`
	Seconds  float64     `json:"seconds"`
	Summary  string      `json:"summary"`
	Finished string      `json:"finished"`
}

func signalReport(e *signalEnv, runs []signalRun, took time.Duration) *Report {
	m := thisMachine()
	if e.peerjsMain != "" {
		m.Node = nodeVersion()
	}
	return signalReportOn(m, e, runs, took)
}

// rerenderSignal renders the report of the raw results in path (a
// signal.json) again into outDir.
func rerenderSignal(path, outDir string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var raw signalRaw
	if err := json.Unmarshal(b, &raw); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	e := &signalEnv{o: Options{Quick: raw.Quick, Reps: raw.Reps}, scale: raw.Scale}
	rep := signalReportOn(raw.Machine, e, raw.Runs, time.Duration(raw.Seconds*float64(time.Second)))
	rep.Raw = raw // unchanged
	return rep.write(outDir)
}

func signalReportOn(m Machine, e *signalEnv, runs []signalRun, took time.Duration) *Report {
	sc := e.scale
	connect, relay, storm := signalMetrics(sc)
	var b strings.Builder
	fmt.Fprintf(&b, "## peercall bench signal\n\n")
	fmt.Fprintf(&b, "Machine: %d CPUs (%s), %s, Linux %s", m.CPUs, m.Model, m.Go, m.Kernel)
	if m.Node != "" {
		fmt.Fprintf(&b, ", node %s", m.Node)
	}
	fmt.Fprintf(&b, ". %d repetition(s), servers alternated; each cell is the median, with (min–max) over repetitions. Ratios are peercall / peerjs-server of the medians.\n\n", e.o.Reps)
	// How each server was started, and for which workloads.
	var modes []string
	used := map[string][]string{}
	for _, r := range runs {
		k := r.Server + "\x00" + r.ServerMode
		if _, ok := used[k]; !ok {
			modes = append(modes, k)
		}
		if !slices.Contains(used[k], r.Workload) {
			used[k] = append(used[k], r.Workload)
		}
	}
	for _, k := range modes {
		server, mode, _ := strings.Cut(k, "\x00")
		fmt.Fprintf(&b, "- %s (%s): `%s`\n", server, strings.Join(used[k], ", "), mode)
	}
	fmt.Fprintf(&b, "\n### connect: idle connections held with keepalive (%s in flight; %v at each level, then %v with keepalive at %s)\n\n",
		fmtNum(float64(sc.ConnectConcurrency), 0), sc.ConnectSettle, sc.ConnectHold, fmtNum(float64(sc.ConnectLevels[len(sc.ConnectLevels)-1]), 0))
	b.WriteString(table(runs, connect))
	fmt.Fprintf(&b, "\n### relay: pairs ping-pong an offer-sized (%d B payload) and a candidate-sized (%d B payload) message, %v after %v warm-up\n\n",
		len(offerPayload), len(candidatePayload), sc.RelayDuration, sc.RelayWarmup)
	b.WriteString(table(runs, relay))
	b.WriteString("\nMessages per second is a whole-machine figure (the load generator shares the cores); CPU per message is the server's own, from /proc/PID/stat. Latency is one way, from the sender's write to the receiver's read.\n")
	fmt.Fprintf(&b, "\n### setup storm: %s rooms of two, all at once: join, offer, answer and %d candidates each way\n\n", fmtNum(float64(sc.StormRooms), 0), sc.StormCandidates)
	b.WriteString(table(runs, storm))
	var samples []machineSample
	for _, r := range runs {
		samples = append(samples, r.Before, r.After)
	}
	writeMachineLoad(&b, m.CPUs, samples, "throughput and latency are noisy; CPU per message and memory per connection are the server's own and less affected.")
	summary := signalSummary(runs, sc, connect, relay, storm)
	fmt.Fprintf(&b, "\n%s\n", summary)

	raw := signalRaw{Suite: "signal", Machine: m, Quick: e.o.Quick, Reps: e.o.Reps, Scale: sc, Runs: runs,
		Seconds: took.Seconds(), Summary: summary, Finished: time.Now().UTC().Format(time.RFC3339)}
	csvRows := [][]string{{"rep", "server", "workload", "metric", "unit", "value"}}
	for _, ms := range [][]metric{connect, relay, storm} {
		for _, mt := range ms {
			for _, r := range runs {
				if r.Workload != mt.workload || r.Param != mt.param {
					continue
				}
				if v, ok := mt.value(r); ok {
					csvRows = append(csvRows, []string{strconv.Itoa(r.Rep), r.Server, r.Workload, mt.label, mt.unit, strconv.FormatFloat(v, 'f', -1, 64)})
				}
			}
		}
	}
	var charted []metric
	for _, ms := range [][]metric{connect, relay, storm} {
		for _, mt := range ms {
			if mt.chart != "" {
				charted = append(charted, mt)
			}
		}
	}
	rep := &Report{Suite: "signal", Markdown: b.String(), Raw: raw, CSV: csvRows}
	if svg := ratioChart("peercall bench signal: peercall vs peerjs-server "+peerJSVersion, runs, charted); svg != nil {
		rep.Charts = map[string][]byte{"bench-signal.svg": svg}
	}
	return rep
}

// signalSummary is the suite's one-line summary: the goals of issue 6.
func signalSummary(runs []signalRun, sc SignalScale, connect, relay, storm []metric) string {
	yes := func(ok bool) string {
		if ok {
			return "met"
		}
		return "NOT met"
	}
	goal := func(m metric, x float64) string {
		if math.IsNaN(x) {
			return "no comparison"
		}
		return yes(goalMet(m, x))
	}
	var parts []string
	find := func(ms []metric, goal float64, param int) (metric, bool) {
		for _, m := range ms {
			if m.goal == goal && m.param == param && m.goal > 0 {
				return m, true
			}
		}
		return metric{}, false
	}
	r := func(m metric) float64 { return ratio(m.values(runs, serverPeercall), m.values(runs, serverPeerJS)) }
	maxPairs := sc.RelayPairs[len(sc.RelayPairs)-1]
	if m, ok := find(relay, 1.5, maxPairs); ok {
		x := r(m)
		parts = append(parts, fmt.Sprintf("relay %s msgs/s at %d pairs (goal ≥ 1.5×: %s)", fmtRatio(x), maxPairs, goal(m, x)))
	}
	if m, ok := find(relay, 0.5, maxPairs); ok {
		x := r(m)
		parts = append(parts, fmt.Sprintf("%s server CPU per message (goal ≤ 0.5×: %s)", fmtRatio(x), goal(m, x)))
	}
	if m, ok := find(connect, 1, 0); ok {
		x := r(m)
		parts = append(parts, fmt.Sprintf("%s RSS per idle connection (goal < 1×: %s)", fmtRatio(x), goal(m, x)))
	}
	top := sc.ConnectLevels[len(sc.ConnectLevels)-1]
	held, lost := 0.0, 0.0
	for _, run := range runs {
		if run.Server == serverPeercall && run.Workload == "connect" && run.Result.Connect != nil {
			c := run.Result.Connect
			lost += float64(c.Drops + c.Failures + c.ServerErrors)
			if n := len(c.Levels); n > 0 {
				held = math.Max(held, float64(c.Levels[n-1].Conns))
			}
		}
	}
	verdict := yes(held >= 19000 && lost == 0)
	if top < 19000 {
		verdict = "needs the full suite"
	}
	parts = append(parts, fmt.Sprintf("%s connections held with %s drops (goal 19,000 with 0: %s)", fmtNum(held, 0), fmtNum(lost, 0), verdict))
	if m, ok := find(storm, 0.5, 0); ok {
		x := r(m)
		parts = append(parts, fmt.Sprintf("setup storm in %s the time (goal ≤ 0.5×: %s)", fmtRatio(x), goal(m, x)))
	}
	return "**Summary (signal):** peercall vs peerjs-server " + peerJSVersion + ": " + strings.Join(parts, "; ") + "."
}
