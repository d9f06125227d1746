package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
)

// The call suite creates WebRTC, TURN and browser traffic, which must stay on
// loopback: pion and Chromium gather candidates on every interface and send
// mDNS otherwise. So it runs in a network namespace with only the loopback
// interface, as the tests do (internal/testutil.MainInLoopbackNamespace):
// unless this process is in such a namespace already, the suite re-executes
// itself with CLONE_NEWNET (which needs root) and reads back the raw results
// from a file. Everything the suite starts (the peercall server, Chromium)
// is a child of the re-executed process and shares its namespace.

// runCallInNamespace re-executes this program's "bench call" in a new,
// loopback-only network namespace and returns what it measured. Its
// progress log goes to o.Stderr.
func runCallInNamespace(ctx context.Context, o Options, spec callSpec) (*callRaw, error) {
	self := o.Self
	if len(self) == 0 {
		exe, err := os.Executable()
		if err != nil {
			return nil, err
		}
		self = []string{exe, "bench"}
	}
	dir, err := os.MkdirTemp("", "peercall-bench-call-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	spec.RawPath = filepath.Join(dir, "call.json")
	b, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	argv := append(append([]string(nil), self...), "call")
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(append(os.Environ(), o.SelfEnv...), envCallChild+"="+string(b))
	cmd.Stdout = o.Stderr // the child prints nothing of use; keep any output visible
	cmd.Stderr = o.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWNET,
		Pdeathsig:  syscall.SIGKILL,
	}
	// On cancellation, ask the child to stop its server and browser first.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if _, ok := err.(*exec.ExitError); ok {
			return nil, fmt.Errorf("the suite in its loopback-only network namespace failed: %w", err)
		}
		return nil, fmt.Errorf("run the suite in a loopback-only network namespace (CLONE_NEWNET needs root): %w", err)
	}
	data, err := os.ReadFile(spec.RawPath)
	if err != nil {
		return nil, fmt.Errorf("results of the suite: %w", err)
	}
	var raw callRaw
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("results of the suite: %w", err)
	}
	return &raw, nil
}
