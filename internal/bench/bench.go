// Package bench is peercall bench: benchmark suites that run peercall and
// the systems users would pick instead side by side on this machine, on
// loopback only, and print Markdown tables with ratios.
//
// A suite is a function from Options to a Report (see suites). Each one
// starts the servers under test as separate processes and drives them from
// a load generator that is a separate process too: this binary again, as
// "peercall bench internal-loadgen". That keeps the load generator's sockets
// and CPU apart from the server's, so that /proc tells the server's own CPU
// and memory, and each process gets the whole open-file limit.
package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Options configure a suite run.
type Options struct {
	// Quick runs a reduced suite (under a minute for signal).
	Quick bool
	// Reps is the number of repetitions; each alternates the servers.
	// Default 2 (1 with Quick).
	Reps int
	// OutDir receives the raw results (JSON, CSV) and the chart. Empty: none.
	OutDir string
	// PeerJSDir is where the npm package "peer" is (or is installed):
	// DIR/node_modules/peer. Default: a directory in the user cache.
	PeerJSDir string
	// Self runs this program's bench command: Self + ["internal-loadgen"]
	// must start the load generator. Default: os.Executable() "bench".
	Self []string
	// SelfEnv is added to the environment of Self processes.
	SelfEnv []string
	// Serve starts peercall's server: Serve + flags. Default:
	// os.Executable() "serve". Nil in tests: the signal server is then built
	// from internal/signal by Self + ["internal-signal-server"].
	Serve []string
	// Scale overrides the workload sizes (tests); nil means the quick or
	// full defaults.
	Scale *SignalScale
	// Servers limits the servers compared (tests). Default both.
	Servers []string

	Stdout, Stderr io.Writer
}

// suite is one benchmark suite.
type suite struct {
	name string
	// help is the suite's line in the usage text (wrapped by hand).
	help string
	run  func(ctx context.Context, o Options) (*Report, error)
}

// suites are the benchmark suites in usage order. Each suite's file adds
// itself with registerSuite from an init function.
var suites []suite

func registerSuite(s suite) { suites = append(suites, s) }

func init() {
	registerSuite(suite{name: "signal", run: runSignalSuite,
		help: "the signaling server against peerjs-server (npm \"peer\" 1.0.2):\n" +
			"idle connections, relay throughput and latency, setup storm"})
}

func lookupSuite(name string) (suite, bool) {
	for _, s := range suites {
		if s.name == name {
			return s, true
		}
	}
	return suite{}, false
}

func usage() string {
	var b strings.Builder
	b.WriteString("Usage: peercall bench <suite> [flags]\n\nSuites:\n")
	for _, s := range suites {
		fmt.Fprintf(&b, "  %-8s %s\n", s.name, strings.ReplaceAll(s.help, "\n", "\n           "))
	}
	b.WriteString("\nFlags:\n")
	return b.String()
}

// Run is the peercall bench command.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		// Hidden subcommands: the processes a suite starts.
		switch args[0] {
		case "internal-loadgen":
			return runLoadgen(ctx, os.Stdin, stdout, stderr)
		case "internal-signal-server":
			return runSignalServer(ctx, args[1:], stdout, stderr)
		case "internal-report":
			// internal-report DIR/signal.json OUTDIR: render the tables
			// and chart again from raw results.
			if len(args) != 3 {
				fmt.Fprintln(stderr, "usage: peercall bench internal-report RESULTS.json OUTDIR")
				return 2
			}
			if err := rerenderSignal(args[1], args[2]); err != nil {
				fmt.Fprintf(stderr, "peercall bench: %v\n", err)
				return 1
			}
			return 0
		}
	}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o Options
	fs.BoolVar(&o.Quick, "quick", false, "run a reduced suite (under a minute)")
	fs.IntVar(&o.Reps, "reps", 0, "repetitions, alternating the servers in each (default 2, or 1 with --quick)")
	fs.StringVar(&o.OutDir, "out", "", "write raw results (JSON, CSV) and the chart (SVG) to this directory")
	fs.StringVar(&o.PeerJSDir, "peerjs-dir", "", `directory with node_modules/peer, installed there with npm if missing (default: user cache dir "peercall-bench/peerjs")`)
	peercallBin := fs.String("peercall", "", "peercall binary to benchmark (default: this one)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage())
		fs.PrintDefaults()
	}
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
			fs.SetOutput(stdout)
			fs.Usage()
			return 0
		}
		fs.Usage()
		return 2
	}
	suite, ok := lookupSuite(args[0])
	if !ok {
		fmt.Fprintf(stderr, "peercall bench: unknown suite %q\n\n", args[0])
		fs.Usage()
		return 2
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "peercall bench: unexpected arguments %q\n", fs.Args())
		return 2
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "peercall bench: %v\n", err)
		return 1
	}
	o.Self = []string{exe, "bench"}
	serveBin := exe
	if *peercallBin != "" {
		if serveBin, err = filepath.Abs(*peercallBin); err != nil {
			fmt.Fprintf(stderr, "peercall bench: %v\n", err)
			return 2
		}
	}
	o.Serve = []string{serveBin, "serve"}
	o.Stdout, o.Stderr = stdout, stderr
	rep, err := suite.run(ctx, o)
	if err != nil {
		fmt.Fprintf(stderr, "peercall bench %s: %v\n", args[0], err)
		return 1
	}
	fmt.Fprint(stdout, rep.Markdown)
	if o.OutDir != "" {
		if err := rep.write(o.OutDir); err != nil {
			fmt.Fprintf(stderr, "peercall bench: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "\nRaw results and chart in %s\n", o.OutDir)
	}
	return 0
}
