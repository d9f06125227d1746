// Package testutil holds helpers shared by peercall's tests: a loopback-only
// network namespace for tests that create WebRTC, STUN/TURN or browser
// traffic, and polling helpers that wait for events instead of sleeping.
package testutil

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"

	"github.com/peercall/peercall/internal/netns"
)

// envInNetns marks the re-executed test binary running inside the namespace.
const envInNetns = "PEERCALL_TEST_NETNS"

// InLoopbackNamespace reports whether this process runs in the loopback-only
// namespace set up by MainInLoopbackNamespace.
func InLoopbackNamespace() bool { return os.Getenv(envInNetns) == "1" }

// MainInLoopbackNamespace is a TestMain body for packages whose tests create
// network traffic. It re-executes the test binary in a new network namespace
// that has only the loopback interface, brings lo up, and runs the tests
// there, so no packet can leave the machine and no test sees eth0. It keeps
// `go test ./...` a plain command.
//
// It needs CAP_SYS_ADMIN (root). It fails the run rather than silently
// running the tests in the host's network.
func MainInLoopbackNamespace(m *testing.M) {
	if InLoopbackNamespace() {
		if err := LinkUp("lo"); err != nil {
			fmt.Fprintf(os.Stderr, "testutil: bring lo up in test namespace: %v\n", err)
			os.Exit(2)
		}
		os.Exit(m.Run())
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(os.Stderr, "testutil: find test binary: %v\n", err)
		os.Exit(2)
	}
	cmd := exec.Command(exe, os.Args[1:]...)
	cmd.Env = append(os.Environ(), envInNetns+"=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWNET,
		Pdeathsig:  syscall.SIGKILL,
	}
	if err := cmd.Run(); err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			os.Exit(ee.ExitCode())
		}
		fmt.Fprintf(os.Stderr, "testutil: run tests in a loopback-only network namespace (needs root): %v\n", err)
		os.Exit(2)
	}
	os.Exit(0)
}

// LinkUp sets the interface name administratively up (netns.LinkUp).
func LinkUp(name string) error { return netns.LinkUp(name) }
