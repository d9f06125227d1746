package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// SignalScale sizes the signal suite's workloads.
type SignalScale struct {
	ConnectLevels      []int         // idle connections held, ascending
	ConnectConcurrency int           // connection attempts in flight
	ConnectSettle      time.Duration // wait at each level before reading RSS
	ConnectHold        time.Duration // hold the last level, with keepalive
	RelayPairs         []int
	RelayWarmup        time.Duration
	RelayDuration      time.Duration
	StormRooms         int
	StormCandidates    int // each way
	StormTimeout       time.Duration
}

// Scales of issue 6. The hard open-file limit here is 20,000 per process,
// hence 19k connections at most.
var (
	signalFull = SignalScale{
		ConnectLevels: []int{1000, 5000, 10000, 19000}, ConnectConcurrency: 64,
		ConnectSettle: 2 * time.Second, ConnectHold: 12 * time.Second,
		RelayPairs: []int{50, 500}, RelayWarmup: time.Second, RelayDuration: 10 * time.Second,
		StormRooms: 1000, StormCandidates: 8, StormTimeout: 60 * time.Second,
	}
	signalQuick = SignalScale{
		ConnectLevels: []int{1000}, ConnectConcurrency: 64,
		ConnectSettle: time.Second, ConnectHold: 6 * time.Second,
		RelayPairs: []int{50}, RelayWarmup: 500 * time.Millisecond, RelayDuration: 3 * time.Second,
		StormRooms: 200, StormCandidates: 8, StormTimeout: 30 * time.Second,
	}
)

// peerJSVersion is the peerjs-server release compared against.
const peerJSVersion = "1.0.2"

// signalRun is one workload against one server in one repetition.
type signalRun struct {
	Rep        int           `json:"rep"`
	Server     string        `json:"server"`
	ServerMode string        `json:"server_mode"` // how the server was started
	Workload   string        `json:"workload"`
	Param      int           `json:"param,omitempty"` // relay: pairs
	Result     loadgenResult `json:"result"`
	// Machine before the server started and after the workload: other
	// load on this shared machine, and listen-queue overflows.
	Before machineSample `json:"machine_before"`
	After  machineSample `json:"machine_after"`
}

// signalEnv is what the suite needs to start servers and load generators.
type signalEnv struct {
	o          Options
	scale      SignalScale
	peerjsMain string // path of peerjs.js
	// serveLimits are the flags that lift peercall serve's abuse limits;
	// serveRate tells whether they include the per-connection rate limit.
	serveLimits []string
	serveRate   bool
}

func runSignalSuite(ctx context.Context, o Options) (*Report, error) {
	env := &signalEnv{o: o, scale: signalFull}
	if o.Quick {
		env.scale = signalQuick
	}
	if o.Scale != nil {
		env.scale = *o.Scale
	}
	if o.Reps <= 0 {
		env.o.Reps = 2
		if o.Quick {
			env.o.Reps = 1
		}
	}
	servers := o.Servers
	if len(servers) == 0 {
		servers = []string{serverPeercall, serverPeerJS}
	}
	limit, err := raiseFileLimit()
	if err != nil {
		return nil, fmt.Errorf("raise open-file limit: %w", err)
	}
	logf := func(format string, a ...any) { fmt.Fprintf(o.Stderr, "bench signal: "+format+"\n", a...) }
	logf("open-file limit %d per process", limit)
	for _, s := range servers {
		switch s {
		case serverPeerJS:
			if env.peerjsMain, err = ensurePeerJS(ctx, o.PeerJSDir, logf); err != nil {
				return nil, err
			}
		case serverPeercall:
			if o.Serve != nil {
				env.serveLimits, env.serveRate, err = rateLimitFlags(o.Serve)
				if err != nil {
					return nil, err
				}
			}
		default:
			return nil, fmt.Errorf("unknown server %q", s)
		}
	}
	if o.Serve != nil && !env.serveRate {
		logf("peercall serve has no --message-rate flag: the relay workload uses the same signaling server (internal/signal + internal/room) started by \"bench internal-signal-server\" with the per-connection rate limit lifted")
	}

	workloads := []string{"connect", "relay", "storm"}
	var runs []signalRun
	start := time.Now()
	for rep := 0; rep < env.o.Reps; rep++ {
		for wi, w := range workloads {
			order := servers
			if (rep+wi)%2 == 1 && len(servers) == 2 {
				order = []string{servers[1], servers[0]}
			}
			params := []int{0}
			if w == "relay" {
				params = env.scale.RelayPairs
			}
			for _, p := range params {
				for _, s := range order {
					logf("rep %d/%d: %s %s against %s", rep+1, env.o.Reps, w, paramLabel(w, p), s)
					r, err := env.runOne(ctx, rep, s, w, p)
					if err != nil {
						return nil, fmt.Errorf("rep %d, %s against %s: %w", rep+1, w, s, err)
					}
					if r.Result.Error != "" {
						return nil, fmt.Errorf("rep %d, %s against %s: load generator: %s", rep+1, w, s, r.Result.Error)
					}
					runs = append(runs, r)
				}
			}
		}
	}
	logf("done in %s", time.Since(start).Round(time.Second))
	return signalReport(env, runs, time.Since(start)), nil
}

