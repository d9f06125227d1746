package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/peercall/peercall/internal/chromium"
)

// The browser scenario: one headless Chromium (Debian's, with the flags the
// browser tests use: fake camera and microphone, loopback candidates).
// Per iteration, two new pages in separate browser contexts, like two
// people on two computers: page A opens the room, waits for its camera
// preview and joins; page B opens the room and waits until its camera
// preview is live (so camera start-up is excluded); then B's Join button is
// clicked and the clock runs until both pages have shown a first remote
// video frame. Then both pages are closed. (Reusing two pages for every
// iteration, navigating them from call to call, wedged Chromium's fake
// camera after three or four calls: no frame for minutes, in every page.)
//
// Times are taken inside the pages (performance.timeOrigin +
// performance.now(), the same clock in every page of the browser) by a
// script added before the app's own (callInstrumentJS): the click on Join,
// ICE and PeerConnection state changes (by wrapping RTCPeerConnection), and
// the first frame of each remote <video> (requestVideoFrameCallback). So
// the Go side's polling does not affect them.
//
// The baseline is two RTCPeerConnections in one page with the same camera
// and microphone stream, offer, answer and candidates handed over in
// JavaScript (callBaselineJS), timed from before the PeerConnections are
// created until both have shown a first remote frame.

// callBrowserTimeout bounds one browser iteration, camera start-up
// included: the machines are small and shared.
const callBrowserTimeout = 60 * time.Second

// callPageTimes is what callInstrumentJS and callBaselineJS record for one
// page or side, as epoch milliseconds (instrument) or milliseconds from the
// start (baseline); 0 if it did not happen.
type callPageTimes struct {
	Click     float64 `json:"click"`
	ICE       float64 `json:"ice"`
	Connected float64 `json:"connected"`
	Frame     float64 `json:"frame"`
	Received  float64 `json:"received"`
	Loaded    float64 `json:"loaded"`
	// Events are the first times of each step (callInstrumentJS).
	Events map[string]float64 `json:"events"`
	// LongTasks are the main thread's long tasks: [start, duration].
	LongTasks [][2]float64 `json:"longtasks"`
}

func (t callPageTimes) side(start float64) callSide {
	rel := func(x float64) float64 {
		if x == 0 {
			return 0
		}
		return callRound2(x - start)
	}
	side := callSide{ICEMS: rel(t.ICE), ConnectedMS: rel(t.Connected), MediaMS: rel(t.Frame), FrameReceivedMS: rel(t.Received), LoadedDataMS: rel(t.Loaded)}
	if len(t.Events) > 0 {
		side.Events = make(map[string]float64, len(t.Events))
		for k, v := range t.Events {
			side.Events[k] = rel(v)
		}
	}
	// The part of long tasks between the start and the first frame shown.
	if t.Frame > 0 {
		for _, lt := range t.LongTasks {
			from, to := max(lt[0], start), min(lt[0]+lt[1], t.Frame)
			if to > from {
				side.LongTaskMS = callRound2(side.LongTaskMS + to - from)
			}
		}
	}
	return side
}

// callBrowserRun is one browser.
type callBrowserRun struct {
	srv     *callServer
	scale   CallScale
	browser context.Context // the browser's first tab
	baseURL string
}

// newPage opens a tab in a new browser context (its own cookies, storage
// and renderer: another person), with a 1280x720 viewport and, with
// instrument, callInstrumentJS. close closes it, which ends whatever call
// it is in and releases its camera.
func (cb *callBrowserRun) newPage(instrument bool) (p context.Context, closePage func(), err error) {
	pctx, cancel := chromedp.NewContext(cb.browser, chromedp.WithNewBrowserContext())
	closePage = func() {
		cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer ccancel()
		done := make(chan struct{})
		go func() { _ = chromedp.Cancel(pctx); close(done) }()
		select {
		case <-done:
		case <-cctx.Done():
		}
		cancel()
	}
	if err := chromedp.Do(pctx); err != nil { // opens the tab
		closePage()
		return nil, nil, err
	}
	tctx, tcancel := context.WithTimeout(pctx, 30*time.Second)
	defer tcancel()
	if err := chromedp.Do(tctx, chromedp.EmulateViewport(1280, 720)); err != nil {
		closePage()
		return nil, nil, err
	}
	if instrument {
		if _, err := chromedp.Call(tctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: callInstrumentJS}); err != nil {
			closePage()
			return nil, nil, err
		}
	}
	return pctx, closePage, nil
}

