package bench

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/peercall/peercall/internal/turnserver"
	"github.com/peercall/peercall/internal/turnserver/turnclient"
	"github.com/peercall/peercall/internal/turnserver/udpbatch"
)

// turnLoadConfig configures role "loadgen" (stdin).
type turnLoadConfig struct {
	Server string    `json:"server"`
	Addr   string    `json:"addr"` // the server's UDP address
	PID    int       `json:"pid"`  // for its CPU time and RSS
	Secret string    `json:"secret"`
	Scale  TurnScale `json:"scale"`
}

// turnStep is one rate of a ladder.
type turnStep struct {
	TargetPPS float64 `json:"target_pps"`
	// Coarse marks a rate of the fixed ladder StartPPS × Factor^k, which
	// every server is offered; the others bisect towards its limit.
	Coarse  bool    `json:"coarse"`
	Attempt int     `json:"attempt"` // 2 for a retry
	Seconds float64 `json:"seconds"` // sending time
	Sent    int64   `json:"sent"`
	// Received counts packets that reached the peers, including those
	// that arrived during the drain after sending stopped.
	Received int64   `json:"received"`
	Loss     float64 `json:"loss"` // 1 − received/sent
	Held     bool    `json:"held"` // loss ≤ MaxLoss with the rate fully sent
	// SenderBehind: the load generator sent less than 98% of the target
	// (the machine's two cores were saturated) and the server relayed
	// what it got; the ladder ends there.
	SenderBehind bool `json:"sender_behind,omitempty"`
	// Server CPU time over sending and drain (user and system), and
	// per packet received.
	ServerCPUSecs    float64 `json:"server_cpu_s"`
	ServerSysSecs    float64 `json:"server_sys_s"`
	ServerCPUusPer   float64 `json:"server_cpu_us_per_packet"`
	LoadgenCPUusPer  float64 `json:"loadgen_cpu_us_per_packet"` // per packet sent
	ServerSocketDrop int64   `json:"server_socket_drops"`       // kernel drops on the server's listening sockets
	PeerSocketDrop   int64   `json:"peer_socket_drops"`         // kernel drops on the peers' sockets
}

// turnLadder is the load generator's result (stdout).
type turnLadder struct {
	Steps []turnStep `json:"steps"`
	// MaxHeldPPS is the highest rate held; FirstFailPPS the lowest that
	// failed above it (0: none failed).
	MaxHeldPPS    float64 `json:"max_held_pps"`
	FirstFailPPS  float64 `json:"first_fail_pps"`
	SenderLimited bool    `json:"sender_limited,omitempty"`
	ReachedMax    bool    `json:"reached_max,omitempty"` // MaxPPS held
	SetupMs       float64 `json:"setup_ms"`              // allocations and channel bindings
	ServerRSSKiB  int64   `json:"server_rss_kib"`        // after the ladder
	Error         string  `json:"error,omitempty"`
}

// turnMaxSteps bounds the step IDs the peers count by.
const turnMaxSteps = 256

// turnGen is the load generator: clients with one allocation each, a peer
// socket per allocation, and a paced sender.
type turnGen struct {
	cfg        turnLoadConfig
	server     netip.AddrPort
	clients    []*udpbatch.Conn
	peers      []*net.UDPConn
	msgs       [][][]byte // per allocation: the ChannelData messages sent, in turn
	w          *udpbatch.Writer
	counts     [turnMaxSteps]atomic.Int64 // packets received by step ID
	perPeer    []atomic.Int64             // packets received by allocation
	serverPort int
	peerPorts  map[int]bool
	wg         sync.WaitGroup
	nextMsg    int // rotates through the sizes
}

func runTurnLoadgenRole(ctx context.Context, stdout io.Writer) error {
	var cfg turnLoadConfig
	if err := json.NewDecoder(os.Stdin).Decode(&cfg); err != nil {
		return fmt.Errorf("config on stdin: %w", err)
	}
	res := runTurnLoad(ctx, cfg)
	return json.NewEncoder(stdout).Encode(res)
}

