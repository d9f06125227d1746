package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/peercall/peercall/internal/netns"
)

// The turn suite: the embedded TURN relay (internal/turnserver) against
// coturn, each a separate process, driven by a load generator process that
// holds allocations on the server and steps up a paced rate of ChannelData
// until more than 1% is lost. All of it runs in a network namespace that
// has only a loopback interface (see turn_netns.go): the command
// re-executes itself into one after installing coturn.
//
// Processes, with the role each plays (PEERCALL_BENCH_TURN_ROLE):
//
//	peercall bench turn                   host namespace: installs coturn, starts ↓, renders the report
//	└─ … bench turn (role "netns")        new namespace: runs every ladder, prints raw JSON
//	   ├─ peercall serve / turnserver     the server under test, one fresh process per ladder
//	   └─ … bench turn (role "loadgen")   allocations, paced sender, counting peers; one per ladder
//
// The reference servers run as role "server" (turn_server.go). Role
// "report" renders the tables and chart again from a turn.json on stdin:
//
//	PEERCALL_BENCH_TURN_ROLE=report peercall bench turn --out DIR < turn.json

func init() {
	registerSuite(suite{name: "turn", run: runTurnSuite,
		help: "the embedded TURN relay against coturn " + coturnVersion + ": highest packet rate\n" +
			"relayed at ≤1% loss (ChannelData ladder) and server CPU per packet"})
}

// coturnVersion is the coturn release compared against (Debian 12's).
const coturnVersion = "4.6.1"

// envTurnRole tells a re-executed bench process which part of the turn
// suite it plays; its configuration comes as JSON on stdin.
const envTurnRole = "PEERCALL_BENCH_TURN_ROLE"

// Servers of the turn suite.
const (
	turnPeercall = "peercall"
	turnCoturn   = "coturn"
	// turnPionPath is peercall's TURN server with the fast path off:
	// its SO_REUSEPORT sockets and 4 MiB buffers, but pion/turn's
	// per-packet forwarding ("a tuned pion" of issue 6).
	turnPionPath = "pion-tuned"
	// turnPionDefault is pion/turn v5 as its examples start it: one
	// socket, default buffers.
	turnPionDefault = "pion-defaults"
)

// turnServerLabel is how a server is named in the report.
func turnServerLabel(s string) string {
	switch s {
	case turnCoturn:
		return "coturn " + coturnVersion
	case turnPionPath:
		return "pion/turn tuned"
	case turnPionDefault:
		return "pion/turn defaults"
	}
	return s
}

// TurnScale sizes the turn suite.
type TurnScale struct {
	Allocations  int `json:"allocations"`
	PayloadBytes int `json:"payload_bytes"` // per ChannelData packet, without its 4-byte header
	// SizeSpread, when set, varies the payload from packet to packet
	// over 8 sizes from PayloadBytes−SizeSpread to PayloadBytes+SizeSpread
	// (same mean), so that no two packets in a row have the same size.
	// The suite does not use it; it shows what equal sizes are worth.
	SizeSpread int     `json:"size_spread,omitempty"`
	StartPPS   float64 `json:"start_pps"` // first rate of the ladder, packets per second over all allocations
	Factor     float64 `json:"factor"`    // ratio between coarse ladder rates
	MaxPPS     float64 `json:"max_pps"`   // stop here even without loss
	// Refine is the number of bisection steps (geometric) between the
	// highest coarse rate held and the first that failed.
	Refine  int           `json:"refine"`
	Step    time.Duration `json:"step_ns"`  // sending time per rate
	Drain   time.Duration `json:"drain_ns"` // wait after sending before counting
	MaxLoss float64       `json:"max_loss"` // a rate is held at this loss or less
	// Retries is how often a coarse rate that lost too much (or that the
	// load generator could not send) is tried again before it counts as
	// failed: the machine is shared, and one busy moment elsewhere should
	// not end a ladder. Bisection steps are tried once.
	Retries int `json:"retries"`
}