func paramLabel(w string, p int) string {
	if w == "relay" {
		return fmt.Sprintf("(%d pairs)", p)
	}
	return ""
}

// runOne starts a fresh server, runs one workload with a fresh load
// generator, and stops the server.
func (e *signalEnv) runOne(ctx context.Context, rep int, server, workload string, param int) (signalRun, error) {
	run := signalRun{Rep: rep + 1, Server: server, Workload: workload, Param: param, Before: sampleMachine()}
	port, err := freePort()
	if err != nil {
		return run, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	var argv []string
	switch server {
	case serverPeerJS:
		argv = []string{"node", e.peerjsMain, "--port", strconv.Itoa(port), "--host", "127.0.0.1", "--concurrent_limit", "30000"}
		run.ServerMode = "node peerjs.js --host 127.0.0.1 --concurrent_limit 30000 (peer " + peerJSVersion + ")"
	default:
		internal := e.o.Serve == nil || (workload == "relay" && !e.serveRate)
		if internal {
			argv = append(append([]string{}, e.o.Self...), "internal-signal-server", "--listen", addr, "--max-participants", "2")
			run.ServerMode = "internal/signal server, rate limit lifted (bench internal-signal-server)"
		} else {
			argv = append(append([]string{}, e.o.Serve...), "--listen", addr, "--turn-listen", "off", "--max-participants", "2", "--log-level", "error")
			argv = append(argv, e.serveLimits...)
			run.ServerMode = "peercall serve --turn-listen off --max-participants 2 " + strings.Join(e.serveLimits, " ")
		}
	}
	env := []string(nil)
	if server == serverPeercall {
		env = e.o.SelfEnv
	}
	srv, err := startProcess(server, argv, env)
	if err != nil {
		return run, err
	}
	defer srv.stop(5 * time.Second)
	if err := waitTCP(ctx, addr, srv.exited, 15*time.Second); err != nil {
		return run, fmt.Errorf("%w\n%s", err, srv.lastLog())
	}
	// Let the server's start-up settle before the baseline is read.
	if err := sleepCtx(ctx, 500*time.Millisecond); err != nil {
		return run, err
	}
	cfg := loadgenConfig{Server: server, Addr: addr, PID: srv.pid(), Workload: workload}
	sc := e.scale
	switch workload {
	case "connect":
		cfg.Levels, cfg.Concurrency, cfg.Settle, cfg.Hold = sc.ConnectLevels, sc.ConnectConcurrency, sc.ConnectSettle, sc.ConnectHold
	case "relay":
		cfg.Pairs, cfg.Warmup, cfg.Duration = param, sc.RelayWarmup, sc.RelayDuration
	case "storm":
		cfg.Rooms, cfg.Candidates, cfg.Timeout = sc.StormRooms, sc.StormCandidates, sc.StormTimeout
	}
	res, err := e.loadgen(ctx, cfg)
	if err != nil {
		return run, err
	}
	select {
	case <-srv.exited:
		return run, fmt.Errorf("server exited during the workload\n%s", srv.lastLog())
	default:
	}
	run.Result = res
	run.After = sampleMachine()
	return run, nil
}

// loadgen runs the load generator process for one workload.
func (e *signalEnv) loadgen(ctx context.Context, cfg loadgenConfig) (loadgenResult, error) {
	var res loadgenResult
	in, _ := json.Marshal(cfg)
	argv := append(append([]string{}, e.o.Self...), "internal-loadgen")
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), e.o.SelfEnv...)
	cmd.Stdin = bytes.NewReader(in)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = e.o.Stderr
	if err := cmd.Run(); err != nil {
		return res, fmt.Errorf("load generator: %w", err)
	}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		return res, fmt.Errorf("load generator output: %w: %.300s", err, out.String())
	}
	return res, nil
}

