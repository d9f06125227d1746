//go:build unix

package signal

import (
	"net"
	"syscall"
)

// rawConn returns the socket of a plain (not TLS) connection, for reads
// that take a buffer only once the socket is readable and writes that
// never wait; nil otherwise.
func rawConn(nc net.Conn) syscall.RawConn {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

// rawRead is called by syscall.RawConn.Read when the socket may be
// readable. It reads into c.in, taking a pooled buffer first if it has
// none, and reports false (wait for readability) on EAGAIN, after giving
// an empty buffer back: a connection waits for data holding no buffer.
func (c *conn) rawRead(fd uintptr) bool {
	if c.in == nil {
		c.in, c.r, c.w = getBuffer(0), 0, 0
	}
	for {
		n, err := syscall.Read(int(fd), c.in.b[c.w:])
		switch err {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			if c.r == c.w {
				putBuffer(c.in)
				c.in = nil
			}
			if c.noWait {
				c.eagain = true
				return true
			}
			return false
		}
		c.rn, c.rerr = max(n, 0), err
		return true
	}
}

// rawWrite is called by syscall.RawConn.Write: one write of c.wout that
// never waits. c.mu is held.
func (c *conn) rawWrite(fd uintptr) bool {
	for {
		n, err := syscall.Write(int(fd), c.wout)
		if err == syscall.EINTR {
			continue
		}
		if err == syscall.EAGAIN {
			err = nil
		}
		c.wn, c.werr = max(n, 0), err
		return true
	}
}
