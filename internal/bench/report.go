package bench

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
)

// Report is the outcome of a suite.
type Report struct {
	Suite    string
	Markdown string            // tables and the summary line
	Raw      any               // written as SUITE.json
	CSV      [][]string        // written as SUITE.csv; the first row is the header
	Charts   map[string][]byte // file name -> SVG
}

func (r *Report) write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	raw, err := json.MarshalIndent(r.Raw, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, r.Suite+".json"), append(raw, '\n'), 0o644); err != nil {
		return err
	}
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.WriteAll(r.CSV)
	if err := os.WriteFile(filepath.Join(dir, r.Suite+".csv"), b.Bytes(), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, r.Suite+".md"), []byte(r.Markdown), 0o644); err != nil {
		return err
	}
	for name, svg := range r.Charts {
		if err := os.WriteFile(filepath.Join(dir, name), svg, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Machine describes where a suite ran.
type Machine struct {
	CPUs   int    `json:"cpus"`
	Model  string `json:"cpu_model"`
	Go     string `json:"go"`
	Kernel string `json:"kernel"`
	Node   string `json:"node,omitempty"`
}

func thisMachine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.Model = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

// metric is one figure of a table: how to read it from a run, and which
// direction is better.
type metric struct {
	label    string
	workload string
	param    int // relay pairs; 0 otherwise
	unit     string
	higher   bool // higher is better
	decimals int
	get      func(r loadgenResult) (float64, bool)
	goal     float64 // goal for the ratio peercall/peerjs; 0: none
	chart    string  // label in the chart; empty: not charted
	// overflow: the value is the run's kernel listen-queue overflows, not
	// read from the result.
	overflow bool
}

// values are the figure's values over the repetitions for one server.
func (m metric) values(runs []signalRun, server string) []float64 {
	var v []float64
	for _, r := range runs {
		if r.Server == server && r.Workload == m.workload && r.Param == m.param {
			if x, ok := m.value(r); ok {
				v = append(v, x)
			}
		}
	}
	return v
}

// value is the figure in one run.
func (m metric) value(r signalRun) (float64, bool) {
	if m.overflow {
		return float64(r.After.ListenOverflows - r.Before.ListenOverflows), true
	}
	return m.get(r.Result)
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// fmtNum formats x with thousands separators and the given decimals.
func fmtNum(x float64, decimals int) string {
	if math.IsNaN(x) {
		return "—"
	}
	s := strconv.FormatFloat(x, 'f', decimals, 64)
	intPart, frac, _ := strings.Cut(s, ".")
	neg := strings.HasPrefix(intPart, "-")
	intPart = strings.TrimPrefix(intPart, "-")
	var b strings.Builder
	for i, c := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	out := b.String()
	if neg {
		out = "-" + out
	}
	if frac != "" {
		out += "." + frac
	}
	return out
}

func cell(v []float64, decimals int) string {
	if len(v) == 0 {
		return "—"
	}
	s := fmtNum(median(v), decimals)
	if len(v) > 1 {
		s += fmt.Sprintf(" (%s–%s)", fmtNum(slices.Min(v), decimals), fmtNum(slices.Max(v), decimals))
	}
	return s
}

func ratio(a, b []float64) float64 {
	if len(a) == 0 || len(b) == 0 || median(b) == 0 {
		return math.NaN()
	}
	return median(a) / median(b)
}

func fmtRatio(x float64) string {
	if math.IsNaN(x) {
		return "—"
	}
	if x >= 10 {
		return fmt.Sprintf("%.1f×", x)
	}
	return fmt.Sprintf("%.2f×", x)
}

// table renders metrics as a Markdown table comparing peercall and
// peerjs-server.
func table(runs []signalRun, ms []metric) string {
	var b strings.Builder
	b.WriteString("| | peercall | peerjs-server | peercall / peerjs | better |\n|---|---:|---:|---:|---|\n")
	for _, m := range ms {
		pc, pj := m.values(runs, serverPeercall), m.values(runs, serverPeerJS)
		dir := "lower"
		if m.higher {
			dir = "higher"
		}
		if m.goal > 0 {
			dir += fmt.Sprintf(" (goal %s)", goalText(m))
		}
		fmt.Fprintf(&b, "| %s (%s) | %s | %s | %s | %s |\n", m.label, m.unit, cell(pc, m.decimals), cell(pj, m.decimals), fmtRatio(ratio(pc, pj)), dir)
	}
	return b.String()
}

func goalText(m metric) string {
	if m.higher {
		return "≥ " + strconv.FormatFloat(m.goal, 'g', -1, 64) + "×"
	}
	if m.goal == 1 {
		return "< 1×"
	}
	return "≤ " + strconv.FormatFloat(m.goal, 'g', -1, 64) + "×"
}

// goalMet reports whether the ratio meets the metric's goal.
func goalMet(m metric, r float64) bool {
	if math.IsNaN(r) {
		return false
	}
	if m.higher {
		return r >= m.goal
	}
	if m.goal == 1 {
		return r < 1
	}
	return r <= m.goal
}

// writeMachineLoad writes the line on other load during the runs, from
// each run's machine samples before and after it, with busyNote appended
// when the load average exceeded the CPUs.
func writeMachineLoad(b *strings.Builder, cpus int, samples []machineSample, busyNote string) {
	if len(samples) == 0 {
		return
	}
	load, press := []float64{}, []float64{}
	for _, s := range samples {
		load = append(load, s.Load1)
		press = append(press, s.CPUPressure10)
	}
	fmt.Fprintf(b, "\nOther load on the machine during the runs: 1-minute load average %s–%s on %d CPUs; CPU pressure (share of time some task waited for a CPU, 10 s average) %s–%s %%.",
		fmtNum(slices.Min(load), 1), fmtNum(slices.Max(load), 1), cpus, fmtNum(slices.Min(press), 0), fmtNum(slices.Max(press), 0))
	if slices.Max(load) > float64(cpus) {
		b.WriteString(" **The machine was busy with other work: " + busyNote + "**")
	}
	b.WriteString("\n")
}
