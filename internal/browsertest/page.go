package browsertest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// DefaultTimeout is how long Wait and the actions wait by default: generous,
// because the test machines are small and shared.
const DefaultTimeout = 30 * time.Second

// Page is one tab in its own browser context: a separate "person". Its
// methods fail the test on error, so they must be called from the test's
// goroutine.
type Page struct {
	t testing.TB
	// Name labels the page in failure messages.
	Name string
	// Ctx is the chromedp context of the tab.
	Ctx context.Context
	// BrowserContextID is the tab's isolated browser context.
	BrowserContextID cdp.BrowserContextID

	mu         sync.Mutex
	console    []chromedp.ConsoleMessage // guarded by mu
	exceptions []string                  // guarded by mu
}

type pageOptions struct {
	name          string
	media         string // "granted", "denied" or "" (leave to the browser)
	width, height int64
	mobile        bool
	allowErrors   bool
}

// PageOption configures NewPage.
type PageOption func(*pageOptions)

// Named labels the page in failure messages ("alice", "bob").
func Named(name string) PageOption { return func(o *pageOptions) { o.name = name } }

// BlockedMedia denies camera and microphone to the page, as if the user had
// clicked "Block": getUserMedia rejects with NotAllowedError. It needs a
// browser started without WithFakeMediaUI.
func BlockedMedia() PageOption { return func(o *pageOptions) { o.media = "denied" } }

// Viewport sets the page's viewport in CSS pixels; default 1280x720.
func Viewport(w, h int64) PageOption { return func(o *pageOptions) { o.width, o.height = w, h } }

// Phone emulates a phone: a 390x844 touch viewport.
func Phone() PageOption {
	return func(o *pageOptions) { o.width, o.height, o.mobile = 390, 844, true }
}

// AllowExceptions keeps uncaught page exceptions from failing the test.
func AllowExceptions() PageOption { return func(o *pageOptions) { o.allowErrors = true } }

// NewPage opens a tab in a new, isolated browser context with a 1280x720
// viewport and camera and microphone granted (unless BlockedMedia). The tab
// closes when the test ends; an uncaught exception in it fails the test.
func (b *Browser) NewPage(t testing.TB, opts ...PageOption) *Page {
	t.Helper()
	o := pageOptions{width: 1280, height: 720, media: "granted"}
	for _, f := range opts {
		f(&o)
	}
	if o.name == "" {
		o.name = nextPageName()
	}
	if o.media == "denied" && b.opts.fakeUI {
		t.Fatalf("browsertest: BlockedMedia needs a browser started without WithFakeMediaUI")
	}
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	p := &Page{t: t, Name: o.name, Ctx: ctx}
	if err := chromedp.Do(ctx); err != nil { // opens the tab
		cancel()
		t.Fatalf("browsertest: open page %s: %v", o.name, err)
	}
	p.BrowserContextID = chromedp.FromContext(ctx).BrowserContextID
	messages := chromedp.Console(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			p.mu.Lock()
			p.console = append(p.console, m)
			if m.IsException() {
				p.exceptions = append(p.exceptions, m.String())
			}
			p.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		if o.allowErrors {
			return
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, e := range p.exceptions {
			t.Errorf("browsertest: uncaught exception in page %s: %s", p.Name, e)
		}
	})
	if o.media != "" && !b.opts.fakeUI {
		p.setMediaPermission(browser.PermissionSetting(o.media))
	}
	var emu []chromedp.EmulateViewportOption
	if o.mobile {
		emu = append(emu, chromedp.EmulateMobile, chromedp.EmulateTouch)
	}
	p.Do(chromedp.EmulateViewport(o.width, o.height, emu...))
	return p
}

// setMediaPermission sets camera, microphone and screen capture for every
// origin in the page's browser context.
func (p *Page) setMediaPermission(s browser.PermissionSetting) {
	p.t.Helper()
	for _, name := range []string{"camera", "microphone"} {
		_, err := chromedp.CallBrowser(p.Ctx, browser.SetPermission, browser.SetPermissionParams{
			Permission:       &browser.PermissionDescriptor{Name: name},
			Setting:          s,
			BrowserContextID: p.BrowserContextID,
		})
		if err != nil {
			p.t.Fatalf("browsertest: %s: set %s permission to %s: %v", p.Name, name, s, err)
		}
	}
}

// Do runs actions with DefaultTimeout and fails the test on error.
func (p *Page) Do(actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.Ctx, DefaultTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		p.t.Fatalf("browsertest: %s: %v\n%s", p.Name, err, p.ConsoleTail(20))
	}
}

// Navigate loads url and waits for the load event.
func (p *Page) Navigate(url string) {
	p.t.Helper()
	p.Do(chromedp.Navigate(url))
}

// Click clicks the first element matching the CSS selector, once visible.
func (p *Page) Click(css string) {
	p.t.Helper()
	p.Do(chromedp.Click(chromedp.CSS(css), chromedp.NodeVisible))
}