func runTurnLoad(ctx context.Context, cfg turnLoadConfig) turnLadder {
	var l turnLadder
	g, err := newTurnGen(cfg)
	if g != nil {
		defer g.close()
	}
	if err != nil {
		l.Error = err.Error()
		return l
	}
	start := time.Now()
	if err := g.setup(); err != nil {
		l.Error = err.Error()
		return l
	}
	l.SetupMs = float64(time.Since(start).Microseconds()) / 1000
	if err := g.warmUp(ctx); err != nil {
		l.Error = err.Error()
		return l
	}
	g.ladder(ctx, &l)
	if ctx.Err() != nil {
		l.Error = ctx.Err().Error()
	}
	if p, err := readProc(cfg.PID); err == nil {
		l.ServerRSSKiB = p.RSSKiB
	}
	return l
}

func newTurnGen(cfg turnLoadConfig) (*turnGen, error) {
	server, err := netip.ParseAddrPort(cfg.Addr)
	if err != nil {
		return nil, err
	}
	sc := cfg.Scale
	if sc.Allocations < 1 || sc.PayloadBytes-sc.SizeSpread < 8 || sc.SizeSpread < 0 || sc.StartPPS <= 0 || sc.Factor <= 1 {
		return nil, fmt.Errorf("bad scale %+v", sc)
	}
	g := &turnGen{cfg: cfg, server: server, w: udpbatch.NewWriter(64), perPeer: make([]atomic.Int64, sc.Allocations),
		serverPort: int(server.Port()), peerPorts: map[int]bool{}}
	for range sc.Allocations {
		for _, side := range []string{"client", "peer"} {
			uc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				return g, err
			}
			// Deep buffers, so that the load generator's own sockets
			// are not where packets are lost.
			_ = uc.SetReadBuffer(4 << 20)
			_ = uc.SetWriteBuffer(4 << 20)
			bc, err := udpbatch.New(uc)
			if err != nil {
				uc.Close()
				return g, err
			}
			if side == "client" {
				g.clients = append(g.clients, bc)
			} else {
				g.peers = append(g.peers, uc)
				g.peerPorts[uc.LocalAddr().(*net.UDPAddr).Port] = true
			}
		}
	}
	return g, nil
}

func (g *turnGen) close() {
	for _, c := range g.clients {
		c.UDPConn().Close()
	}
	for _, p := range g.peers {
		p.Close()
	}
	g.wg.Wait()
}

// setup allocates a relay per client with TURN REST credentials of its
// own user, binds channel 0x4000 to its peer, and starts the peers'
// receivers.
func (g *turnGen) setup() error {
	expires := time.Now().Add(time.Hour)
	sc := g.cfg.Scale
	sizes := []int{sc.PayloadBytes}
	if sc.SizeSpread > 0 {
		sizes = nil
		for k := range 8 {
			sizes = append(sizes, sc.PayloadBytes-sc.SizeSpread+int(math.Round(float64(k)*float64(2*sc.SizeSpread)/7)))
		}
		// Interleave small and large: 0 7 1 6 2 5 3 4.
		sizes = []int{sizes[0], sizes[7], sizes[1], sizes[6], sizes[2], sizes[5], sizes[3], sizes[4]}
	}
	for i, c := range g.clients {
		user, pass := turnserver.RESTCredentials(g.cfg.Secret, "bench"+strconv.Itoa(i), expires)
		tc := turnclient.New(c.UDPConn(), g.server, user, pass)
		if _, err := tc.Allocate(); err != nil {
			return fmt.Errorf("allocation %d: %w", i, err)
		}
		peer := g.peers[i].LocalAddr().(*net.UDPAddr).AddrPort()
		if err := tc.ChannelBind(0x4000, peer); err != nil {
			return fmt.Errorf("channel bind %d: %w", i, err)
		}
		var msgs [][]byte
		for _, size := range sizes {
			payload := make([]byte, size)
			payload[4] = byte(i)
			msgs = append(msgs, turnclient.AppendChannelData(nil, 0x4000, payload))
		}
		g.msgs = append(g.msgs, msgs)
	}
	for i, p := range g.peers {
		bc, err := udpbatch.New(p)
		if err != nil {
			return err
		}
		g.wg.Add(1)
		go g.receive(i, bc)
	}
	return nil
}