// runCallBrowser runs the browser scenario once (warm-up and timed
// iterations, alternating peercall and the baseline), appending samples to
// raw. It returns the browser's version, and a note if the scenario was
// skipped because no Chromium is installed.
func runCallBrowser(ctx context.Context, srv *callServer, scale CallScale, rep int, raw *callRaw, logf func(string, ...any)) (version, note string, err error) {
	execPath, err := chromium.ExecPath()
	if err != nil {
		return "", "browser scenario skipped: no Chromium found (apt-get install chromium, or set PEERCALL_CHROMIUM)", nil
	}
	dir, err := os.MkdirTemp("", "peercall-bench-chromium-")
	if err != nil {
		return "", "", err
	}
	defer os.RemoveAll(dir)
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(execPath), chromedp.UserDataDir(dir))
	opts = append(opts, chromium.Flags(true)...)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()
	// The first action on a chromedp context starts the browser (or opens
	// the tab) for that context's lifetime, so it gets no timeout of its own.
	if err := chromedp.Do(bctx); err != nil {
		return "", "", fmt.Errorf("start %s: %w", execPath, err)
	}
	if v, err := chromedp.CallBrowser(bctx, browser.GetVersion, cdp.Empty{}); err == nil {
		version = v.Product
	}
	cb := &callBrowserRun{srv: srv, scale: scale, browser: bctx, baseURL: srv.url}
	run := func(system string, iter int, warm bool) error {
		var s callSample
		var err error
		if system == callPeercall {
			s, err = cb.appIteration(fmt.Sprintf("call-%d-browser-%d-%t", rep, iter, warm))
		} else {
			s, err = cb.baselineIteration()
		}
		s.Rep, s.Scenario, s.System, s.Iter, s.Warmup = rep, callBrowser, system, iter, warm
		if err != nil {
			s.Error = err.Error()
			logf("rep %d, %s, %s, iteration %d: %v", rep+1, callBrowser, system, iter, err)
		}
		raw.Samples = append(raw.Samples, s)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if bctx.Err() != nil {
			return errors.New("the browser exited")
		}
		return nil
	}
	for i := 0; i < scale.Warmup; i++ {
		if err := run(callPeercall, i, true); err != nil {
			return version, "", err
		}
		if err := run(callBaseline, i, true); err != nil {
			return version, "", err
		}
	}
	for i := 0; i < scale.BrowserIterations; i++ {
		order := []string{callPeercall, callBaseline}
		if i%2 == 1 {
			order = []string{callBaseline, callPeercall}
		}
		for _, sys := range order {
			if err := run(sys, i, false); err != nil {
				return version, "", err
			}
		}
	}
	return version, "", nil
}

// appIteration times one call between two new app pages, and closes them.
func (cb *callBrowserRun) appIteration(room string) (callSample, error) {
	var s callSample
	a, closeA, err := cb.newPage(true)
	if err != nil {
		return s, fmt.Errorf("open page A: %w", err)
	}
	defer closeA()
	b, closeB, err := cb.newPage(true)
	if err != nil {
		return s, fmt.Errorf("open page B: %w", err)
	}
	defer closeB()
	url := cb.baseURL + "/r/" + room
	// A is in the call first.
	if err := cb.openPrejoin(a, url, "alice"); err != nil {
		return s, fmt.Errorf("page A: %w", err)
	}
	if err := callClick(a, "#pre-join"); err != nil {
		return s, fmt.Errorf("page A: %w", err)
	}
	if err := callPoll(a, callBrowserTimeout, `document.body.dataset.view === 'call' && window.peercall.room && window.peercall.room.status === 'joined'`); err != nil {
		return s, fmt.Errorf("page A joining: %w", err)
	}
	if err := cb.openPrejoin(b, url, "bob"); err != nil {
		return s, fmt.Errorf("page B: %w", err)
	}
	if err := callClick(b, "#pre-join"); err != nil {
		return s, fmt.Errorf("page B: %w", err)
	}
	waitErr := errors.Join(
		callPoll(b, cb.scale.Timeout, `window.__callbench.frame > 0`),
		callPoll(a, cb.scale.Timeout, `window.__callbench.frame > 0`),
	)
	var ta, tb callPageTimes
	if err := callEval(a, 10*time.Second, `window.__callbench`, &ta); err != nil {
		return s, fmt.Errorf("page A: %w", err)
	}
	if err := callEval(b, 10*time.Second, `window.__callbench`, &tb); err != nil {
		return s, fmt.Errorf("page B: %w", err)
	}
	if tb.Click == 0 {
		return s, errors.New("page B: the click on Join was not seen")
	}
	s.Sides[0], s.Sides[1] = ta.side(tb.Click), tb.side(tb.Click)
	s.Steps = map[string]float64{
		stepJoined:        s.Sides[1].Events["recv_joined"],
		stepOfferSent:     s.Sides[1].Events["sent_offer"],
		stepOfferApplied:  s.Sides[0].Events["recv_offer"],
		stepAnswerApplied: s.Sides[1].Events["recv_answer"],
	}
	s.finish()
	if waitErr != nil {
		return s, fmt.Errorf("no first remote frame: %w", waitErr)
	}
	return s, nil
}

