// Package udpbatch reads and writes UDP datagrams in batches, one system
// call per batch (recvmmsg and sendmmsg on Linux), without allocating.
//
// golang.org/x/net/ipv4's ReadBatch does the same system call but
// allocates a net.UDPAddr and its IP for every datagram it reads; this
// package returns source addresses as netip.AddrPort values instead, and
// keeps every buffer and system-call structure in a Reader or Writer that
// one goroutine reuses. On other systems, and on Linux 386 and s390x
// (where the calls go through socketcall), it falls back to one datagram
// per system call with the same API.
package udpbatch

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
)

// Conn is a UDP socket used for batched I/O. Reads and writes may run
// concurrently from several goroutines, each with its own Reader or
// Writer.
type Conn struct {
	uc *net.UDPConn
	rc syscall.RawConn
	// v6 reports an AF_INET6 socket: IPv4 destinations are then written
	// as IPv4-mapped IPv6 addresses.
	v6 bool
	// gso: the kernel supports UDP generic segmentation offload;
	// gsoOff: not to be used (SetGSO, or refused on this socket's route).
	gso    bool
	gsoOff atomic.Bool
}

// New wraps uc, which stays usable for ordinary I/O.
func New(uc *net.UDPConn) (*Conn, error) {
	rc, err := uc.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("udpbatch: %w", err)
	}
	if _, ok := uc.LocalAddr().(*net.UDPAddr); !ok {
		return nil, errors.New("udpbatch: not a UDP socket")
	}
	c := &Conn{uc: uc, rc: rc}
	if c.v6, err = isIPv6Socket(rc); err != nil {
		return nil, fmt.Errorf("udpbatch: %w", err)
	}
	c.gso = gsoSupported(rc)
	return c, nil
}

// SetGSO turns generic segmentation offload of batched writes on (the
// default where the kernel supports it) or off. With it, a Writer sends
// each run of datagrams to one address whose sizes are equal (the last
// may be shorter) as one large datagram that the kernel cuts up at the
// end of its path, instead of taking each through the network stack.
// The receiver sees the same datagrams either way.
func (c *Conn) SetGSO(on bool) { c.gsoOff.Store(!on) }

// GSO reports whether batched writes use generic segmentation offload.
func (c *Conn) GSO() bool { return c.gso && !c.gsoOff.Load() }

// UDPConn returns the wrapped socket.
func (c *Conn) UDPConn() *net.UDPConn { return c.uc }

// Msg is one datagram of a batch read.
type Msg struct {
	// Buf is the datagram: a slice of the Reader's buffer for this
	// message, after its headroom. It is valid until the next Read.
	Buf []byte
	// Addr is the sender, with IPv4-mapped addresses unmapped.
	Addr netip.AddrPort
	// Zone is the IPv6 scope (interface index) of a link-local sender,
	// else 0. Addr carries no zone.
	Zone uint32
	// Truncated reports a datagram longer than the buffer; Buf then
	// holds its first part.
	Truncated bool
}

// Reader holds the buffers of batched reads. It is used by one goroutine
// at a time.
type Reader struct {
	// Msgs[:n] are the datagrams of the last Read that returned n.
	Msgs     []Msg
	slots    [][]byte // whole buffers, headroom included
	headroom int
	sys      readerSys
}

// NewReader returns a Reader of up to n datagrams of size bytes each,
// received headroom bytes into their buffers: the headroom in front of
// each datagram is free for the caller to prepend a header (see Slot).
func NewReader(n, size, headroom int) *Reader {
	if n < 1 || size < 1 || headroom < 0 {
		panic("udpbatch: NewReader needs n ≥ 1, size ≥ 1 and headroom ≥ 0")
	}
	r := &Reader{Msgs: make([]Msg, n), slots: make([][]byte, n), headroom: headroom}
	mem := make([]byte, n*(headroom+size))
	for i := range r.slots {
		r.slots[i] = mem[i*(headroom+size) : (i+1)*(headroom+size) : (i+1)*(headroom+size)]
	}
	r.sys.init(r)
	return r
}

