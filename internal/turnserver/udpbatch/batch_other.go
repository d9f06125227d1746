//go:build !linux || 386 || s390x

package udpbatch

import (
	"net/netip"
	"syscall"
)

// readerSys reads one datagram per system call.
type readerSys struct{}

func (s *readerSys) init(*Reader) {}

func (s *readerSys) read(r *Reader, c *Conn) (int, error) {
	buf := r.slots[0][r.headroom:]
	n, ap, err := c.uc.ReadFromUDPAddrPort(buf)
	if err != nil {
		return 0, err
	}
	r.Msgs[0] = Msg{Buf: buf[:n], Addr: netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())}
	return 1, nil
}

// pooledSys holds a Reader while it waits.
type pooledSys struct{}

func (s *pooledSys) init(*PooledReader) {}

func (s *pooledSys) read(pr *PooledReader, c *Conn) (int, error) {
	if pr.r == nil {
		pr.r = pr.pool.get()
	}
	return pr.r.Read(c)
}

// writerSys writes one datagram per system call.
type writerSys struct{}

func (s *writerSys) init(*Writer) {}

func (s *writerSys) flush(w *Writer, c *Conn) (int, error) {
	sent := 0
	var first error
	for i := range w.n {
		to := w.addrs[i]
		if !c.v6 {
			to = netip.AddrPortFrom(to.Addr().Unmap(), to.Port())
		}
		if _, err := c.uc.WriteToUDPAddrPort(w.bufs[i], to); err != nil {
			if first == nil {
				first = err
			}
			continue
		}
		sent++
	}
	return sent, first
}

func isIPv6Socket(syscall.RawConn) (bool, error) { return false, nil }

func gsoSupported(syscall.RawConn) bool { return false }

// batched reports whether reads and writes use recvmmsg and sendmmsg.
const batched = false
