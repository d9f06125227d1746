package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// The load generator runs in its own process (peercall bench
// internal-loadgen), so that its sockets and CPU are apart from the server's:
// the open-file limit is per process, and /proc then tells the server's own
// CPU and memory. It reads one loadgenConfig as JSON on stdin and writes one
// loadgenResult as JSON on stdout.

// loadgenConfig is one workload against one running server.
type loadgenConfig struct {
	Server   string `json:"server"`   // serverPeercall or serverPeerJS
	Addr     string `json:"addr"`     // 127.0.0.1:PORT
	PID      int    `json:"pid"`      // the server's process, sampled in /proc
	Workload string `json:"workload"` // connect, relay or storm

	// connect
	Levels      []int         `json:"levels,omitempty"`      // connections to hold, ascending
	Concurrency int           `json:"concurrency,omitempty"` // connection attempts in flight
	Settle      time.Duration `json:"settle,omitempty"`      // wait at each level before sampling RSS
	Hold        time.Duration `json:"hold,omitempty"`        // hold the last level this long, with keepalive
	// relay
	Pairs    int           `json:"pairs,omitempty"`
	Warmup   time.Duration `json:"warmup,omitempty"`
	Duration time.Duration `json:"duration,omitempty"`
	// storm
	Rooms      int           `json:"rooms,omitempty"`
	Candidates int           `json:"candidates,omitempty"` // each way
	Timeout    time.Duration `json:"timeout,omitempty"`
}

// loadgenResult is the outcome of one workload; one of the pointers is set.
type loadgenResult struct {
	Connect *connectResult `json:"connect,omitempty"`
	Relay   *relayResult   `json:"relay,omitempty"`
	Storm   *stormResult   `json:"storm,omitempty"`
	// LoadgenCPUSecs is the load generator's own CPU time for the workload.
	LoadgenCPUSecs float64 `json:"loadgen_cpu_s"`
	Error          string  `json:"error,omitempty"`
}

type connectLevel struct {
	Conns       int     `json:"conns"`
	ConnsPerSec float64 `json:"conns_per_s"` // of the step from the previous level
	RSSKiB      int64   `json:"rss_kib"`
	KiBPerConn  float64 `json:"kib_per_conn"` // (RSS - baseline) / conns
	Threads     int     `json:"threads"`
}

type connectResult struct {
	BaselineKiB   int64          `json:"baseline_rss_kib"`
	Levels        []connectLevel `json:"levels"`
	HeldSeconds   float64        `json:"held_s"`       // the last level, with keepalive
	HeldRSSKiB    int64          `json:"held_rss_kib"` // RSS at the end of the hold
	Failures      int64          `json:"failures"`     // attempts that did not connect
	Drops         int64          `json:"drops"`        // held connections the server closed
	ServerErrors  int64          `json:"server_errors"`
	ServerCPUSecs float64        `json:"server_cpu_s"`
	FirstError    string         `json:"first_error,omitempty"`
}

type relayResult struct {
	Pairs         int     `json:"pairs"`
	Seconds       float64 `json:"seconds"`
	Messages      int64   `json:"messages"`
	MsgsPerSec    float64 `json:"msgs_per_s"`
	P50ms         float64 `json:"p50_ms"`
	P99ms         float64 `json:"p99_ms"`
	ServerCPUSecs float64 `json:"server_cpu_s"`
	CPUPer100k    float64 `json:"server_cpu_s_per_100k"`
	LoadgenCPU    float64 `json:"loadgen_cpu_s"`
	LoadgenPer100 float64 `json:"loadgen_cpu_s_per_100k"`
	Errors        int64   `json:"errors"`
	FirstError    string  `json:"first_error,omitempty"`
}

type stormResult struct {
	Rooms         int     `json:"rooms"`
	Completed     int     `json:"completed"`
	Failed        int     `json:"failed"`
	TotalSeconds  float64 `json:"total_s"`
	P50ms         float64 `json:"p50_ms"`
	P99ms         float64 `json:"p99_ms"`
	ServerCPUSecs float64 `json:"server_cpu_s"`
	FirstError    string  `json:"first_error,omitempty"`
}

