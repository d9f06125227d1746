package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/peercall/peercall/internal/netns"
)

// The call suite: call-setup time (issue 6). Two participants join a fresh
// room on a real peercall server, and the suite times, per iteration, from
// the second one's Join until ICE is connected and until both have received
// the other's media. Three scenarios:
//
//   - go-direct: two Go SDK participants (client.Join) on loopback;
//   - go-relay: the same, relay-only through the embedded TURN server;
//   - browser: two headless Chromium pages of the web app, from the click on
//     Join until both have shown a first remote video frame.
//
// Every figure has a floor from the same run, alternated iteration by
// iteration with peercall's: two bare pion PeerConnections in one process
// exchanging offer, answer and candidates in memory (direct, and relay-only
// through the same TURN server), and two RTCPeerConnections in one page.
//
// All of it runs in a network namespace that has only the loopback
// interface: the suite re-executes itself there (call_netns.go).

// CallScale sizes the call suite.
type CallScale struct {
	// GoIterations is the number of timed iterations of each Go scenario,
	// for peercall and for the baseline each.
	GoIterations int `json:"go_iterations"`
	// BrowserIterations is the same for the browser scenario; 0 skips it.
	BrowserIterations int `json:"browser_iterations"`
	// Warmup is the number of untimed iterations of each scenario and
	// system before the timed ones (first-use costs: code paths, TLS and
	// codec set-up, JIT in the browser).
	Warmup int `json:"warmup"`
	// MediaInterval is how often the Go participants' synthetic sources
	// write an audio and a video sample. The first media can only arrive
	// after the next write following the connection, so this adds up to
	// one interval (half on average) to first media, for peercall and the
	// baseline alike.
	MediaInterval time.Duration `json:"media_interval_ns"`
	// Timeout bounds one iteration.
	Timeout time.Duration `json:"timeout_ns"`
}

var (
	callFull  = CallScale{GoIterations: 50, BrowserIterations: 10, Warmup: 1, MediaInterval: 5 * time.Millisecond, Timeout: 20 * time.Second}
	callQuick = CallScale{GoIterations: 10, BrowserIterations: 3, Warmup: 1, MediaInterval: 5 * time.Millisecond, Timeout: 20 * time.Second}
)

// Scenarios and systems of the call suite.
const (
	callGoDirect = "go-direct"
	callGoRelay  = "go-relay"
	callBrowser  = "browser"

	callPeercall = "peercall"
	callBaseline = "baseline"
	// callBaselineICE is the direct baseline given the STUN and TURN
	// servers peercall hands out, as the SDK gets them: it gathers server
	// reflexive and relay candidates besides the host ones that connect.
	// It separates what that costs from what signaling costs.
	callBaselineICE = "baseline-stun-turn"
)

// callScenario describes one scenario for the report.
type callScenario struct {
	id       string
	label    string // what peercall runs
	baseline string // what the baseline runs
	goalMS   float64
	media    string // what "first media" means here
}

var callScenarios = []callScenario{
	{callGoDirect, "Go SDK pair, direct", "two pion PeerConnections in one process, no STUN/TURN", 50, "first RTP packet received"},
	{callGoRelay, "Go SDK pair, relay-only via the embedded TURN", "two pion PeerConnections in one process, relay-only via the same TURN server", 100, "first RTP packet received"},
	{callBrowser, "two Chromium pages of the web app", "two RTCPeerConnections in one page", 500, "first remote video frame shown"},
}

// Steps of a call (callSample.Steps), for seeing where the time goes.
const (
	// stepJoined: the second participant is in the room (Go: Join
	// returned; browser: the joined frame arrived).
	stepJoined = "joined"
	// stepOfferSent: the offer left the offerer (browser).
	stepOfferSent = "offer_sent"
	// stepOfferApplied: the offer reached the answerer (Go: applied with
	// SetRemoteDescription; browser: its frame arrived).
	stepOfferApplied = "offer_at_answerer"
	// stepAnswerApplied: the answer reached the offerer (Go and the
	// baselines: applied; browser: its frame arrived).
	stepAnswerApplied = "answer_at_offerer"
)

