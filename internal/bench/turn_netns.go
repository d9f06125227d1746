package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// turnRunInNetns runs argv in a new network namespace, which has only
// a loopback interface (the child brings it up), with stdin in and its
// stdout into out. It needs CAP_SYS_ADMIN (root). On ctx's end the child
// gets SIGTERM, and it is killed if this process dies.
func turnRunInNetns(ctx context.Context, argv, env []string, in []byte, out, stderr io.Writer) error {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = bytes.NewReader(in)
	cmd.Stdout, cmd.Stderr = out, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 15 * time.Second
	err := cmd.Run()
	if errors.Is(err, syscall.EPERM) {
		return fmt.Errorf("a loopback-only network namespace needs root (CAP_SYS_ADMIN); run as root or under `unshare -rn`: %w", err)
	}
	if err != nil {
		return fmt.Errorf("suite in a loopback-only network namespace: %w", err)
	}
	return nil
}

// turnListenUDP binds 127.0.0.1:port over UDP.
func turnListenUDP(port int) (*net.UDPConn, error) {
	return net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
}

// turnEnsureCoturn returns the path of coturn's turnserver, installing the
// Debian package coturn with apt-get if it is missing.
func turnEnsureCoturn(ctx context.Context, logf func(string, ...any)) (string, error) {
	if p, err := exec.LookPath("turnserver"); err == nil {
		if v := coturnInstalledVersion(p); v != coturnVersion {
			logf("coturn %s is installed; the comparison is meant against %s", v, coturnVersion)
		}
		return p, nil
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		return "", errors.New("coturn's turnserver is not installed and there is no apt-get to install it (Debian: apt-get install coturn)")
	}
	logf("installing coturn with apt-get")
	apt := func(args ...string) error {
		cmd := exec.CommandContext(ctx, "apt-get", append([]string{"-o", "DPkg::Lock::Timeout=300"}, args...)...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("apt-get %s: %w\n%s", strings.Join(args, " "), err, turnTail(out, 2000))
		}
		return nil
	}
	if err := apt("install", "-y", "--no-install-recommends", "coturn"); err != nil {
		logf("%v; updating the package lists and trying again", err)
		if err := apt("update"); err != nil {
			return "", err
		}
		if err := apt("install", "-y", "--no-install-recommends", "coturn"); err != nil {
			return "", err
		}
	}
	p, err := exec.LookPath("turnserver")
	if err != nil {
		return "", fmt.Errorf("apt-get installed coturn but turnserver is not on PATH: %w", err)
	}
	return p, nil
}

// coturnInstalledVersion is what turnserver --version prints, e.g. 4.6.1.
func coturnInstalledVersion(path string) string {
	out, _ := exec.Command(path, "--version").CombinedOutput()
	for _, line := range strings.Split(string(out), "\n") {
		if line = strings.TrimSpace(line); line != "" && line[0] >= '0' && line[0] <= '9' {
			return line
		}
	}
	return "?"
}

// coturnArgv starts coturn relaying on loopback with the shared secret.
// Its relay threads are left at coturn's default, one per CPU, the same
// number of sockets the embedded server uses; TLS, DTLS, the CLI and the
// web admin are off, and it logs to a file in dir.
func coturnArgv(path string, port int, secret, dir string) []string {
	return []string{path, "-n", "--no-cli", "--no-tls", "--no-dtls",
		"--listening-ip", "127.0.0.1", "--relay-ip", "127.0.0.1", "--listening-port", fmt.Sprint(port),
		"--use-auth-secret", "--static-auth-secret", secret, "--realm", turnRealm,
		"--allow-loopback-peers", "--no-tcp-relay", "--no-multicast-peers",
		"--pidfile", dir + "/turnserver.pid", "--userdb", dir + "/turndb",
		"--log-file", dir + "/turnserver.log", "--simple-log", "--no-stdout-log"}
}

func turnTail(b []byte, n int) string {
	s := strings.TrimSpace(string(b))
	if len(s) > n {
		s = "…" + s[len(s)-n:]
	}
	return s
}
