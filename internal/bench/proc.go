package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat. It
// is 100 on every Linux architecture Go supports.
const clockTicks = 100

// procSample is what /proc tells about a process at one moment.
type procSample struct {
	RSSKiB  int64   // VmRSS
	CPUSecs float64 // utime + stime, user and system CPU so far
	Threads int
}

// readProc reads /proc/PID/status and /proc/PID/stat.
func readProc(pid int) (procSample, error) {
	var s procSample
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "VmRSS:":
			s.RSSKiB, _ = strconv.ParseInt(f[1], 10, 64)
		case "Threads:":
			s.Threads, _ = strconv.Atoi(f[1])
		}
	}
	s.CPUSecs, err = cpuSeconds(pid)
	return s, err
}

// cpuSeconds is utime+stime of pid (0 for this process) from /proc.
func cpuSeconds(pid int) (float64, error) {
	name := "/proc/self/stat"
	if pid != 0 {
		name = fmt.Sprintf("/proc/%d/stat", pid)
	}
	b, err := os.ReadFile(name)
	if err != nil {
		return 0, err
	}
	// The command name may contain spaces; fields start after its ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("%s: unexpected format", name)
	}
	f := strings.Fields(string(b[i+1:]))
	// After ')': state(3) ... utime is field 14, stime 15 (1-based overall).
	if len(f) < 13 {
		return 0, fmt.Errorf("%s: unexpected format", name)
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / clockTicks, nil
}

// raiseFileLimit raises the soft RLIMIT_NOFILE to the hard limit and returns
// it. Children started afterwards inherit it.
func raiseFileLimit() (uint64, error) {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0, err
	}
	if r.Cur < r.Max {
		r.Cur = r.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
			return 0, err
		}
	}
	return r.Cur, nil
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// waitTCP waits until addr accepts connections or the process exits.
func waitTCP(ctx context.Context, addr string, exited <-chan struct{}, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("server exited before listening on %s", addr)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("nothing listening on %s after %v", addr, timeout)
}

// process is a started child process.
type process struct {
	name   string
	cmd    *exec.Cmd
	exited chan struct{}
	log    *lockedBuffer // combined output, for error messages
}

// lockedBuffer keeps the last 64 KiB written to it.
type lockedBuffer struct {
	mu sync.Mutex // guards b
	b  []byte
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b = append(l.b, p...)
	if len(l.b) > 64<<10 {
		l.b = append(l.b[:0], l.b[len(l.b)-32<<10:]...)
	}
	return len(p), nil
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(l.b)
}

// startProcess starts a child in its own process group, killed if this
// process dies, with env added to this process's environment.
func startProcess(name string, argv []string, env []string) (*process, error) {
	return startProcessInput(name, argv, env, nil)
}

// startProcessInput is startProcess with stdin for the child, if not nil.
func startProcessInput(name string, argv, env []string, stdin []byte) (*process, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	log := &lockedBuffer{}
	cmd.Stdout = log
	cmd.Stderr = log
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	// Its own process group, so that a stop reaches node's children too,
	// and so that ^C on the terminal reaches only the bench, which stops
	// its children in order. Killed if the bench dies (no server left
	// behind holding ports and 19,000 connections).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, exited: make(chan struct{}), log: log}
	go func() { cmd.Wait(); close(p.exited) }()
	return p, nil
}

func (p *process) pid() int { return p.cmd.Process.Pid }

// stop sends SIGTERM, then SIGKILL after grace.
func (p *process) stop(grace time.Duration) {
	select {
	case <-p.exited:
		return
	default:
	}
	syscall.Kill(-p.pid(), syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(grace):
		syscall.Kill(-p.pid(), syscall.SIGKILL)
		<-p.exited
	}
}

// lastLog is the end of the process's output, for error messages.
func (p *process) lastLog() string {
	s := strings.TrimSpace(p.log.String())
	if len(s) > 2000 {
		s = "…" + s[len(s)-2000:]
	}
	return s
}

// machineSample is the state of the whole machine at one moment: how busy
// other processes keep it, and the kernel's count of connections dropped
// because a listen queue was full.
type machineSample struct {
	Load1           float64 `json:"load1"`            // 1-minute load average
	CPUPressure10   float64 `json:"cpu_pressure_10s"` // % of time some task waited for a CPU, last 10 s
	ListenOverflows int64   `json:"listen_overflows"` // TcpExt ListenOverflows since boot
}

func sampleMachine() machineSample {
	var m machineSample
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 0 {
			m.Load1, _ = strconv.ParseFloat(f[0], 64)
		}
	}
	if b, err := os.ReadFile("/proc/pressure/cpu"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "some ") {
				for _, kv := range strings.Fields(line)[1:] {
					if v, ok := strings.CutPrefix(kv, "avg10="); ok {
						m.CPUPressure10, _ = strconv.ParseFloat(v, 64)
					}
				}
			}
		}
	}
	if b, err := os.ReadFile("/proc/net/netstat"); err == nil {
		lines := strings.Split(string(b), "\n")
		for i := 0; i+1 < len(lines); i += 2 {
			names, values := strings.Fields(lines[i]), strings.Fields(lines[i+1])
			if len(names) == 0 || names[0] != "TcpExt:" || len(values) != len(names) {
				continue
			}
			for j, n := range names {
				if n == "ListenOverflows" {
					m.ListenOverflows, _ = strconv.ParseInt(values[j], 10, 64)
				}
			}
		}
	}
	return m
}
