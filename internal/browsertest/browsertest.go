// Package browsertest drives headless Chromium from Go tests with chromedp:
// one browser process shared by many isolated pages (one browser context
// each, like separate people on separate computers), fake camera and
// microphone, per-page camera and microphone permissions, polling helpers
// with generous deadlines, console capture and screenshots.
//
// Tests that use it create WebRTC traffic, so they must run in a
// loopback-only network namespace (testutil.MainInLoopbackNamespace).
//
// A typical test starts one browser and opens one page per person:
//
//	b := browsertest.Start(t, browsertest.WithFakeMediaUI())
//	alice := b.NewPage(t, browsertest.Named("alice"))
//	alice.Navigate(srv.URL + "/r/" + room)
//	alice.Click("#pre-join")
//	alice.Wait(0, "the call view", `document.body.dataset.view === 'call'`)
//
// Pages on different machines (a browser per node in a multi-node test)
// are just pages of different Browsers; a Browser does not care which
// server its pages talk to.
package browsertest

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/peercall/peercall/internal/chromium"
)

// ErrNoBrowser is returned (and tests are skipped with it) when no Chromium
// binary is installed.
var ErrNoBrowser = chromium.ErrNoBrowser

// ExecPath returns the Chromium binary to run (chromium.ExecPath).
func ExecPath() (string, error) { return chromium.ExecPath() }

// Browser is one headless Chromium process. Pages made with NewPage share it
// and are isolated from each other (separate cookies, storage and
// permissions). Safe for use by several goroutines.
type Browser struct {
	ctx    context.Context // the first tab; parent of every page context
	cancel context.CancelFunc
	opts   options
}

type options struct {
	fakeUI    bool
	execPath  string
	flags     []chromedp.ExecAllocatorOption
	logOutput bool
}

// Option configures Start.
type Option func(*options)

// WithFakeMediaUI passes --use-fake-ui-for-media-stream, which accepts
// every camera, microphone and screen capture prompt. It overrides CDP
// permission settings, so a browser started with it cannot have pages with
// BlockedMedia. Without it (the default) pages get camera and microphone
// through CDP grants, and BlockedMedia works in the same browser.
func WithFakeMediaUI() Option { return func(o *options) { o.fakeUI = true } }

// WithFlag adds a command-line flag (without the leading dashes).
func WithFlag(name string, value any) Option {
	return func(o *options) { o.flags = append(o.flags, chromedp.Flag(name, value)) }
}

// WithExecPath runs a specific browser binary.
func WithExecPath(path string) Option { return func(o *options) { o.execPath = path } }

// Flags returns the Chromium flags Start uses (chromium.Flags).
func Flags(fakeUI bool) []chromedp.ExecAllocatorOption { return chromium.Flags(fakeUI) }

// Start starts a headless Chromium with a fresh profile in t.TempDir and
// closes it when the test ends. It skips the test if no Chromium is
// installed.
func Start(t testing.TB, opts ...Option) *Browser {
	t.Helper()
	var o options
	for _, f := range opts {
		f(&o)
	}
	if o.execPath == "" {
		p, err := ExecPath()
		if err != nil {
			t.Skip(err)
		}
		o.execPath = p
	}
	all := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(o.execPath),
		chromedp.UserDataDir(t.TempDir()),
	)
	all = append(all, Flags(o.fakeUI)...)
	all = append(all, o.flags...)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), all...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	b := &Browser{ctx: ctx, opts: o, cancel: func() { cancelCtx(); cancelAlloc() }}
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		b.cancel()
		t.Fatalf("browsertest: start %s: %v", o.execPath, err)
	}
	t.Cleanup(b.Close)
	return b
}

// Close ends the browser process. Start registers it with t.Cleanup.
func (b *Browser) Close() {
	b.cancel()
}

// FakeMediaUI reports whether the browser accepts media prompts by flag.
func (b *Browser) FakeMediaUI() bool { return b.opts.fakeUI }

// Context returns the browser's first-tab chromedp context, for calling
// chromedp directly (for example chromedp.CallBrowser).
func (b *Browser) Context() context.Context { return b.ctx }

var pageSeq struct {
	sync.Mutex
	n int
}

func nextPageName() string {
	pageSeq.Lock()
	defer pageSeq.Unlock()
	pageSeq.n++
	return fmt.Sprintf("page%d", pageSeq.n)
}
