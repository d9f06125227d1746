package bench

import (
	"fmt"
	"html"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// turnValues are a server's values of f over its runs (one per rep).
func turnValues(runs []turnRun, server string, f func(turnRun) (float64, bool)) []float64 {
	var v []float64
	for _, r := range runs {
		if r.Server == server {
			if x, ok := f(r); ok {
				v = append(v, x)
			}
		}
	}
	return v
}

func turnMaxHeld(r turnRun) (float64, bool) { return r.Result.MaxHeldPPS, true }

// heldStep is the held step of run r at rate pps, if any.
func heldStep(r turnRun, pps float64) (turnStep, bool) {
	for _, st := range r.Result.Steps {
		if st.Held && math.Abs(st.TargetPPS-pps) < 0.5 {
			return st, true
		}
	}
	return turnStep{}, false
}

// commonRate is the highest coarse ladder rate that servers a and b both
// held in every repetition (0: none).
func commonRate(runs []turnRun, a, b string) float64 {
	best := 0.0
	var rates []float64
	for _, r := range runs {
		if r.Server == a {
			for _, st := range r.Result.Steps {
				if st.Coarse && st.Held && !slices.Contains(rates, st.TargetPPS) {
					rates = append(rates, st.TargetPPS)
				}
			}
		}
	}
	for _, pps := range rates {
		ok, n := true, 0
		for _, r := range runs {
			if r.Server != a && r.Server != b {
				continue
			}
			n++
			if _, held := heldStep(r, pps); !held {
				ok = false
			}
		}
		if ok && n > 0 && pps > best {
			best = pps
		}
	}
	return best
}

// cpuAt are the server CPU-µs per packet of server's held steps at pps.
func cpuAt(runs []turnRun, server string, pps float64) []float64 {
	return turnValues(runs, server, func(r turnRun) (float64, bool) {
		st, ok := heldStep(r, pps)
		return st.ServerCPUusPer, ok
	})
}

// cpuAtMax are the server CPU-µs per packet at each run's highest held
// rate.
func cpuAtMax(runs []turnRun, server string) []float64 {
	return turnValues(runs, server, func(r turnRun) (float64, bool) {
		st, ok := heldStep(r, r.Result.MaxHeldPPS)
		return st.ServerCPUusPer, ok
	})
}

// loadgenCPU is the load generator's CPU-µs per packet sent at each run's
// highest held rate.
func loadgenCPU(runs []turnRun, server string) []float64 {
	return turnValues(runs, server, func(r turnRun) (float64, bool) {
		st, ok := heldStep(r, r.Result.MaxHeldPPS)
		return st.LoadgenCPUusPer, ok
	})
}

// perRepRatios are server's value over coturn's within each repetition
// that has both.
func perRepRatios(runs []turnRun, server string, f func(turnRun) (float64, bool)) []float64 {
	var out []float64
	for _, r := range runs {
		if r.Server != server {
			continue
		}
		a, ok := f(r)
		if !ok {
			continue
		}
		for _, c := range runs {
			if c.Server == turnCoturn && c.Rep == r.Rep {
				if b, ok := f(c); ok && b > 0 {
					out = append(out, a/b)
				}
			}
		}
	}
	return out
}

// ratioCell is the ratio of the medians, with the range of the ratios
// within each repetition when there are several.
func ratioCell(x float64, perRep []float64) string {
	s := fmtRatio(x)
	if len(perRep) > 1 {
		s += fmt.Sprintf(" (%s–%s)", fmtRatio(slices.Min(perRep)), fmtRatio(slices.Max(perRep)))
	}
	return s
}

func fmtPPS(x float64) string {
	if x >= 10000 {
		return fmtNum(math.Round(x/1000), 0) + "k"
	}
	return fmtNum(x, 0)
}

// turnFigures are the headline figures of one server against coturn.
type turnFigures struct {
	server             string
	rate, cpu, cpuMax  []float64
	coturnCPU          []float64 // coturn's CPU at the same common rate
	common             float64
	rateRatio, cpuRate float64
}

func figuresFor(runs []turnRun, server string) turnFigures {
	f := turnFigures{server: server, rate: turnValues(runs, server, turnMaxHeld), cpuMax: cpuAtMax(runs, server)}
	f.rateRatio = ratio(f.rate, turnValues(runs, turnCoturn, turnMaxHeld))
	f.common = commonRate(runs, server, turnCoturn)
	if f.common > 0 {
		f.cpu, f.coturnCPU = cpuAt(runs, server, f.common), cpuAt(runs, turnCoturn, f.common)
		f.cpuRate = ratio(f.cpu, f.coturnCPU)
	} else {
		f.cpuRate = math.NaN()
	}
	return f
}

func turnReport(raw turnRaw) *Report {
	runs, sc := raw.Runs, raw.Scale
	m := raw.Machine
	hasCoturn := slices.Contains(raw.Servers, turnCoturn)
	var b strings.Builder
	fmt.Fprintf(&b, "## peercall bench turn\n\n")
	fmt.Fprintf(&b, "Machine: %d CPUs (%s), %s, Linux %s", m.CPUs, m.Model, m.Go, m.Kernel)
	if raw.CoturnVersion != "" {
		fmt.Fprintf(&b, ", coturn %s", raw.CoturnVersion)
	}
	fmt.Fprintf(&b, ". %d repetition(s), servers alternated; each cell is the median, with (min–max) over repetitions.\n\n", raw.Reps)
	fmt.Fprintf(&b, "Workload: %d allocations (one TURN REST user each) on one server, each with channel 0x4000 bound to its own peer socket; "+
		"the load generator sends %d-byte payloads as ChannelData (%d bytes per datagram) at a paced rate spread over the allocations, "+
		"for %v per rate, and counts what reaches the peers (after a %v drain). Rates start at %s pkts/s and grow by ×%s until more than %s%% is lost "+
		"(a failing rate is tried %d more time(s)), then %d bisection step(s), tried once each, narrow the limit. All on loopback, in a network namespace of its own.\n\n",
		sc.Allocations, sc.PayloadBytes, sc.PayloadBytes+4, sc.Step, sc.Drain, fmtNum(sc.StartPPS, 0), strconv.FormatFloat(sc.Factor, 'g', -1, 64),
		strconv.FormatFloat(sc.MaxLoss*100, 'g', -1, 64), sc.Retries, sc.Refine)
	var modes []string
	seen := map[string]bool{}
	for _, r := range runs {
		if !seen[r.Server] {
			seen[r.Server] = true
			modes = append(modes, fmt.Sprintf("- %s: `%s`", turnServerLabel(r.Server), turnModeGeneric(r.ServerMode)))
		}
	}
	b.WriteString(strings.Join(modes, "\n") + "\n\n")

	var figs []turnFigures
	if hasCoturn {
		b.WriteString("| server | highest rate held at ≤1% loss (pkts/s) | ÷ coturn | server CPU per packet at the common rate (µs) | ÷ coturn | common rate (pkts/s) | server CPU per packet at its highest rate (µs) | load generator CPU per packet (µs) |\n")
		b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, s := range raw.Servers {
			f := figuresFor(runs, s)
			figs = append(figs, f)
			cpuCell, commonCell := "—", "—"
			if f.common > 0 {
				cpuCell, commonCell = cell(f.cpu, 2), fmtNum(f.common, 0)
			}
			if s == turnCoturn {
				if pc := figuresFor(runs, turnPeercall); pc.common > 0 {
					cpuCell, commonCell = cell(pc.coturnCPU, 2), fmtNum(pc.common, 0)+" ¹"
				}
			}
			rateCell, cpuRatio := fmtRatio(f.rateRatio), fmtRatio(f.cpuRate)
			if s != turnCoturn {
				rateCell = ratioCell(f.rateRatio, perRepRatios(runs, s, turnMaxHeld))
				if f.common > 0 {
					cpuRatio = ratioCell(f.cpuRate, perRepRatios(runs, s, func(r turnRun) (float64, bool) {
						st, ok := heldStep(r, f.common)
						return st.ServerCPUusPer, ok
					}))
				}
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", turnServerLabel(s), cell(f.rate, 0), rateCell,
				cpuCell, cpuRatio, commonCell, cell(f.cpuMax, 2), cell(loadgenCPU(runs, s), 2))
		}
		b.WriteString("\nRatios are of the medians, with the range of the ratios within each repetition in parentheses. The common rate is the highest rate of the fixed ladder that the server and coturn both held in every repetition, " +
			"so that both did the same work; ¹ coturn's row is at peercall's common rate. CPU is the server process's user+system time " +
			"(/proc/PID/stat) over the sending and drain time, per packet delivered. Packets per second is a whole-machine figure: " +
			"the load generator shares the two cores, and on loopback the kernel's delivery of a datagram is charged to its sender.\n")
	}

	// Per-run ladders.
	b.WriteString("\n### Ladders\n\n| rep | server | machine load before (1 min) | rates offered (pkts/s): loss | highest held | first failed | server drops / peer drops at the first failure |\n|---|---|---:|---|---:|---:|---|\n")
	for _, r := range runs {
		var steps []string
		var fail *turnStep
		for i, st := range r.Result.Steps {
			s := fmt.Sprintf("%s: %s%%", fmtPPS(st.TargetPPS), strconv.FormatFloat(math.Round(st.Loss*1000)/10, 'f', -1, 64))
			if st.SenderBehind {
				s += " (sender behind)"
			}
			if !st.Held {
				s = "**" + s + "**"
				if fail == nil || st.TargetPPS < fail.TargetPPS {
					fail = &r.Result.Steps[i]
				}
			}
			steps = append(steps, s)
		}
		ff, drops := "—", "—"
		if r.Result.FirstFailPPS > 0 {
			ff = fmtNum(r.Result.FirstFailPPS, 0)
		}
		if fail != nil {
			drops = fmt.Sprintf("%s / %s", fmtNum(float64(fail.ServerSocketDrop), 0), fmtNum(float64(fail.PeerSocketDrop), 0))
		}
		held := fmtNum(r.Result.MaxHeldPPS, 0)
		if r.Result.SenderLimited || r.Result.ReachedMax {
			held = "≥ " + held
		}
		fmt.Fprintf(&b, "| %d | %s | %s | %s | %s | %s | %s |\n", r.Rep, turnServerLabel(r.Server), fmtNum(r.Before.Load1, 1), strings.Join(steps, ", "), held, ff, drops)
	}
	b.WriteString("\nBold: lost more than the limit (or the load generator could not send the rate). Drops are the kernel's receive-queue drops " +
		"on the server's listening sockets and on the peers' sockets (/proc/net/udp).\n")

	var samples []machineSample
	for _, r := range runs {
		samples = append(samples, r.Before, r.After)
	}
	writeMachineLoad(&b, m.CPUs, samples, "rates are noisy; compare ratios within the run.")
	summary := turnSummary(raw, figs)
	fmt.Fprintf(&b, "\n%s\n", summary)
	raw.Summary = summary
	if raw.Finished == "" {
		raw.Finished = time.Now().UTC().Format(time.RFC3339)
	}

	csvRows := [][]string{{"rep", "server", "step", "target_pps", "coarse", "attempt", "seconds", "sent", "received", "loss", "held",
		"sender_behind", "server_cpu_s", "server_cpu_us_per_packet", "loadgen_cpu_us_per_packet", "server_socket_drops", "peer_socket_drops"}}
	for _, r := range runs {
		for i, st := range r.Result.Steps {
			f := func(x float64) string { return strconv.FormatFloat(x, 'f', -1, 64) }
			csvRows = append(csvRows, []string{strconv.Itoa(r.Rep), r.Server, strconv.Itoa(i + 1), f(st.TargetPPS), strconv.FormatBool(st.Coarse),
				strconv.Itoa(st.Attempt), f(st.Seconds), strconv.FormatInt(st.Sent, 10), strconv.FormatInt(st.Received, 10), f(st.Loss),
				strconv.FormatBool(st.Held), strconv.FormatBool(st.SenderBehind), f(st.ServerCPUSecs), f(st.ServerCPUusPer), f(st.LoadgenCPUusPer),
				strconv.FormatInt(st.ServerSocketDrop, 10), strconv.FormatInt(st.PeerSocketDrop, 10)})
		}
	}
	rep := &Report{Suite: "turn", Markdown: b.String(), Raw: raw, CSV: csvRows}
	if svg := turnChart(raw, figs); svg != nil {
		rep.Charts = map[string][]byte{"bench-turn.svg": svg}
	}
	return rep
}

// turnSummary is the suite's one-line summary: the goals of issue 6.
func turnSummary(raw turnRaw, figs []turnFigures) string {
	yes := func(ok bool) string {
		if ok {
			return "met"
		}
		return "NOT met"
	}
	var pc *turnFigures
	var refs []string
	for i := range figs {
		switch figs[i].server {
		case turnPeercall:
			pc = &figs[i]
		case turnPionPath, turnPionDefault:
			refs = append(refs, fmt.Sprintf("%s %s", turnServerLabel(figs[i].server), fmtRatio(figs[i].rateRatio)))
		}
	}
	if pc == nil {
		return "**Summary (turn):** no comparison with coturn in this run."
	}
	var parts []string
	rateNote := ""
	for _, r := range raw.Runs {
		if r.Result.SenderLimited && (r.Server == turnPeercall || r.Server == turnCoturn) {
			rateNote = ", some ladders limited by the load generator"
		}
	}
	parts = append(parts, fmt.Sprintf("%s the packet rate held at ≤1%% loss (%s vs %s pkts/s%s; goal ≥ 1.0×: %s)",
		fmtRatio(pc.rateRatio), fmtNum(median(pc.rate), 0), fmtNum(median(turnValues(raw.Runs, turnCoturn, turnMaxHeld)), 0), rateNote,
		yes(!math.IsNaN(pc.rateRatio) && pc.rateRatio >= 1)))
	if pc.common > 0 {
		parts = append(parts, fmt.Sprintf("%s the server CPU per packet at %s pkts/s (%s vs %s µs; goal ≤ 1.0×: %s)",
			fmtRatio(pc.cpuRate), fmtNum(pc.common, 0), fmtNum(median(pc.cpu), 2), fmtNum(median(pc.coturnCPU), 2), yes(pc.cpuRate <= 1)))
	} else {
		parts = append(parts, "no rate held by both to compare CPU per packet at")
	}
	if len(refs) > 0 {
		parts = append(parts, "for reference "+strings.Join(refs, ", ")+" coturn's rate")
	}
	return "**Summary (turn):** peercall vs coturn " + coturnVersion + ": " + strings.Join(parts, "; ") + "."
}

// turnModePorts matches the parts of a server's command line that change
// from run to run: ports and the temporary directory.
var turnModePorts = regexp.MustCompile(`(127\.0\.0\.1:|--listening-port )\d+|/tmp/peercall-bench-turn-\d+`)

// turnModeGeneric writes P for ports and DIR for the temporary directory.
func turnModeGeneric(mode string) string {
	return turnModePorts.ReplaceAllStringFunc(mode, func(m string) string {
		if strings.HasPrefix(m, "/tmp/") {
			return "DIR"
		}
		return m[:strings.LastIndexAny(m, ": ")+1] + "P"
	})
}

// turnColors are the servers' colours in the chart.
var turnColors = map[string]string{
	turnPeercall: "#2f6fd6", turnCoturn: "#e07b00", turnPionPath: "#3a9a4a", turnPionDefault: "#9a4ab0",
}

// turnChart draws the ladders (loss against offered rate, every run) and
// the headline bars: highest rate held, and CPU per packet at the common
// rate, for each server.
func turnChart(raw turnRaw, figs []turnFigures) []byte {
	runs := raw.Runs
	if len(runs) == 0 {
		return nil
	}
	const (
		width, height = 1000, 480
		lx, ly        = 60, 80 // ladder panel origin (top left of the plot)
		lw, lh        = 440, 290
		maxLossPct    = 10.0
		bx            = 560 // bars panel
		bw            = 190
	)
	minR, maxR := math.Inf(1), 0.0
	for _, r := range runs {
		for _, st := range r.Result.Steps {
			minR, maxR = math.Min(minR, st.TargetPPS), math.Max(maxR, st.TargetPPS)
		}
	}
	if maxR <= 0 {
		return nil
	}
	lo, hi := math.Log10(minR/1.2), math.Log10(maxR*1.2)
	xr := func(pps float64) float64 { return lx + (math.Log10(pps)-lo)/(hi-lo)*lw }
	yl := func(loss float64) float64 { return ly + lh - math.Min(loss*100, maxLossPct)/maxLossPct*lh }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#fff"/>`+"\n", width, height)
	fmt.Fprintf(&b, `<text x="16" y="26" font-size="17" font-weight="bold">peercall bench turn: TURN relay packet rate at ≤1%% loss, against coturn %s</text>`+"\n", coturnVersion)
	fmt.Fprintf(&b, `<text x="16" y="46" fill="#555">%d allocations, %d-byte ChannelData payloads, loopback, 2 shared CPUs. Left: every ladder step (filled: held). Right: medians over %d repetition(s).</text>`+"\n",
		raw.Scale.Allocations, raw.Scale.PayloadBytes, raw.Reps)
	// Ladder panel: axes, grid.
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-weight="bold">Loss against offered rate</text>`+"\n", lx, ly-12)
	for _, pct := range []float64{0, 1, 2, 5, 10} {
		y := yl(pct / 100)
		stroke := "#e4e4e4"
		if pct == 1 {
			stroke = "#d62f2f"
		}
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="%s"/>`+"\n", lx, y, lx+lw, y, stroke)
		label := strconv.FormatFloat(pct, 'f', -1, 64) + "%"
		if pct == maxLossPct {
			label = "≥" + label
		}
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end" fill="#666" font-size="11">%s</text>`+"\n", lx-6, y+4, label)
	}
	for _, tick := range []float64{10e3, 20e3, 50e3, 100e3, 200e3, 500e3, 1e6, 2e6} {
		if tick < minR/1.2 || tick > maxR*1.2 {
			continue
		}
		x := xr(tick)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#e4e4e4"/>`+"\n", x, ly, x, ly+lh)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" fill="#666" font-size="11">%s</text>`+"\n", x, ly+lh+16, fmtPPS(tick))
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle" fill="#444">offered rate (packets per second, log scale)</text>`+"\n", lx+lw/2, ly+lh+34)
	fmt.Fprintf(&b, `<text x="%d" y="%d" fill="#d62f2f" font-size="11">1%% loss limit</text>`+"\n", lx+lw-72, int(yl(0.01))-4)
	for _, r := range runs {
		col := turnColors[r.Server]
		steps := slices.Clone(r.Result.Steps)
		slices.SortStableFunc(steps, func(a, c turnStep) int {
			if a.TargetPPS < c.TargetPPS {
				return -1
			}
			if a.TargetPPS > c.TargetPPS {
				return 1
			}
			return 0
		})
		var pts []string
		for _, st := range steps {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", xr(st.TargetPPS), yl(st.Loss)))
		}
		fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="%s" stroke-opacity="0.55" stroke-width="1.5"/>`+"\n", strings.Join(pts, " "), col)
		for _, st := range steps {
			fill := col
			if !st.Held {
				fill = "#fff"
			}
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3.2" fill="%s" stroke="%s"/>`+"\n", xr(st.TargetPPS), yl(st.Loss), fill, col)
		}
	}
	// Legend, in a row under the axis.
	legendX := lx
	for _, s := range raw.Servers {
		label := turnServerLabel(s)
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="10" height="10" fill="%s"/><text x="%d" y="%d">%s</text>`+"\n", legendX, ly+lh+48, turnColors[s], legendX+14, ly+lh+57, html.EscapeString(label))
		legendX += 24 + 7*len([]rune(label))
	}
	// Bars panel.
	barGroup := func(y0 int, title string, rows []struct {
		server string
		v      float64
		label  string
	}) int {
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-weight="bold">%s</text>`+"\n", bx, y0, html.EscapeString(title))
		maxV := 0.0
		for _, rw := range rows {
			maxV = math.Max(maxV, rw.v)
		}
		y := y0 + 12
		for _, rw := range rows {
			w := 0.0
			if maxV > 0 && !math.IsNaN(rw.v) {
				w = rw.v / maxV * bw
			}
			fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end" font-size="11">%s</text>`+"\n", bx+118, y+13, html.EscapeString(turnServerLabel(rw.server)))
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="18" fill="%s"/>`+"\n", bx+124, y, w, turnColors[rw.server])
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="11">%s</text>`+"\n", float64(bx+124)+w+5, y+13, html.EscapeString(rw.label))
			y += 24
		}
		return y
	}
	type row = struct {
		server string
		v      float64
		label  string
	}
	var rateRows, cpuRows []row
	var pcCommon float64
	for _, f := range figs {
		med := median(f.rate)
		rateRows = append(rateRows, row{f.server, med, fmt.Sprintf("%s (%s)", fmtNum(med, 0), fmtRatio(f.rateRatio))})
		if f.server == turnPeercall && f.common > 0 {
			pcCommon = f.common
			cpuRows = append(cpuRows, row{turnPeercall, median(f.cpu), fmt.Sprintf("%s µs (%s)", fmtNum(median(f.cpu), 2), fmtRatio(f.cpuRate))},
				row{turnCoturn, median(f.coturnCPU), fmt.Sprintf("%s µs", fmtNum(median(f.coturnCPU), 2))})
		}
	}
	if len(rateRows) == 0 {
		for _, s := range raw.Servers {
			med := median(turnValues(runs, s, turnMaxHeld))
			rateRows = append(rateRows, row{s, med, fmtNum(med, 0)})
		}
	}
	y := barGroup(ly-12, "Highest rate held at ≤1% loss (pkts/s; ÷ coturn)", rateRows)
	if len(cpuRows) > 0 {
		barGroup(y+28, fmt.Sprintf("Server CPU per packet at %s pkts/s (lower is better)", fmtPPS(pcCommon)), cpuRows)
	}
	fmt.Fprintf(&b, `<text x="16" y="%d" fill="#555" font-size="11">Generated by peercall bench turn; numbers in docs/performance.md.</text>`+"\n", height-10)
	b.WriteString("</svg>\n")
	return []byte(b.String())
}
