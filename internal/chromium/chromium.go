// Package chromium finds Debian's Chromium and knows the flags peercall
// runs it with, headless in a loopback-only network namespace with fake
// media devices: for the browser tests (internal/browsertest) and for
// peercall bench call, which must not link the testing package.
package chromium

import (
	"errors"
	"os"
	"os/exec"

	"github.com/chromedp/chromedp"
)

// ErrNoBrowser is returned (and tests are skipped with it) when no Chromium
// binary is installed.
var ErrNoBrowser = errors.New("chromium: no chromium binary found")

// Candidate Chromium binaries, most specific first. /usr/lib/chromium/chromium
// is Debian's real binary; /usr/bin/chromium is a wrapper script.
var execPaths = []string{
	"/usr/lib/chromium/chromium",
	"/usr/bin/chromium",
	"/usr/bin/chromium-browser",
	"/usr/bin/google-chrome",
}

// ExecPath returns the Chromium binary to run: $PEERCALL_CHROMIUM if set,
// else the first installed of the usual paths.
func ExecPath() (string, error) {
	if p := os.Getenv("PEERCALL_CHROMIUM"); p != "" {
		return p, nil
	}
	for _, p := range execPaths {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p, nil
	}
	return "", ErrNoBrowser
}

// Flags returns the Chromium flags (besides chromedp's defaults)
// for a browser in a loopback-only namespace with fake media devices.
func Flags(fakeUI bool) []chromedp.ExecAllocatorOption {
	f := []chromedp.ExecAllocatorOption{
		chromedp.Flag("headless", "new"),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		// Three fake cameras (640x480 test patterns) and microphones
		// (beeps), so device switching can be tested. Chromium gives fake
		// camera 0 I420 frames, camera 1 Y16 (a depth format that WebRTC
		// does not encode) and camera 2 MJPEG: switch between 0 and 2.
		chromedp.Flag("use-fake-device-for-media-stream", "device-count=3"),
		// Without this Chrome gathers no ICE candidate on loopback, and a
		// call in a loopback-only namespace silently stays "new".
		chromedp.Flag("allow-loopback-in-peer-connection", true),
		// getDisplayMedia picks the whole (fake) screen without a picker.
		chromedp.Flag("auto-select-desktop-capture-source", "Entire screen"),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-features", "Translate,MediaRouter,OptimizationHints,DialMediaRouteProvider"),
		chromedp.Flag("mute-audio", true),
	}
	if fakeUI {
		f = append(f, chromedp.Flag("use-fake-ui-for-media-stream", true))
	}
	return f
}
