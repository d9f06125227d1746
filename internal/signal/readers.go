package signal

import "sync/atomic"

// readerPool runs woken connections' readers on goroutines that are kept
// for the next one. A new goroutine's stack starts small and grows, by
// copying, while it handles a message, and a grown stack is freed when its
// goroutine ends: starting a goroutine per wake-up spent a tenth of the
// relay's CPU copying stacks. Readers are kept up to maxIdleReaders; at
// every sweep of the server (trim), half of those that stayed idle through
// the whole interval end, so that a burst does not hold memory for long
// while a steady load keeps its readers.
type readerPool struct {
	work chan *conn   // unbuffered: a send succeeds only to an idle reader; nil asks one to end
	idle atomic.Int32 // readers waiting on work
	// lowIdle is the fewest idle readers since the last trim.
	lowIdle atomic.Int32
}

const (
	maxIdleReaders = 256
	minIdleReaders = 4 // trim keeps these
	// readerStack is the stack a reader grows to at once, in one cheap
	// copy of a shallow stack, rather than in steps while deep in a
	// message.
	readerStack = 6 << 10
)

func newReaderPool() readerPool { return readerPool{work: make(chan *conn)} }

// start runs c.run on an idle reader, or on a new one.
func (p *readerPool) start(c *conn) {
	select {
	case p.work <- c:
	default:
		go p.reader(c)
	}
}

func (p *readerPool) reader(c *conn) {
	growStack()
	for c != nil {
		c.run()
		c = p.next()
	}
}

// next waits for the next connection to run; nil means end.
func (p *readerPool) next() *conn {
	if p.idle.Add(1) > maxIdleReaders {
		p.idle.Add(-1)
		return nil
	}
	c := <-p.work
	if c == nil {
		return nil // trim counted us out, or the pool is closed
	}
	n := p.idle.Add(-1)
	for low := p.lowIdle.Load(); n < low && !p.lowIdle.CompareAndSwap(low, n); low = p.lowIdle.Load() {
	}
	return c
}

// trim ends half of the readers, above minIdleReaders, that were idle
// through the whole interval since the last trim.
func (p *readerPool) trim() {
	for n := (p.lowIdle.Load() - minIdleReaders) / 2; n > 0; n-- {
		select {
		case p.work <- nil:
			p.idle.Add(-1)
		default:
			n = 0
		}
	}
	p.lowIdle.Store(p.idle.Load())
}

// close ends the idle readers. start must not be called after.
func (p *readerPool) close() { close(p.work) }

// growStack grows the calling goroutine's stack to hold readerStack bytes.
//
//go:noinline
func growStack() {
	var b [readerStack]byte
	stackSink(b[:])
}

//go:noinline
func stackSink([]byte) {}