var (
	turnFull = TurnScale{Allocations: 4, PayloadBytes: 200, StartPPS: 20000, Factor: 1.5, MaxPPS: 3e6,
		Refine: 3, Step: 1500 * time.Millisecond, Drain: 300 * time.Millisecond, MaxLoss: 0.01, Retries: 1}
	turnQuick = TurnScale{Allocations: 4, PayloadBytes: 200, StartPPS: 20000, Factor: 1.5, MaxPPS: 3e6,
		Refine: 2, Step: time.Second, Drain: 250 * time.Millisecond, MaxLoss: 0.01, Retries: 1}
)

// turnSecret and turnRealm are shared by every server and the load
// generator (TURN REST credentials).
const turnRealm = "peercall-bench"

// turnNetnsConfig is what the process in the namespace needs (stdin of role
// "netns").
type turnNetnsConfig struct {
	Scale   TurnScale `json:"scale"`
	Reps    int       `json:"reps"`
	Servers []string  `json:"servers"`
	Self    []string  `json:"self"`
	SelfEnv []string  `json:"self_env"`
	Serve   []string  `json:"serve"` // nil: peercall runs as role "server"
	Coturn  string    `json:"coturn"`
}

func runTurnSuite(ctx context.Context, o Options) (*Report, error) {
	switch role := os.Getenv(envTurnRole); role {
	case "":
	case "netns":
		return &Report{}, runTurnNetnsRole(ctx, o.Stdout, o.Stderr)
	case "server":
		return &Report{}, runTurnServerRole(ctx, o.Stderr)
	case "loadgen":
		return &Report{}, runTurnLoadgenRole(ctx, o.Stdout)
	case "report":
		// Render the tables and chart again from a turn.json on stdin
		// (with --out DIR to write them).
		var raw turnRaw
		if err := json.NewDecoder(os.Stdin).Decode(&raw); err != nil {
			return nil, fmt.Errorf("turn.json on stdin: %w", err)
		}
		return turnReport(raw), nil
	default:
		return nil, fmt.Errorf("unknown %s %q", envTurnRole, role)
	}
	sc := turnFull
	if o.Quick {
		sc = turnQuick
	}
	servers := o.Servers
	if len(servers) == 0 {
		servers = []string{turnPeercall, turnCoturn, turnPionPath, turnPionDefault}
		if o.Quick {
			servers = servers[:2]
		}
	}
	return runTurn(ctx, o, sc, servers)
}

// runTurn installs what is missing, runs the suite in a loopback-only
// namespace and renders the report.
func runTurn(ctx context.Context, o Options, sc TurnScale, servers []string) (*Report, error) {
	logf := func(format string, a ...any) { fmt.Fprintf(o.Stderr, "bench turn: "+format+"\n", a...) }
	reps := o.Reps
	if reps <= 0 {
		reps = 2
		if o.Quick {
			reps = 1
		}
	}
	cfg := turnNetnsConfig{Scale: sc, Reps: reps, Servers: servers, Self: o.Self, SelfEnv: o.SelfEnv, Serve: o.Serve}
	for _, s := range servers {
		switch s {
		case turnCoturn:
			path, err := turnEnsureCoturn(ctx, logf)
			if err != nil {
				return nil, err
			}
			cfg.Coturn = path
		case turnPeercall, turnPionPath, turnPionDefault:
		default:
			return nil, fmt.Errorf("unknown server %q", s)
		}
	}
	start := time.Now()
	var raw turnRaw
	if netns.LoopbackOnly() {
		logf("already in a loopback-only network namespace")
		if err := netns.LinkUp("lo"); err != nil {
			return nil, fmt.Errorf("bring lo up: %w", err)
		}
		r, err := runTurnLadders(ctx, cfg, o.Stderr)
		if err != nil {
			return nil, err
		}
		raw = r
	} else {
		in, _ := json.Marshal(cfg)
		argv := append(append([]string{}, o.Self...), "turn")
		var out bytes.Buffer
		if err := turnRunInNetns(ctx, argv, append(append([]string{}, o.SelfEnv...), envTurnRole+"=netns"), in, &out, o.Stderr); err != nil {
			return nil, err
		}
		if err := json.Unmarshal(out.Bytes(), &raw); err != nil {
			return nil, fmt.Errorf("results from the namespace: %w: %.300s", err, out.String())
		}
	}
	raw.Quick = o.Quick
	raw.Seconds = time.Since(start).Seconds()
	logf("done in %s", time.Since(start).Round(time.Second))
	return turnReport(raw), nil
}