// runLoadgen is the internal-loadgen subcommand.
func runLoadgen(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer) int {
	var cfg loadgenConfig
	if err := json.NewDecoder(stdin).Decode(&cfg); err != nil {
		fmt.Fprintf(stderr, "bench loadgen: config: %v\n", err)
		return 2
	}
	if _, err := raiseFileLimit(); err != nil {
		fmt.Fprintf(stderr, "bench loadgen: %v\n", err)
	}
	cpu0, _ := cpuSeconds(0)
	var res loadgenResult
	var err error
	switch cfg.Workload {
	case "connect":
		res.Connect, err = runConnect(ctx, cfg, stderr)
	case "relay":
		res.Relay, err = runRelay(ctx, cfg)
	case "storm":
		res.Storm, err = runStorm(ctx, cfg)
	default:
		err = fmt.Errorf("unknown workload %q", cfg.Workload)
	}
	cpu1, _ := cpuSeconds(0)
	res.LoadgenCPUSecs = cpu1 - cpu0
	if err != nil {
		res.Error = err.Error()
	}
	json.NewEncoder(stdout).Encode(res)
	return 0
}

// firstErr keeps the first error reported to it.
type firstErr struct {
	once sync.Once
	msg  string
	mu   sync.Mutex
}

func (f *firstErr) set(err error) {
	f.once.Do(func() { f.mu.Lock(); f.msg = err.Error(); f.mu.Unlock() })
}

func (f *firstErr) get() string { f.mu.Lock(); defer f.mu.Unlock(); return f.msg }

// connPool is the set of held connections, pinged in slots so the
// keepalive traffic is spread evenly over the interval.
type connPool struct {
	mu    sync.Mutex // guards conns
	conns []*wsConn
}

func (p *connPool) add(c *wsConn) {
	p.mu.Lock()
	p.conns = append(p.conns, c)
	p.mu.Unlock()
}

func (p *connPool) len() int { p.mu.Lock(); defer p.mu.Unlock(); return len(p.conns) }

func (p *connPool) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.close()
	}
}

// keepalive pings every connection once per interval until ctx ends.
func (p *connPool) keepalive(ctx context.Context, interval time.Duration, ping []byte) {
	const slots = 50
	t := time.NewTicker(interval / slots)
	defer t.Stop()
	for tick := 0; ; tick++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		p.mu.Lock()
		conns := p.conns
		p.mu.Unlock()
		for i := tick % slots; i < len(conns); i += slots {
			conns[i].write(ping)
		}
	}
}