// callSample is one timed (or warm-up) iteration: all times are in
// milliseconds from the start (the second participant's Join, or the click
// on Join; for the baselines, before the PeerConnections are created) and
// take the later of the two sides, since a call is set up when both see
// each other.
type callSample struct {
	Rep      int    `json:"rep"`
	Scenario string `json:"scenario"`
	System   string `json:"system"`
	Iter     int    `json:"iter"`
	Warmup   bool   `json:"warmup,omitempty"`
	// JoinMS: peercall's Go scenarios only, until the second participant's
	// Join returned (WebSocket, join, joined).
	JoinMS float64 `json:"join_ms,omitempty"`
	// Steps are the times of intermediate steps, by name (callSteps), for
	// seeing where the time goes; 0 or missing if not seen.
	Steps map[string]float64 `json:"steps,omitempty"`
	// ICEMS: ICE connected (Go: a candidate pair selected; browser: the
	// iceconnectionstatechange event to connected or completed ran, which
	// a busy main thread can delay past the first frame).
	ICEMS float64 `json:"ice_connected_ms"`
	// ConnectedMS: the PeerConnection connected, ICE and DTLS (Go: the
	// DTLS handshake done; browser: connectionState connected).
	ConnectedMS float64 `json:"connected_ms"`
	// MediaMS: first media (Go: first RTP packet; browser: first remote
	// video frame shown, requestVideoFrameCallback).
	MediaMS float64 `json:"first_media_ms"`
	// Sides are the same times per side: [0] the participant that was
	// there first (the answerer), [1] the one that joined (the offerer).
	Sides [2]callSide `json:"sides"`
	// Candidate is the type of the selected pair (Go scenarios).
	Candidate string `json:"candidate_type,omitempty"`
	Error     string `json:"error,omitempty"`
}

// callSide is one side's times, in ms from the sample's start; 0 if the
// event did not happen.
type callSide struct {
	ICEMS       float64 `json:"ice_connected_ms"`
	ConnectedMS float64 `json:"connected_ms"`
	MediaMS     float64 `json:"first_media_ms"`
	// Browser only: when the first remote frame's packets were received
	// (requestVideoFrameCallback receiveTime) and when the remote video
	// element had its first frame (loadeddata).
	FrameReceivedMS float64 `json:"frame_received_ms,omitempty"`
	LoadedDataMS    float64 `json:"loadeddata_ms,omitempty"`
	// LongTaskMS (browser, peercall): how long the page's main thread was
	// blocked by long tasks (50 ms or more) between the start and its first
	// remote frame.
	LongTaskMS float64 `json:"longtask_ms,omitempty"`
	// Events (browser, peercall) are the first time of each step in the
	// page (callInstrumentJS), in ms from the start; negative before it.
	Events map[string]float64 `json:"events,omitempty"`
}

// finish fills the call-level times as the later of the two sides.
func (s *callSample) finish() {
	s.ICEMS = max(s.Sides[0].ICEMS, s.Sides[1].ICEMS)
	s.ConnectedMS = max(s.Sides[0].ConnectedMS, s.Sides[1].ConnectedMS)
	s.MediaMS = max(s.Sides[0].MediaMS, s.Sides[1].MediaMS)
}

// callRaw is everything a run measured: written as call.json, and what the
// re-executed child hands back to its parent.
type callRaw struct {
	Suite    string    `json:"suite"`
	Started  time.Time `json:"started"`
	Seconds  float64   `json:"seconds"`
	Machine  Machine   `json:"machine"`
	Chromium string    `json:"chromium,omitempty"`
	// Server is how the peercall server ran: its command line, or
	// "in-process" (tests).
	Server  string       `json:"server"`
	Scale   CallScale    `json:"scale"`
	Reps    int          `json:"reps"`
	Quick   bool         `json:"quick,omitempty"`
	Samples []callSample `json:"samples"`
	// Machine load before and after the run.
	Before machineSample `json:"machine_before"`
	After  machineSample `json:"machine_after"`
	// Notes are things the reader must know (a part skipped, ...).
	Notes []string `json:"notes,omitempty"`
}