// Slot returns the whole buffer of message i: its headroom, then the
// datagram (Msgs[i].Buf), then the rest of the buffer.
func (r *Reader) Slot(i int) []byte { return r.slots[i] }

// Headroom is the headroom each datagram was received after.
func (r *Reader) Headroom() int { return r.headroom }

// Read blocks until at least one datagram arrives on c, or c is closed or
// its read deadline passes, and reads as many as are queued, up to
// len(r.Msgs). It returns how many it read.
func (r *Reader) Read(c *Conn) (int, error) { return r.sys.read(r, c) }

// Pool holds Readers for sockets that are idle most of the time, such as
// one relay socket per TURN allocation: a PooledReader takes a Reader from
// it only while datagrams are queued.
type Pool struct {
	p sync.Pool
}

// NewPool returns a Pool of Readers made by NewReader(n, size, headroom).
func NewPool(n, size, headroom int) *Pool {
	_ = NewReader(n, size, headroom) // check the arguments now
	return &Pool{p: sync.Pool{New: func() any { return NewReader(n, size, headroom) }}}
}

func (p *Pool) get() *Reader  { return p.p.Get().(*Reader) }
func (p *Pool) put(r *Reader) { p.p.Put(r) }

// PooledReader reads batches from one socket into Readers of a Pool. While
// it waits for datagrams it holds no Reader (on Linux; the fallback holds
// one), so a thousand idle sockets do not each keep a batch of buffers. It
// is used by one goroutine at a time.
type PooledReader struct {
	pool *Pool
	r    *Reader // held from a successful Read until Release
	sys  pooledSys
}

// NewReader returns a PooledReader taking Readers from p.
func (p *Pool) NewReader() *PooledReader {
	pr := &PooledReader{pool: p}
	pr.sys.init(pr)
	return pr
}

// Read releases the Reader of the previous Read, if any, then waits for
// datagrams on c like Reader.Read and returns the Reader holding them,
// valid until the next Read or Release.
func (pr *PooledReader) Read(c *Conn) (*Reader, int, error) {
	pr.Release()
	n, err := pr.sys.read(pr, c)
	if err != nil {
		pr.Release()
		return nil, 0, err
	}
	return pr.r, n, nil
}

// Release gives the Reader of the last Read back to the pool.
func (pr *PooledReader) Release() {
	if pr.r != nil {
		pr.pool.put(pr.r)
		pr.r = nil
	}
}

// Writer collects datagrams for one batched write. It is used by one
// goroutine at a time.
type Writer struct {
	bufs  [][]byte
	addrs []netip.AddrPort
	n     int
	sys   writerSys
}

// NewWriter returns a Writer of up to n datagrams.
func NewWriter(n int) *Writer {
	if n < 1 {
		panic("udpbatch: NewWriter needs n ≥ 1")
	}
	w := &Writer{bufs: make([][]byte, n), addrs: make([]netip.AddrPort, n)}
	w.sys.init(w)
	return w
}

// Len is the number of datagrams added since the last Flush.
func (w *Writer) Len() int { return w.n }

// Full reports whether the Writer holds as many datagrams as it can.
func (w *Writer) Full() bool { return w.n == len(w.bufs) }

// Add queues the datagram b for to. b must stay unchanged until Flush
// returns. It panics when the Writer is full.
func (w *Writer) Add(b []byte, to netip.AddrPort) {
	w.bufs[w.n] = b
	w.addrs[w.n] = to
	w.n++
}

// Reset drops the queued datagrams.
func (w *Writer) Reset() {
	clear(w.bufs[:w.n])
	w.n = 0
}

// Flush writes the queued datagrams to c and empties the Writer. It
// returns how many the kernel accepted. A datagram the kernel refuses
// (e.g. an unreachable destination) is skipped and the rest are still
// written; the error then describes the first refusal. When c is closed,
// the rest are dropped.
func (w *Writer) Flush(c *Conn) (int, error) {
	if w.n == 0 {
		return 0, nil
	}
	sent, err := w.sys.flush(w, c)
	w.Reset()
	return sent, err
}