func runConnect(ctx context.Context, cfg loadgenConfig, logw io.Writer) (*connectResult, error) {
	d := dialectFor(cfg.Server)
	base, err := readProc(cfg.PID)
	if err != nil {
		return nil, err
	}
	cpu0 := base.CPUSecs
	res := &connectResult{BaselineKiB: base.RSSKiB}
	var (
		pool     connPool
		stopping atomic.Bool
		drops    atomic.Int64
		fails    atomic.Int64
		srvErrs  atomic.Int64
		errOnce  firstErr
	)
	kctx, stopKeepalive := context.WithCancel(ctx)
	defer stopKeepalive()
	go pool.keepalive(kctx, 5*time.Second, d.ping())
	readLoop := func(c *wsConn) {
		for {
			f, err := c.read()
			if err != nil {
				if !stopping.Load() {
					drops.Add(1)
					errOnce.set(fmt.Errorf("held connection dropped: %w", err))
				}
				return
			}
			if k, _ := d.classify(f); k == kindError {
				srvErrs.Add(1)
				errOnce.set(fmt.Errorf("server error frame: %.200s", f))
			}
		}
	}
	next := 0
	for _, level := range cfg.Levels {
		need := level - next
		if need <= 0 {
			continue
		}
		var idx atomic.Int64
		idx.Store(int64(next))
		var wg sync.WaitGroup
		start := time.Now()
		for w := 0; w < min(cfg.Concurrency, need); w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(idx.Add(1) - 1)
					if i >= level || ctx.Err() != nil {
						return
					}
					dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
					id := "c" + strconv.Itoa(i)
					c, _, _, err := d.dial(dctx, cfg.Addr, "c"+strconv.Itoa(i/2), id, uint32(i))
					cancel()
					if err != nil {
						fails.Add(1)
						errOnce.set(fmt.Errorf("connect %s: %w", id, err))
						continue
					}
					pool.add(c)
					go readLoop(c)
				}
			}()
		}
		wg.Wait()
		elapsed := time.Since(start)
		next = level
		if err := sleepCtx(ctx, cfg.Settle); err != nil {
			return nil, err
		}
		s, err := readProc(cfg.PID)
		if err != nil {
			return nil, err
		}
		held := pool.len()
		lv := connectLevel{Conns: held, ConnsPerSec: float64(need) / elapsed.Seconds(), RSSKiB: s.RSSKiB, Threads: s.Threads}
		if held > 0 {
			lv.KiBPerConn = float64(s.RSSKiB-base.RSSKiB) / float64(held)
		}
		res.Levels = append(res.Levels, lv)
		fmt.Fprintf(logw, "bench loadgen: %s: %d connections in %.2fs (%.0f/s), RSS %d KiB (%.1f KiB each), drops %d, failures %d\n",
			cfg.Server, held, elapsed.Seconds(), lv.ConnsPerSec, s.RSSKiB, lv.KiBPerConn, drops.Load(), fails.Load())
	}
	holdStart := time.Now()
	if err := sleepCtx(ctx, cfg.Hold); err != nil {
		return nil, err
	}
	res.HeldSeconds = time.Since(holdStart).Seconds() + cfg.Settle.Seconds()
	stopping.Store(true)
	stopKeepalive()
	if s, err := readProc(cfg.PID); err == nil {
		res.ServerCPUSecs = s.CPUSecs - cpu0
		res.HeldRSSKiB = s.RSSKiB
	}
	pool.closeAll()
	res.Drops, res.Failures, res.ServerErrors, res.FirstError = drops.Load(), fails.Load(), srvErrs.Load(), errOnce.get()
	return res, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// relaySide is one end of a ping-pong pair. Its fields are used by its own
// reader goroutine only, except sentAt.
type relaySide struct {
	c      *wsConn
	peer   *relaySide
	frames [2][]byte // offer-sized and candidate-sized frames to the peer
	lat    []uint32  // microseconds, of frames received in the window
	n      int64     // frames received in the window
	sentAt atomic.Int64
}