func init() {
	registerSuite(suite{name: "call", run: runCallSuite,
		help: "call-setup time: two Go SDK participants (direct and relay-only) and two\n" +
			"Chromium pages, from Join to ICE connected and first media, against\n" +
			"bare pion and RTCPeerConnection baselines"})
}

// callSpec is what the suite passes to itself when it re-executes in the
// loopback-only namespace, in the environment variable envCallChild.
type callSpec struct {
	Scale CallScale `json:"scale"`
	Reps  int       `json:"reps"`
	Quick bool      `json:"quick"`
	// Serve starts the server (Serve + flags); nil: in-process.
	Serve []string `json:"serve"`
	// RawPath receives the callRaw as JSON.
	RawPath string `json:"raw_path"`
}

const envCallChild = "PEERCALL_BENCH_CALL_CHILD"

// callCloseTimeout is how long a Go iteration may take to close its call
// after its timeout, before the suite gives up on it.
const callCloseTimeout = 30 * time.Second

// envCallResults names a call.json to render again (tables, CSV, chart)
// instead of measuring: PEERCALL_BENCH_CALL_RESULTS=call.json peercall
// bench call --out DIR.
const envCallResults = "PEERCALL_BENCH_CALL_RESULTS"

func runCallSuite(ctx context.Context, o Options) (*Report, error) {
	scale := callFull
	if o.Quick {
		scale = callQuick
	}
	return runCall(ctx, o, scale)
}

// runCall runs the suite at the given scale: in this process if it runs in
// a loopback-only network namespace already (or is the re-executed child),
// otherwise in a re-executed copy of itself in a new one.
func runCall(ctx context.Context, o Options, scale CallScale) (*Report, error) {
	if o.Stderr == nil {
		o.Stderr = os.Stderr
	}
	reps := o.Reps
	if reps <= 0 {
		reps = 1
	}
	spec := callSpec{Scale: scale, Reps: reps, Quick: o.Quick, Serve: o.Serve}
	if path := os.Getenv(envCallResults); path != "" {
		// Render the tables and chart again from raw results.
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		var raw callRaw
		if err := json.Unmarshal(b, &raw); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return renderCall(&raw), nil
	}
	if env := os.Getenv(envCallChild); env != "" {
		// The re-executed child: measure and hand the raw results back.
		if err := json.Unmarshal([]byte(env), &spec); err != nil {
			return nil, fmt.Errorf("%s: %w", envCallChild, err)
		}
		raw, err := measureCall(ctx, spec, o)
		if err != nil {
			return nil, err
		}
		b, err := json.Marshal(raw)
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(spec.RawPath, b, 0o644); err != nil {
			return nil, err
		}
		return &Report{Suite: "call", Raw: raw}, nil
	}
	var raw *callRaw
	if netns.LoopbackOnly() {
		r, err := measureCall(ctx, spec, o)
		if err != nil {
			return nil, err
		}
		raw = r
	} else {
		r, err := runCallInNamespace(ctx, o, spec)
		if err != nil {
			return nil, err
		}
		raw = r
	}
	return renderCall(raw), nil
}

// measureCall runs the scenarios. It must run in a loopback-only namespace.
func measureCall(ctx context.Context, spec callSpec, o Options) (*callRaw, error) {
	if !netns.LoopbackOnly() {
		return nil, errors.New("refusing to run: this network namespace has interfaces other than loopback")
	}
	if err := netns.LinkUp("lo"); err != nil {
		return nil, fmt.Errorf("bring lo up: %w", err)
	}
	logf := func(format string, a ...any) { fmt.Fprintf(o.Stderr, "bench call: "+format+"\n", a...) }
	raw := &callRaw{
		Suite: "call", Started: time.Now().UTC(), Machine: thisMachine(),
		Scale: spec.Scale, Reps: spec.Reps, Quick: spec.Quick,
		Before: sampleMachine(),
	}
	start := time.Now()
	for rep := 0; rep < spec.Reps; rep++ {
		if err := measureCallRep(ctx, spec, rep, raw, logf); err != nil {
			return nil, fmt.Errorf("rep %d: %w", rep+1, err)
		}
	}
	raw.Seconds = time.Since(start).Seconds()
	raw.After = sampleMachine()
	return raw, nil
}

