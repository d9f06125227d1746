// Command peercall is the peercall server and its tools.
//
//	peercall serve     run the call service (web app, signaling, STUN/TURN)
//	peercall join      join a room as a headless participant
//	peercall token     mint an access token (token mode)
//	peercall bench     benchmarks against comparable systems
//	peercall version   print the version
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/peercall/peercall/internal/bench"
	"github.com/peercall/peercall/internal/joincmd"
	"github.com/peercall/peercall/internal/tokencmd"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `peercall: self-hosted peer-to-peer video calls

Usage:
  peercall serve [flags]     run the call service: web app, signaling, STUN/TURN
  peercall join  [flags]     join a room as a headless participant (bots, tests)
  peercall token [flags]     mint an access token for token mode
  peercall bench <suite>     benchmarks against comparable systems (suites: signal, turn, call)
  peercall version           print the version

Run "peercall <command> -h" for a command's flags.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], stdout, stderr)
	case "join":
		return joincmd.Run(ctx, args[1:], stdout, stderr)
	case "bench":
		return bench.Run(ctx, args[1:], stdout, stderr)
	case "token":
		return tokencmd.Run(ctx, args[1:], stdout, stderr)
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, "peercall", version)
		return 0
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "peercall: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
}