func runRelay(ctx context.Context, cfg loadgenConfig) (*relayResult, error) {
	d := dialectFor(cfg.Server)
	sides := make([]*relaySide, 2*cfg.Pairs)
	var (
		errOnce  firstErr
		setupErr atomic.Int64
		wg       sync.WaitGroup
		idx      atomic.Int64
	)
	for w := 0; w < min(50, cfg.Pairs); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(idx.Add(1) - 1)
				if i >= cfg.Pairs {
					return
				}
				if err := setupPair(ctx, d, cfg.Addr, i, sides); err != nil {
					setupErr.Add(1)
					errOnce.set(err)
				}
			}
		}()
	}
	wg.Wait()
	if n := setupErr.Load(); n > 0 {
		for _, s := range sides {
			if s != nil {
				s.c.close()
			}
		}
		return nil, fmt.Errorf("%d of %d pairs failed to set up: %s", n, cfg.Pairs, errOnce.get())
	}

	base := time.Now()
	warmEnd := int64(cfg.Warmup)
	end := warmEnd + int64(cfg.Duration)
	var stopping atomic.Bool
	var errs atomic.Int64
	var readers sync.WaitGroup
	for _, s := range sides {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				f, err := s.c.read()
				if err != nil {
					if !stopping.Load() {
						errs.Add(1)
						errOnce.set(fmt.Errorf("relay connection dropped: %w", err))
					}
					return
				}
				now := int64(time.Since(base))
				k, _ := d.classify(f)
				switch k {
				case kindOffer, kindCandidate:
				case kindError:
					errs.Add(1)
					errOnce.set(fmt.Errorf("server error frame: %.200s", f))
					continue
				default:
					continue
				}
				if now >= warmEnd && now < end {
					s.n++
					s.lat = append(s.lat, uint32((now-s.sentAt.Load())/1000))
				}
				if now >= end {
					continue
				}
				// Answer an offer-sized frame with a candidate-sized one
				// and the other way round.
				reply := s.frames[0]
				if k == kindOffer {
					reply = s.frames[1]
				}
				s.peer.sentAt.Store(int64(time.Since(base)))
				if err := s.c.write(reply); err != nil && !stopping.Load() {
					errs.Add(1)
					errOnce.set(err)
				}
			}
		}()
	}
	for i := 0; i < cfg.Pairs; i++ {
		a := sides[2*i]
		a.peer.sentAt.Store(int64(time.Since(base)))
		a.c.write(a.frames[0])
	}
	sleepUntil := func(t int64) { time.Sleep(time.Until(base.Add(time.Duration(t)))) }
	sleepUntil(warmEnd)
	srv0, _ := cpuSeconds(cfg.PID)
	lg0, _ := cpuSeconds(0)
	sleepUntil(end)
	srv1, _ := cpuSeconds(cfg.PID)
	lg1, _ := cpuSeconds(0)
	time.Sleep(300 * time.Millisecond) // let the last frames arrive
	stopping.Store(true)
	for _, s := range sides {
		s.c.close()
	}
	readers.Wait()

	res := &relayResult{Pairs: cfg.Pairs, Seconds: cfg.Duration.Seconds(), Errors: errs.Load(), FirstError: errOnce.get()}
	var lat []uint32
	for _, s := range sides {
		res.Messages += s.n
		lat = append(lat, s.lat...)
	}
	slices.Sort(lat)
	res.MsgsPerSec = float64(res.Messages) / res.Seconds
	res.P50ms = float64(percentileU32(lat, 50)) / 1000
	res.P99ms = float64(percentileU32(lat, 99)) / 1000
	res.ServerCPUSecs = srv1 - srv0
	res.LoadgenCPU = lg1 - lg0
	if res.Messages > 0 {
		res.CPUPer100k = res.ServerCPUSecs / float64(res.Messages) * 1e5
		res.LoadgenPer100 = res.LoadgenCPU / float64(res.Messages) * 1e5
	}
	return res, nil
}

// setupPair connects pair i: two clients that know each other's ID.
func setupPair(ctx context.Context, d dialect, addr string, i int, sides []*relaySide) error {
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	room := "r" + strconv.Itoa(i)
	ca, aID, _, err := d.dial(dctx, addr, room, room+"a", uint32(2*i))
	if err != nil {
		return fmt.Errorf("pair %d: %w", i, err)
	}
	cb, bID, others, err := d.dial(dctx, addr, room, room+"b", uint32(2*i+1))
	if err != nil {
		ca.close()
		return fmt.Errorf("pair %d: %w", i, err)
	}
	if len(others) > 0 {
		aID = others[0]
	}
	if _, isPeercall := d.(peercallDialect); isPeercall {
		// a learns b's ID from peer_joined.
		ca.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
		for {
			f, err := ca.read()
			if err != nil {
				ca.close()
				cb.close()
				return fmt.Errorf("pair %d: waiting for peer_joined: %w", i, err)
			}
			if k, id := d.classify(f); k == kindPeerJoined {
				if id != bID {
					return fmt.Errorf("pair %d: peer_joined for %s, expected %s", i, id, bID)
				}
				break
			}
		}
		ca.nc.SetReadDeadline(zeroTime)
	}
	a := &relaySide{c: ca}
	b := &relaySide{c: cb}
	a.peer, b.peer = b, a
	a.frames = [2][]byte{d.relay(kindOffer, bID, offerPayload), d.relay(kindCandidate, bID, candidatePayload)}
	b.frames = [2][]byte{d.relay(kindOffer, aID, offerPayload), d.relay(kindCandidate, aID, candidatePayload)}
	sides[2*i], sides[2*i+1] = a, b
	return nil
}

func percentileU32(sorted []uint32, p float64) uint32 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * p / 100)
	return sorted[i]
}

// stormPair is one room of two in the setup storm.
type stormPair struct {
	opened [2]chan struct{} // peerjs: closed when each side is registered
	doneAt [2]time.Duration // since the storm's start; written by each side's goroutine
	failed [2]bool
}

