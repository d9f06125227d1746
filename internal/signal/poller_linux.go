package signal

import (
	"os"
	"sync"
	"syscall"
)

// poller lets idle connections wait for data without a goroutine: a
// connection with nothing in flight and nothing left to read parks (its
// reader goroutine ends), and when bytes arrive the poller starts a reader
// again. Sockets are in the epoll set edge-triggered from their first
// park on, so parking costs no system call: a reader parks only after a
// read that emptied the socket, and any byte that arrives later raises a
// new edge (wake then either starts a reader or, if one is still active,
// stops it from parking). A FIN that arrived before such a short read is
// not returned by it and raises no new edge: the event that announced it
// carries EPOLLRDHUP, which marks the connection (hangup) so that its
// reader reads on until it sees the end. An idle connection then costs no
// goroutine stack (4 KiB here) and no goroutine (480 bytes).
//
// The epoll descriptor is itself registered with Go's netpoller (through
// os.NewFile), so the poller's goroutine parks like any network read: no
// thread is blocked in epoll_wait. Sockets stay registered with the
// netpoller too, for the reads of active connections (with deadlines) and
// for writes.
type poller struct {
	epfd int
	f    *os.File // epfd, pollable
	rc   syscall.RawConn

	mu     sync.RWMutex // guards conns, next and closed; held (read) while epfd is used
	conns  map[uint64]*conn
	next   uint64
	closed bool

	readers readerPool

	// Event loop state, its goroutine only.
	events []syscall.EpollEvent
	n      int
	err    error
}

func newPoller() (*poller, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	if err := syscall.SetNonblock(epfd, true); err != nil {
		syscall.Close(epfd)
		return nil, err
	}
	f := os.NewFile(uintptr(epfd), "signal-epoll") // non-blocking: registered with the netpoller
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	p := &poller{epfd: epfd, f: f, rc: rc, conns: map[uint64]*conn{}, events: make([]syscall.EpollEvent, 128), readers: newReaderPool()}
	go p.loop()
	return p, nil
}

// loop starts a reader goroutine for every connection that becomes
// readable, until close.
func (p *poller) loop() {
	for {
		if err := p.rc.Read(p.wait); err != nil || p.err != nil {
			p.fail()
			return
		}
		p.mu.RLock()
		if p.closed {
			p.mu.RUnlock()
			return
		}
		for _, ev := range p.events[:p.n] {
			c := p.conns[uint64(uint32(ev.Fd))|uint64(uint32(ev.Pad))<<32]
			if c != nil {
				if ev.Events&(syscall.EPOLLRDHUP|syscall.EPOLLHUP|syscall.EPOLLERR) != 0 {
					// The client closed or reset: the end may be pending
					// behind the data a short read returns, with no edge
					// left to announce it.
					c.hangup.Store(true)
				}
				c.wake()
			}
		}
		p.mu.RUnlock()
		clear(p.events[:p.n])
	}
}

// wait is the netpoller callback: collect ready events without blocking,
// or report none to be woken when there are.
func (p *poller) wait(fd uintptr) bool {
	for {
		n, err := syscall.EpollWait(int(fd), p.events, 0)
		if err == syscall.EINTR {
			continue
		}
		p.n, p.err = max(n, 0), err
		return n > 0 || err != nil
	}
}

// add registers c. It is armed by arm.
func (p *poller) add(c *conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.next++
	c.pollID = p.next
	p.conns[c.pollID] = c
	return true
}

// remove forgets c; its socket leaves the epoll set when it is closed.
func (p *poller) remove(c *conn) {
	p.mu.Lock()
	delete(p.conns, c.pollID)
	p.mu.Unlock()
}

// fail stops parking when the loop ends: after close, or (should epoll
// ever fail) with connections parked, which it wakes; they then wait in
// their reads.
func (p *poller) fail() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.closed = true
	for _, c := range p.conns {
		c.wake()
	}
}

// arm adds c's socket to the epoll set, once. It reports false if it could
// not, or if the poller no longer runs.
func (p *poller) arm(c *conn) bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return false
	}
	if c.armed {
		return true
	}
	if c.armFn == nil {
		c.armFn = c.armSocket
	}
	// Control holds the socket open: its number cannot be reused by
	// another connection while epoll_ctl runs.
	if err := c.raw.Control(c.armFn); err != nil {
		return false
	}
	return c.armErr == nil
}

// armSocket is called by syscall.RawConn.Control with the socket.
func (c *conn) armSocket(fd uintptr) {
	ev := syscall.EpollEvent{
		Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | epollET,
		Fd:     int32(uint32(c.pollID)),
		Pad:    int32(uint32(c.pollID >> 32)),
	}
	c.armErr = syscall.EpollCtl(c.poll.epfd, syscall.EPOLL_CTL_ADD, int(fd), &ev)
	if c.armErr == nil {
		c.armed = true
	}
}

// start runs c's reader on a pooled goroutine.
func (p *poller) start(c *conn) { p.readers.start(c) }

// trim lets idle readers go.
func (p *poller) trim() { p.readers.trim() }

// close stops the poller once no connection uses it.
// epollET is EPOLLET as the uint32 of EpollEvent.Events.
const epollET = 1 << 31

func (p *poller) close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.f.Close()
	p.readers.close()
}