// benchLimitFlags are peercall serve's abuse limits that a benchmark from one
// address must lift: every load-generator connection comes from 127.0.0.1,
// and the relay workload sends far more than 50 frames/s per connection.
var benchLimitFlags = [][2]string{
	{"message-rate", "1000000"},
	{"message-burst", "1000000"},
	{"max-conns-per-ip", "-1"},
	{"joins-per-ip-per-minute", "-1"},
	{"max-rooms", "-1"},
	{"max-total-participants", "-1"},
}

// rateLimitFlags returns those of benchLimitFlags that this peercall serve
// has, and whether it has --message-rate.
func rateLimitFlags(serve []string) ([]string, bool, error) {
	out, err := exec.Command(serve[0], append(serve[1:], "-h")...).CombinedOutput()
	if err != nil && len(out) == 0 {
		return nil, false, fmt.Errorf("%s -h: %w (is %s a peercall binary?)", strings.Join(serve, " "), err, serve[0])
	}
	if !bytes.Contains(out, []byte("-listen")) {
		return nil, false, fmt.Errorf("%s does not look like peercall serve:\n%s", strings.Join(serve, " "), out)
	}
	var flags []string
	for _, f := range benchLimitFlags {
		if bytes.Contains(out, []byte("-"+f[0]+" ")) {
			flags = append(flags, "--"+f[0], f[1])
		}
	}
	return flags, bytes.Contains(out, []byte("-message-rate ")), nil
}

// ensurePeerJS returns the path of peerjs.js, installing the npm package
// peer@1.0.2 into dir if it is not there.
func ensurePeerJS(ctx context.Context, dir string, logf func(string, ...any)) (string, error) {
	if dir == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			cache = os.TempDir()
		}
		dir = filepath.Join(cache, "peercall-bench", "peerjs")
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	main := filepath.Join(dir, "node_modules", "peer", "dist", "bin", "peerjs.js")
	if _, err := exec.LookPath("node"); err != nil {
		return "", errors.New("node is not installed; peerjs-server needs Node.js (apt-get install nodejs npm)")
	}
	if ok, _ := peerJSInstalled(dir); ok {
		return main, nil
	}
	if _, err := exec.LookPath("npm"); err != nil {
		return "", errors.New("npm is not installed; it is needed to install peerjs-server (apt-get install npm)")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	logf("installing peer@%s with npm into %s", peerJSVersion, dir)
	cmd := exec.CommandContext(ctx, "npm", "install", "--no-audit", "--no-fund", "--prefix", dir, "peer@"+peerJSVersion)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("npm install peer@%s: %w\n%s", peerJSVersion, err, out)
	}
	if ok, v := peerJSInstalled(dir); !ok {
		return "", fmt.Errorf("npm installed peer %q into %s, want %s", v, dir, peerJSVersion)
	}
	return main, nil
}

// peerJSInstalled reports whether dir holds peer at peerJSVersion.
func peerJSInstalled(dir string) (bool, string) {
	b, err := os.ReadFile(filepath.Join(dir, "node_modules", "peer", "package.json"))
	if err != nil {
		return false, ""
	}
	var pkg struct {
		Version string `json:"version"`
	}
	json.Unmarshal(b, &pkg)
	return pkg.Version == peerJSVersion, pkg.Version
}

func nodeVersion() string {
	out, err := exec.Command("node", "--version").Output()
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(out))
}