func runStorm(ctx context.Context, cfg loadgenConfig) (*stormResult, error) {
	d := dialectFor(cfg.Server)
	_, isPeercall := d.(peercallDialect)
	pairs := make([]*stormPair, cfg.Rooms)
	for i := range pairs {
		pairs[i] = &stormPair{opened: [2]chan struct{}{make(chan struct{}), make(chan struct{})}}
	}
	var (
		pool    connPool
		errOnce firstErr
		wg      sync.WaitGroup
	)
	sctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	deadline, _ := sctx.Deadline()
	cpu0, _ := cpuSeconds(cfg.PID)
	startGate := make(chan struct{})
	var start time.Time
	for i, p := range pairs {
		for side := 0; side < 2; side++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-startGate
				err := stormSide(sctx, d, isPeercall, cfg, i, side, p, &pool, start, deadline)
				if err != nil {
					p.failed[side] = true
					errOnce.set(fmt.Errorf("room %d side %d: %w", i, side, err))
				}
			}()
		}
	}
	start = time.Now()
	close(startGate)
	wg.Wait()
	cpu1, _ := cpuSeconds(cfg.PID)
	pool.closeAll()

	res := &stormResult{Rooms: cfg.Rooms, ServerCPUSecs: cpu1 - cpu0, FirstError: errOnce.get()}
	var times []float64
	for _, p := range pairs {
		if p.failed[0] || p.failed[1] {
			res.Failed++
			continue
		}
		res.Completed++
		times = append(times, max(p.doneAt[0], p.doneAt[1]).Seconds()*1000)
	}
	slices.Sort(times)
	if len(times) > 0 {
		res.TotalSeconds = times[len(times)-1] / 1000
		res.P50ms = percentile(times, 50)
		res.P99ms = percentile(times, 99)
	}
	return res, nil
}

// stormSide is one participant of the storm: connect, then the newcomer
// offers and trickles its candidates, and the other answers and trickles
// its own. It is done when it has the other's description and candidates.
func stormSide(ctx context.Context, d dialect, isPeercall bool, cfg loadgenConfig, i, side int, p *stormPair, pool *connPool, start time.Time, deadline time.Time) error {
	room := "s" + strconv.Itoa(i)
	ids := [2]string{room + "a", room + "b"}
	c, _, others, err := d.dial(ctx, cfg.Addr, room, ids[side], uint32(2*i+side))
	if err != nil {
		return err
	}
	pool.add(c)
	c.nc.SetReadDeadline(deadline)
	var offerer bool
	var peer string
	if isPeercall {
		// The server introduces them: the second to join sees the first.
		if len(others) > 0 {
			offerer, peer = true, others[0]
		}
	} else {
		// peerjs-server has no rooms: side b offers once both are
		// registered (peerjs clients learn IDs out of band).
		close(p.opened[side])
		select {
		case <-p.opened[1-side]:
		case <-ctx.Done():
			return ctx.Err()
		}
		offerer, peer = side == 1, ids[1-side]
	}
	sendAll := func(k frameKind, sdp []byte) error {
		if err := c.write(d.relay(k, peer, sdp)); err != nil {
			return err
		}
		cand := d.relay(kindCandidate, peer, candidatePayload)
		for n := 0; n < cfg.Candidates; n++ {
			if err := c.write(cand); err != nil {
				return err
			}
		}
		return nil
	}
	if offerer {
		if err := sendAll(kindOffer, offerPayload); err != nil {
			return err
		}
	}
	gotSDP, cands := false, 0
	for !gotSDP || cands < cfg.Candidates {
		f, err := c.read()
		if err != nil {
			return err
		}
		k, from := d.classify(f)
		switch k {
		case kindOffer:
			if offerer {
				return errors.New("offer received by the offerer")
			}
			gotSDP, peer = true, from
			if err := sendAll(kindAnswer, answerPayload); err != nil {
				return err
			}
		case kindAnswer:
			gotSDP = true
		case kindCandidate:
			cands++
		case kindError:
			return fmt.Errorf("server error frame: %.200s", f)
		}
	}
	p.doneAt[side] = time.Since(start)
	return nil
}

func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * p / 100)
	return sorted[i]
}