// measureCallRep starts a server and runs every scenario once, appending
// to raw.
func measureCallRep(ctx context.Context, spec callSpec, rep int, raw *callRaw, logf func(string, ...any)) error {
	srv, err := startCallServer(ctx, spec.Serve)
	if err != nil {
		return err
	}
	defer srv.stop()
	raw.Server = srv.desc
	logf("rep %d/%d: server %s at %s, TURN on %s", rep+1, spec.Reps, srv.desc, srv.url, srv.turnAddr)

	g := newCallGo(srv, spec.Scale)
	for _, sc := range []string{callGoDirect, callGoRelay} {
		relay := sc == callGoRelay
		systems := []string{callPeercall, callBaseline}
		if !relay {
			systems = append(systems, callBaselineICE)
		}
		run := func(system string, iter int, warm bool) error {
			var s callSample
			var err error
			ictx, cancel := context.WithTimeout(ctx, spec.Scale.Timeout)
			defer cancel()
			done := make(chan struct{})
			go func() {
				defer close(done)
				switch system {
				case callPeercall:
					s, err = g.peercallPair(ictx, relay, fmt.Sprintf("call-%d-%s-%d-%t", rep, sc, iter, warm))
				default:
					s, err = g.pionPair(ictx, relay, system == callBaselineICE, fmt.Sprintf("r%d-%s-%s-%d-%t", rep, sc, system, iter, warm))
				}
			}()
			// The context bounds the call's set-up; closing it is not
			// bounded by anything but this. A hang there would otherwise
			// hang the suite.
			select {
			case <-done:
			case <-time.After(spec.Scale.Timeout + callCloseTimeout):
				return fmt.Errorf("%s %s iteration %d did not finish within %v (stuck closing the call)", sc, system, iter, spec.Scale.Timeout+callCloseTimeout)
			}
			s.Rep, s.Scenario, s.System, s.Iter, s.Warmup = rep, sc, system, iter, warm
			if err != nil {
				s.Error = err.Error()
				logf("rep %d, %s, %s, iteration %d: %v", rep+1, sc, system, iter, err)
			}
			raw.Samples = append(raw.Samples, s)
			return nil
		}
		logf("rep %d/%d: %s, %d+%d iterations each for %s", rep+1, spec.Reps, sc, spec.Scale.Warmup, spec.Scale.GoIterations, strings.Join(systems, ", "))
		for i := 0; i < spec.Scale.Warmup; i++ {
			for _, sys := range systems {
				if err := run(sys, i, true); err != nil {
					return err
				}
			}
		}
		for i := 0; i < spec.Scale.GoIterations; i++ {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			// Rotate which goes first, so that slow phases of the shared
			// machine hit all alike.
			for j := range systems {
				if err := run(systems[(i+j)%len(systems)], i, false); err != nil {
					return err
				}
			}
		}
	}
	if spec.Scale.BrowserIterations > 0 {
		logf("rep %d/%d: %s, %d+%d iterations each for peercall and the baseline", rep+1, spec.Reps, callBrowser, spec.Scale.Warmup, spec.Scale.BrowserIterations)
		version, note, err := runCallBrowser(ctx, srv, spec.Scale, rep, raw, logf)
		if err != nil {
			return fmt.Errorf("browser: %w", err)
		}
		if version != "" {
			raw.Chromium = version
		}
		if note != "" && (len(raw.Notes) == 0 || raw.Notes[len(raw.Notes)-1] != note) {
			raw.Notes = append(raw.Notes, note)
		}
	}
	return ctx.Err()
}