// runTurnNetnsRole runs every ladder (inside the namespace) and prints the
// raw results as JSON.
func runTurnNetnsRole(ctx context.Context, stdout, stderr io.Writer) error {
	if !netns.LoopbackOnly() {
		return errors.New("role netns outside a loopback-only network namespace")
	}
	if err := netns.LinkUp("lo"); err != nil {
		return fmt.Errorf("bring lo up: %w", err)
	}
	var cfg turnNetnsConfig
	if err := json.NewDecoder(os.Stdin).Decode(&cfg); err != nil {
		return fmt.Errorf("config on stdin: %w", err)
	}
	raw, err := runTurnLadders(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	return json.NewEncoder(stdout).Encode(raw)
}

// turnRun is one ladder against one server.
type turnRun struct {
	Rep        int           `json:"rep"`
	Server     string        `json:"server"`
	ServerMode string        `json:"server_mode"` // how the server was started
	Result     turnLadder    `json:"result"`
	Before     machineSample `json:"machine_before"`
	After      machineSample `json:"machine_after"`
}

// turnRaw is the suite's raw output (turn.json).
type turnRaw struct {
	Suite         string    `json:"suite"`
	Machine       Machine   `json:"machine"`
	CoturnVersion string    `json:"coturn_version,omitempty"`
	Quick         bool      `json:"quick"`
	Reps          int       `json:"reps"`
	Servers       []string  `json:"servers"`
	Scale         TurnScale `json:"scale"`
	Runs          []turnRun `json:"runs"`
	Seconds       float64   `json:"seconds"`
	Summary       string    `json:"summary"`
	Finished      string    `json:"finished"`
}

// runTurnLadders runs a ladder against each server in each repetition,
// alternating the order.
func runTurnLadders(ctx context.Context, cfg turnNetnsConfig, stderr io.Writer) (turnRaw, error) {
	logf := func(format string, a ...any) { fmt.Fprintf(stderr, "bench turn: "+format+"\n", a...) }
	raw := turnRaw{Suite: "turn", Machine: thisMachine(), Reps: cfg.Reps, Servers: cfg.Servers, Scale: cfg.Scale}
	if cfg.Coturn != "" {
		raw.CoturnVersion = coturnInstalledVersion(cfg.Coturn)
	}
	for rep := 1; rep <= cfg.Reps; rep++ {
		order := append([]string{}, cfg.Servers...)
		if rep%2 == 0 {
			for i, j := 0, len(order)-1; i < j; i, j = i+1, j-1 {
				order[i], order[j] = order[j], order[i]
			}
		}
		for _, s := range order {
			logf("rep %d/%d: ladder against %s", rep, cfg.Reps, turnServerLabel(s))
			run, err := runTurnLadder(ctx, cfg, rep, s)
			if err != nil {
				return raw, fmt.Errorf("rep %d against %s: %w", rep, s, err)
			}
			l := run.Result
			logf("  highest rate held %s pkts/s (%d steps)%s", fmtNum(l.MaxHeldPPS, 0), len(l.Steps), map[bool]string{true: ", load generator limited", false: ""}[l.SenderLimited])
			raw.Runs = append(raw.Runs, run)
		}
	}
	raw.Finished = time.Now().UTC().Format(time.RFC3339)
	return raw, nil
}

// runTurnLadder starts a fresh server, runs one ladder with a fresh load
// generator and stops the server.
func runTurnLadder(ctx context.Context, cfg turnNetnsConfig, rep int, server string) (turnRun, error) {
	run := turnRun{Rep: rep, Server: server, Before: sampleMachine()}
	port, err := turnFreePort()
	if err != nil {
		return run, err
	}
	secret := turnRandomSecret()
	addr := "127.0.0.1:" + strconv.Itoa(port)
	dir, err := os.MkdirTemp("", "peercall-bench-turn-")
	if err != nil {
		return run, err
	}
	defer os.RemoveAll(dir)
	var argv, env []string
	var stdin []byte
	switch server {
	case turnCoturn:
		argv = coturnArgv(cfg.Coturn, port, secret, dir)
		run.ServerMode = strings.Join(append([]string{"turnserver"}, turnRedact(argv[1:], secret)...), " ")
	case turnPeercall:
		if cfg.Serve != nil {
			httpPort, err := freePort()
			if err != nil {
				return run, err
			}
			argv = append(append([]string{}, cfg.Serve...), "--listen", "127.0.0.1:"+strconv.Itoa(httpPort),
				"--turn-listen", addr, "--turn-secret", secret, "--turn-allow-loopback", "--log-level", "error")
			run.ServerMode = "peercall serve --listen 127.0.0.1:H --turn-listen " + addr + " --turn-secret S --turn-allow-loopback --log-level error"
			break
		}
		fallthrough
	default:
		argv = append(append([]string{}, cfg.Self...), "turn")
		env = append(append([]string{}, cfg.SelfEnv...), envTurnRole+"=server")
		stdin, _ = json.Marshal(turnServerConfig{Mode: server, Listen: addr, Secret: secret, Realm: turnRealm})
		run.ServerMode = turnServerModes[server]
	}
	srv, err := startProcessInput(server, argv, env, stdin)
	if err != nil {
		return run, err
	}
	defer srv.stop(5 * time.Second)
	if err := waitTCP(ctx, addr, srv.exited, 15*time.Second); err != nil {
		return run, fmt.Errorf("%w\n%s", err, srv.lastLog())
	}
	if err := sleepCtx(ctx, 300*time.Millisecond); err != nil { // let start-up settle
		return run, err
	}
	lcfg := turnLoadConfig{Server: server, Addr: addr, PID: srv.pid(), Secret: secret, Scale: cfg.Scale}
	in, _ := json.Marshal(lcfg)
	argvLG := append(append([]string{}, cfg.Self...), "turn")
	cmd := exec.CommandContext(ctx, argvLG[0], argvLG[1:]...)
	cmd.Env = append(append(os.Environ(), cfg.SelfEnv...), envTurnRole+"=loadgen")
	cmd.Stdin = bytes.NewReader(in)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Run(); err != nil {
		return run, fmt.Errorf("load generator: %w\n%s", err, strings.TrimSpace(errOut.String()))
	}
	if err := json.Unmarshal(out.Bytes(), &run.Result); err != nil {
		return run, fmt.Errorf("load generator output: %w: %.300s", err, out.String())
	}
	select {
	case <-srv.exited:
		return run, fmt.Errorf("%s exited during the ladder\n%s", server, srv.lastLog())
	default:
	}
	if run.Result.Error != "" {
		return run, fmt.Errorf("load generator: %s\nserver log:\n%s", run.Result.Error, srv.lastLog())
	}
	run.After = sampleMachine()
	return run, nil
}

// turnFreePort returns a port on 127.0.0.1 that was free for both TCP and
// UDP a moment ago.
func turnFreePort() (int, error) {
	for range 20 {
		p, err := freePort()
		if err != nil {
			return 0, err
		}
		if c, err := turnListenUDP(p); err == nil {
			c.Close()
			return p, nil
		}
	}
	return 0, errors.New("no port free for both TCP and UDP")
}

func turnRandomSecret() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func turnRedact(args []string, secret string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = strings.ReplaceAll(a, secret, "S")
	}
	return out
}