// receive counts the packets reaching peer i by the step ID in their
// first 4 bytes.
func (g *turnGen) receive(i int, c *udpbatch.Conn) {
	defer g.wg.Done()
	r := udpbatch.NewReader(64, 2048, 0)
	for {
		n, err := r.Read(c)
		if err != nil {
			return
		}
		last, cnt := -1, int64(0)
		for _, m := range r.Msgs[:n] {
			if len(m.Buf) < 4 {
				continue
			}
			id := int(binary.BigEndian.Uint32(m.Buf))
			if id != last {
				if last >= 0 && last < turnMaxSteps {
					g.counts[last].Add(cnt)
				}
				last, cnt = id, 0
			}
			cnt++
		}
		if last >= 0 && last < turnMaxSteps {
			g.counts[last].Add(cnt)
		}
		g.perPeer[i].Add(int64(n))
	}
}

// setStep writes step id into every message.
func (g *turnGen) setStep(id int) {
	for _, msgs := range g.msgs {
		for _, m := range msgs {
			binary.BigEndian.PutUint32(m[4:8], uint32(id)) // after the ChannelData header
		}
	}
}

// warmUp sends step 0 until every allocation has relayed a packet.
func (g *turnGen) warmUp(ctx context.Context) error {
	g.setStep(0)
	deadline := time.Now().Add(5 * time.Second)
	for {
		ready := true
		for i := range g.peers {
			if g.perPeer[i].Load() == 0 {
				ready = false
			}
		}
		if ready {
			return sleepCtx(ctx, 100*time.Millisecond)
		}
		if time.Now().After(deadline) {
			return errors.New("after 5 s of ChannelData some allocation had relayed nothing to its peer")
		}
		for k := range g.clients {
			for range 10 {
				g.w.Add(g.msgs[k][0], g.server)
			}
			if _, err := g.w.Flush(g.clients[k]); err != nil {
				return err
			}
		}
		if err := sleepCtx(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
}

// send paces ChannelData at pps (over all allocations, round robin) for
// d, in batches of at most 64 per allocation and system call.
func (g *turnGen) send(ctx context.Context, pps float64, d time.Duration) (int64, time.Duration) {
	start := time.Now()
	var sent int64
	next := 0
	na := len(g.clients)
	for {
		el := time.Since(start)
		if el >= d || ctx.Err() != nil {
			return sent, el
		}
		due := int64(pps*el.Seconds()) - sent
		if due <= 0 {
			time.Sleep(100 * time.Microsecond)
			continue
		}
		due = min(due, int64(na*64))
		share := (due + int64(na) - 1) / int64(na)
		for range na {
			k := next
			next = (next + 1) % na
			n := min(share, due)
			if n <= 0 {
				break
			}
			msgs := g.msgs[k]
			for range n {
				g.w.Add(msgs[g.nextMsg%len(msgs)], g.server)
				g.nextMsg++
			}
			ok, _ := g.w.Flush(g.clients[k])
			sent += int64(ok)
			due -= n
		}
	}
}

// step offers pps for the scale's step time and measures it.
func (g *turnGen) step(ctx context.Context, id int, pps float64) turnStep {
	sc := g.cfg.Scale
	st := turnStep{TargetPPS: pps}
	g.setStep(id)
	cpu0, sys0 := turnCPU(g.cfg.PID)
	self0, _ := cpuSeconds(0)
	sd0, pd0 := g.drops()
	sent, el := g.send(ctx, pps, sc.Step)
	_ = sleepCtx(ctx, sc.Drain)
	cpu1, sys1 := turnCPU(g.cfg.PID)
	self1, _ := cpuSeconds(0)
	sd1, pd1 := g.drops()
	st.Seconds = el.Seconds()
	st.Sent = sent
	st.Received = g.counts[id].Load()
	if sent > 0 {
		st.Loss = math.Max(0, 1-float64(st.Received)/float64(sent))
		st.LoadgenCPUusPer = (self1 - self0) / float64(sent) * 1e6
	}
	st.ServerCPUSecs, st.ServerSysSecs = cpu1-cpu0, sys1-sys0
	if st.Received > 0 {
		st.ServerCPUusPer = st.ServerCPUSecs / float64(st.Received) * 1e6
	}
	st.ServerSocketDrop, st.PeerSocketDrop = sd1-sd0, pd1-pd0
	// A rate that lost too much failed, whether or not the load
	// generator kept up; one it could not send but the server relayed
	// ends the ladder as limited by the load generator.
	st.SenderBehind = float64(sent) < 0.98*pps*sc.Step.Seconds() && st.Loss <= sc.MaxLoss
	st.Held = !st.SenderBehind && sent > 0 && st.Loss <= sc.MaxLoss
	return st
}

// ladder steps the rate up by Factor until a rate fails (after retries),
// then bisects between the last rate held and the first that failed.
func (g *turnGen) ladder(ctx context.Context, l *turnLadder) {
	sc := g.cfg.Scale
	id := 1
	stop := false
	// try runs a rate, up to retries more times while it fails (once
	// more if the last try fell behind); it reports whether it held. A
	// rate the load generator could not send even then ends the ladder.
	try := func(pps float64, coarse bool, retries int) bool {
		attempts, extra := 1+retries, false
		for attempt := 1; attempt <= attempts && id < turnMaxSteps && ctx.Err() == nil; attempt++ {
			st := g.step(ctx, id, pps)
			id++
			st.Coarse, st.Attempt = coarse, attempt
			l.Steps = append(l.Steps, st)
			if st.Held {
				return true
			}
			if st.SenderBehind && attempt == attempts {
				if !extra {
					// One more try: falling behind once says more
					// about the machine at that moment than about
					// the rate.
					attempts, extra = attempts+1, true
					continue
				}
				l.SenderLimited, stop = true, true
			}
		}
		return false
	}
	held, failed := 0.0, 0.0
	for pps := sc.StartPPS; pps <= sc.MaxPPS*1.0001 && !stop && ctx.Err() == nil; pps *= sc.Factor {
		if !try(pps, true, sc.Retries) {
			failed = pps
			break
		}
		held = pps
	}
	if stop || ctx.Err() != nil {
		l.MaxHeldPPS = held
		return
	}
	if failed == 0 {
		l.MaxHeldPPS, l.ReachedMax = held, true
		return
	}
	// The first rate failed: step down (three times at most) until one
	// holds.
	for pps, n := failed/sc.Factor, 0; held == 0 && n < 3 && !stop; pps, n = pps/sc.Factor, n+1 {
		if try(pps, false, sc.Retries) {
			held = pps
		} else {
			failed = pps
		}
	}
	// Bisect, one try per rate: a noisy result moves the limit by less
	// than a coarse step.
	lo, hi := held, failed
	for range sc.Refine {
		if lo == 0 || stop || ctx.Err() != nil {
			break
		}
		mid := math.Sqrt(lo * hi)
		if try(mid, false, 0) {
			lo = mid
		} else if !stop {
			hi = mid
		}
	}
	l.MaxHeldPPS, l.FirstFailPPS = lo, hi
}

// drops sums the kernel's receive-queue drops on the server's listening
// port and on the peers' sockets, from /proc/net/udp and udp6 (this
// network namespace's).
func (g *turnGen) drops() (server, peers int64) {
	for _, name := range []string{"/proc/net/udp", "/proc/net/udp6"} {
		f, err := os.Open(name)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Scan() // header
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 13 {
				continue
			}
			_, portHex, ok := strings.Cut(fields[1], ":")
			if !ok {
				continue
			}
			port, err1 := strconv.ParseInt(portHex, 16, 32)
			drops, err2 := strconv.ParseInt(fields[12], 10, 64)
			if err1 != nil || err2 != nil {
				continue
			}
			switch {
			case int(port) == g.serverPort:
				server += drops
			case g.peerPorts[int(port)]:
				peers += drops
			}
		}
		f.Close()
	}
	return server, peers
}

// turnCPU is the user+system and the system CPU time of pid so far.
func turnCPU(pid int) (total, sys float64) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0
	}
	// Fields after the command name's ')': utime is the 12th, stime the 13th.
	i := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b[i+1:]))
	if i < 0 || len(f) < 13 {
		return 0, 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / clockTicks, st / clockTicks
}