// SetValue replaces the value of an input matching the CSS selector and
// fires an input event, as typing would.
func (p *Page) SetValue(css, value string) {
	p.t.Helper()
	p.Eval(fmt.Sprintf(`(() => { const el = document.querySelector(%q);
		el.value = %q; el.dispatchEvent(new Event('input', {bubbles: true})); return true })()`, css, value), nil)
}

// Type sends key strokes to the element matching the CSS selector.
func (p *Page) Type(css, text string) {
	p.t.Helper()
	p.Do(chromedp.SendKeys(chromedp.CSS(css), text, chromedp.NodeVisible))
}

// Eval evaluates a JavaScript expression, awaiting it if it is a promise,
// and decodes its JSON value into out (which may be nil).
func (p *Page) Eval(expr string, out any) {
	p.t.Helper()
	raw, err := p.eval(p.Ctx, expr)
	if err != nil {
		p.t.Fatalf("browsertest: %s: eval %s: %v\n%s", p.Name, short(expr), err, p.ConsoleTail(20))
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			p.t.Fatalf("browsertest: %s: decode result of %s (%s): %v", p.Name, short(expr), raw, err)
		}
	}
}

func (p *Page) eval(ctx context.Context, expr string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, DefaultTimeout)
	defer cancel()
	// Wrapping in an async function lets expr be an expression using await;
	// JSON.stringify makes undefined and cyclic values explicit errors.
	wrapped := fmt.Sprintf(`(async () => { const v = await (%s); return JSON.stringify(v === undefined ? null : v); })()`, expr)
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](wrapped, chromedp.EvalAwaitPromise))
	return []byte(s), err
}

// Wait polls a JavaScript expression (which may await) every 100 ms until
// it is truthy, and fails the test with what after timeout (0 means
// DefaultTimeout). A thrown error counts as false; the last one is reported.
func (p *Page) Wait(timeout time.Duration, what, expr string) {
	p.t.Helper()
	if err := p.Poll(timeout, expr); err != nil {
		p.t.Fatalf("browsertest: %s: waiting for %s: %v\n%s", p.Name, what, err, p.ConsoleTail(30))
	}
}

// Poll is Wait returning the error instead of failing the test, so it may be
// used from other goroutines.
func (p *Page) Poll(timeout time.Duration, expr string) error {
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	deadline := time.Now().Add(timeout)
	var last string
	for {
		ctx, cancel := context.WithTimeout(p.Ctx, 10*time.Second)
		raw, err := p.eval(ctx, fmt.Sprintf(`(async () => { try { return { ok: !!(await (%s)) }; } catch (e) { return { ok: false, err: String(e && e.stack || e) }; } })()`, expr))
		cancel()
		var res struct {
			OK  bool   `json:"ok"`
			Err string `json:"err"`
		}
		if err == nil {
			err = json.Unmarshal(raw, &res)
		}
		switch {
		case err != nil:
			last = err.Error()
			if p.Ctx.Err() != nil {
				return fmt.Errorf("page closed: %v", err)
			}
		case res.OK:
			return nil
		case res.Err != "":
			last = res.Err
		default:
			last = "still false"
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %v: %s (expression: %s)", timeout, last, short(expr))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ColorScheme emulates prefers-color-scheme: "light", "dark", or "" for
// the browser's default.
func (p *Page) ColorScheme(scheme string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.Ctx, DefaultTimeout)
	defer cancel()
	_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
	})
	if err != nil {
		p.t.Fatalf("browsertest: %s: emulate color scheme %q: %v", p.Name, scheme, err)
	}
}

// Screenshot saves a PNG of the viewport to path, creating its directory.
func (p *Page) Screenshot(path string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.Ctx, DefaultTimeout)
	defer cancel()
	buf, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		p.t.Fatalf("browsertest: %s: screenshot: %v", p.Name, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		p.t.Fatal(err)
	}
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		p.t.Fatal(err)
	}
}

// Console returns the console messages, exceptions and browser log entries
// so far.
func (p *Page) Console() []chromedp.ConsoleMessage {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]chromedp.ConsoleMessage(nil), p.console...)
}

// ConsoleErrors returns the text of console errors, exceptions and browser
// log errors (such as failed loads) so far, each with its URL if known.
func (p *Page) ConsoleErrors() []string {
	var out []string
	for _, m := range p.Console() {
		if m.IsException() || m.Type == chromedp.ConsoleError {
			s := m.String()
			if m.URL != "" && !strings.Contains(s, m.URL) {
				s += " (" + m.URL + ")"
			}
			out = append(out, s)
		}
	}
	return out
}

// ConsoleTail formats the last n console messages for a failure message.
func (p *Page) ConsoleTail(n int) string {
	msgs := p.Console()
	if len(msgs) > n {
		msgs = msgs[len(msgs)-n:]
	}
	if len(msgs) == 0 {
		return fmt.Sprintf("(page %s: no console output)", p.Name)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "last console messages of page %s:\n", p.Name)
	for _, m := range msgs {
		fmt.Fprintf(&b, "  [%s] %s\n", m.Type, m.String())
	}
	return b.String()
}

func short(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}