// openPrejoin loads the room page and waits until the Join button is
// enabled and the camera preview is playing.
func (cb *callBrowserRun) openPrejoin(p context.Context, url, name string) error {
	if err := callNavigate(p, url); err != nil {
		return err
	}
	if err := callPoll(p, callBrowserTimeout, `(() => {
		const v = document.getElementById('pre-video');
		return document.body.dataset.view === 'prejoin' && !document.getElementById('pre-join').disabled &&
			v && v.readyState >= 2 && v.videoWidth > 0 && !v.paused;
	})()`); err != nil {
		return fmt.Errorf("waiting for the camera preview: %w", err)
	}
	return callEval(p, 10*time.Second, fmt.Sprintf(`(() => { const el = document.getElementById('pre-name');
		el.value = %q; el.dispatchEvent(new Event('input', {bubbles: true})); return true })()`, name), nil)
}

// baselineIteration times one call between two RTCPeerConnections in a
// new page, and closes it.
func (cb *callBrowserRun) baselineIteration() (callSample, error) {
	var s callSample
	p, closePage, err := cb.newPage(false)
	if err != nil {
		return s, fmt.Errorf("open page: %w", err)
	}
	defer closePage()
	// A page of the server: a secure context, so that getUserMedia works.
	if err := callNavigate(p, cb.baseURL+"/"); err != nil {
		return s, err
	}
	if err := callEval(p, 10*time.Second, callBaselineJS, nil); err != nil {
		return s, err
	}
	var res struct {
		Sides         []callPageTimes `json:"sides"`
		OfferApplied  float64         `json:"offer_applied"`
		AnswerApplied float64         `json:"answer_applied"`
		Error         string          `json:"error"`
	}
	expr := fmt.Sprintf(`window.__callbenchBaseline(%d)`, cb.scale.Timeout.Milliseconds())
	if err := callEval(p, callBrowserTimeout, expr, &res); err != nil {
		return s, err
	}
	if len(res.Sides) != 2 {
		return s, fmt.Errorf("baseline returned %d sides", len(res.Sides))
	}
	s.Sides[0], s.Sides[1] = res.Sides[0].side(0), res.Sides[1].side(0)
	s.Steps = map[string]float64{stepOfferApplied: callRound2(res.OfferApplied), stepAnswerApplied: callRound2(res.AnswerApplied)}
	s.finish()
	if res.Error != "" {
		return s, errors.New(res.Error)
	}
	return s, nil
}

func callNavigate(p context.Context, url string) error {
	ctx, cancel := context.WithTimeout(p, 30*time.Second)
	defer cancel()
	return chromedp.Do(ctx, chromedp.Navigate(url))
}

func callClick(p context.Context, css string) error {
	ctx, cancel := context.WithTimeout(p, 30*time.Second)
	defer cancel()
	return chromedp.Do(ctx, chromedp.Click(chromedp.CSS(css), chromedp.NodeVisible))
}

// callEval evaluates a JavaScript expression, awaiting it if it is a
// promise, and decodes its value into out (which may be nil).
func callEval(p context.Context, timeout time.Duration, expr string, out any) error {
	ctx, cancel := context.WithTimeout(p, timeout)
	defer cancel()
	wrapped := fmt.Sprintf(`(async () => { const v = await (%s); return JSON.stringify(v === undefined ? null : v); })()`, expr)
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](wrapped, chromedp.EvalAwaitPromise))
	if err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal([]byte(s), out)
}

// callPoll evaluates expr every 50 ms until it is truthy or timeout passes. A
// thrown error counts as false.
func callPoll(p context.Context, timeout time.Duration, expr string) error {
	deadline := time.Now().Add(timeout)
	var last error
	for {
		var ok bool
		err := callEval(p, 10*time.Second, fmt.Sprintf(`(async () => { try { return !!(await (%s)); } catch (e) { return false; } })()`, expr), &ok)
		if err == nil && ok {
			return nil
		}
		if err != nil {
			last = err
			if p.Err() != nil {
				return err
			}
		}
		if time.Now().After(deadline) {
			if last != nil {
				return fmt.Errorf("after %v: %w", timeout, last)
			}
			return fmt.Errorf("still false after %v", timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
