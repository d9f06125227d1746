//go:build linux && !386 && !s390x

package udpbatch

import (
	"encoding/binary"
	"net/netip"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The system calls go through RawSyscall6, not Syscall6: Go's sockets are
// non-blocking, so recvmmsg and sendmmsg never wait (EAGAIN sends us to
// the netpoller instead), and skipping entersyscall and exitsyscall spares
// the scheduler its bookkeeping, above all waking sysmon on the first
// system call after every idle moment. A bursty relay is idle between
// bursts many thousand times a second; measured on the turn benchmark,
// this takes 20–30% off the server's CPU per packet (almost all of it from
// sendmmsg). The price is that a long sendmmsg (tens of microseconds for
// a full batch) holds its P like ordinary Go code would. In
// BenchmarkChannelDataForward's in-process round trip, where the client
// and the peer are goroutines of the server's own runtime, a lone packet's
// round trip is about a quarter slower with RawSyscall6 for sendmmsg;
// with the server in a process of its own, as deployed, round trips
// measured the same or faster.

// rawAddr holds a struct sockaddr_in or sockaddr_in6.
type rawAddr [unix.SizeofSockaddrInet6]byte

// readerSys is the recvmmsg state of a Reader. Its structures point into
// the Reader's buffers once, at NewReader.
type readerSys struct {
	hs    []unix.Mmsghdr
	iovs  []unix.Iovec
	names []rawAddr
	n     int
	err   error
	// readF is s.recvmmsg bound once, so that Read does not allocate a
	// closure for RawConn.Read.
	readF func(fd uintptr) bool
}

func (s *readerSys) init(r *Reader) {
	n := len(r.Msgs)
	s.hs = make([]unix.Mmsghdr, n)
	s.iovs = make([]unix.Iovec, n)
	s.names = make([]rawAddr, n)
	for i := range s.hs {
		buf := r.slots[i][r.headroom:]
		s.iovs[i].Base = &buf[0]
		s.iovs[i].SetLen(len(buf))
		h := &s.hs[i].Hdr
		h.Name = &s.names[i][0]
		h.Iov = &s.iovs[i]
		h.SetIovlen(1)
	}
	s.readF = s.recvmmsg
}

func (s *readerSys) read(r *Reader, c *Conn) (int, error) {
	s.prepare()
	if err := c.rc.Read(s.readF); err != nil {
		return 0, err
	}
	return s.finish(r)
}

// prepare resets what the kernel wrote into the headers of the last call.
func (s *readerSys) prepare() {
	for i := range s.hs {
		s.hs[i].Hdr.Namelen = uint32(len(rawAddr{}))
		s.hs[i].Hdr.Flags = 0
	}
	s.n, s.err = 0, nil
}

// finish fills r.Msgs from the headers of a successful call.
func (s *readerSys) finish(r *Reader) (int, error) {
	if s.err != nil {
		return 0, os.NewSyscallError("recvmmsg", s.err)
	}
	for i := range s.n {
		h := &s.hs[i]
		m := &r.Msgs[i]
		n := min(int(h.Len), len(r.slots[i])-r.headroom)
		m.Buf = r.slots[i][r.headroom : r.headroom+n]
		m.Truncated = h.Hdr.Flags&unix.MSG_TRUNC != 0
		m.Addr, m.Zone = decodeAddr(&s.names[i])
	}
	return s.n, nil
}

// recvmmsg is the RawConn.Read callback: it reports false when nothing is
// queued, so that RawConn.Read waits until the socket is readable.
func (s *readerSys) recvmmsg(fd uintptr) bool {
	for {
		n, _, errno := unix.RawSyscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&s.hs[0])), uintptr(len(s.hs)), 0, 0, 0)
		switch errno {
		case 0:
			s.n = int(n)
			return true
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		default:
			s.err = errno
			return true
		}
	}
}

// pooledSys is the RawConn.Read state of a PooledReader.
type pooledSys struct {
	// readF is s.recvmmsg bound once.
	readF func(fd uintptr) bool
}

func (s *pooledSys) init(pr *PooledReader) {
	s.readF = func(fd uintptr) bool {
		if pr.r == nil {
			pr.r = pr.pool.get()
		}
		sys := &pr.r.sys
		sys.prepare()
		if !sys.recvmmsg(fd) {
			// Nothing queued: give the buffers back while waiting.
			pr.pool.put(pr.r)
			pr.r = nil
			return false
		}
		return true
	}
}

func (s *pooledSys) read(pr *PooledReader, c *Conn) (int, error) {
	if err := c.rc.Read(s.readF); err != nil {
		return 0, err
	}
	return pr.r.sys.finish(pr.r)
}

// GSO limits: segments per super-datagram (the kernel's UDP_MAX_SEGMENTS
// is 64 on older kernels) and bytes (an IPv4 datagram's payload).
const (
	maxSegments = 64
	maxGSOBytes = 65000
)

// gsoSpace is the control message space of a UDP_SEGMENT option.
var gsoSpace = unix.CmsgSpace(2)

// writerSys is the sendmmsg state of a Writer. With GSO, a run of
// datagrams to one address whose sizes are equal (the last may be
// shorter) goes as one message with a UDP_SEGMENT option: the kernel
// builds and routes one large datagram and cuts it into the original
// datagrams only at the end of its path.
type writerSys struct {
	hs    []unix.Mmsghdr
	iovs  []unix.Iovec // one per datagram
	names []rawAddr    // one per message
	ctrl  []byte       // gsoSpace per message
	segs  []int        // datagrams per message
	first []int        // index of each message's first datagram
	m     int          // messages built
	off   int          // next message to send
	sent  int          // datagrams accepted
	err   error
	// gsoErr is set when a GSO message was refused as such.
	gsoErr bool
	writeF func(fd uintptr) bool
}

func (s *writerSys) init(w *Writer) {
	n := len(w.bufs)
	s.hs = make([]unix.Mmsghdr, n)
	s.iovs = make([]unix.Iovec, n)
	s.names = make([]rawAddr, n)
	s.ctrl = make([]byte, n*gsoSpace)
	s.segs = make([]int, n)
	s.first = make([]int, n)
	for i := range s.hs {
		s.hs[i].Hdr.Name = &s.names[i][0]
	}
	s.writeF = s.sendmmsg
}

func (s *writerSys) flush(w *Writer, c *Conn) (int, error) {
	total := 0
	var firstErr error
	for start := 0; start < w.n; {
		gso := c.gso && !c.gsoOff.Load()
		s.build(w, c, start, gso)
		s.off, s.sent, s.err, s.gsoErr = 0, 0, nil, false
		err := c.rc.Write(s.writeF)
		total += s.sent
		if err != nil {
			firstErr = err
			break
		}
		if s.err != nil && firstErr == nil {
			firstErr = os.NewSyscallError("sendmmsg", s.err)
		}
		if !s.gsoErr {
			break
		}
		// The kernel or the route refused GSO: send the rest one
		// datagram per message from the refused message on.
		c.gsoOff.Store(true)
		start = s.first[s.off]
		firstErr = nil
	}
	for i := range w.n {
		s.iovs[i].Base = nil // do not keep the caller's buffers alive
	}
	return total, firstErr
}

// build turns datagrams start… of w into messages.
func (s *writerSys) build(w *Writer, c *Conn, start int, gso bool) {
	s.m = 0
	for i := start; i < w.n; {
		size := len(w.bufs[i])
		j := i + 1
		if gso && size > 0 {
			for j < w.n && j-i < maxSegments && (j-i+1)*size <= maxGSOBytes &&
				w.addrs[j] == w.addrs[i] && len(w.bufs[j]) <= size && len(w.bufs[j]) > 0 {
				j++
				if len(w.bufs[j-1]) < size {
					break // a shorter datagram can only end a run
				}
			}
		}
		for k := i; k < j; k++ {
			b := w.bufs[k]
			s.iovs[k].Base = nil
			if len(b) > 0 {
				s.iovs[k].Base = &b[0]
			}
			s.iovs[k].SetLen(len(b))
		}
		h := &s.hs[s.m].Hdr
		h.Iov = &s.iovs[i]
		h.SetIovlen(j - i)
		h.Namelen = encodeAddr(&s.names[s.m], w.addrs[i], c.v6)
		h.Control = nil
		h.SetControllen(0)
		if j-i > 1 {
			ctrl := s.ctrl[s.m*gsoSpace : (s.m+1)*gsoSpace]
			cm := (*unix.Cmsghdr)(unsafe.Pointer(&ctrl[0]))
			cm.Level, cm.Type = unix.SOL_UDP, unix.UDP_SEGMENT
			cm.SetLen(unix.CmsgLen(2))
			binary.NativeEndian.PutUint16(ctrl[unix.CmsgLen(0):], uint16(size))
			h.Control = &ctrl[0]
			h.SetControllen(gsoSpace)
		}
		s.segs[s.m], s.first[s.m] = j-i, i
		s.m++
		i = j
	}
}

func (s *writerSys) sendmmsg(fd uintptr) bool {
	for s.off < s.m {
		n, _, errno := unix.RawSyscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&s.hs[s.off])), uintptr(s.m-s.off), 0, 0, 0)
		switch errno {
		case 0:
			for k := s.off; k < s.off+int(n); k++ {
				s.sent += s.segs[k]
			}
			s.off += int(n)
		case unix.EINTR:
		case unix.EAGAIN:
			return false // wait until writable
		default:
			if s.segs[s.off] > 1 && gsoRefusal(errno) {
				s.gsoErr = true
				return true
			}
			// sendmmsg reports an error only for the first message
			// it was given: skip that one and go on.
			if s.err == nil {
				s.err = errno
			}
			s.off++
		}
	}
	return true
}

// gsoRefusal reports an error with which the kernel refuses a GSO
// message as such (no checksum offload on the route, no support).
func gsoRefusal(errno syscall.Errno) bool {
	return errno == unix.EIO || errno == unix.EINVAL || errno == unix.EOPNOTSUPP || errno == unix.ENOPROTOOPT
}

// decodeAddr reads a sockaddr_in or sockaddr_in6, unmapping IPv4-mapped
// addresses.
func decodeAddr(b *rawAddr) (netip.AddrPort, uint32) {
	port := binary.BigEndian.Uint16(b[2:4])
	switch binary.NativeEndian.Uint16(b[0:2]) {
	case unix.AF_INET:
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[4:8])), port), 0
	case unix.AF_INET6:
		ip := netip.AddrFrom16([16]byte(b[8:24])).Unmap()
		return netip.AddrPortFrom(ip, port), binary.NativeEndian.Uint32(b[24:28])
	}
	return netip.AddrPort{}, 0
}

// encodeAddr writes ap as a sockaddr for a socket of the given family and
// returns its length; 0 (which the kernel refuses for an unconnected
// socket) when ap cannot be reached from it. IPv6 zones are not written.
func encodeAddr(b *rawAddr, ap netip.AddrPort, v6 bool) uint32 {
	ip := ap.Addr()
	if !v6 {
		if ip = ip.Unmap(); !ip.Is4() {
			return 0
		}
		binary.NativeEndian.PutUint16(b[0:2], unix.AF_INET)
		binary.BigEndian.PutUint16(b[2:4], ap.Port())
		a4 := ip.As4()
		copy(b[4:8], a4[:])
		clear(b[8:16])
		return unix.SizeofSockaddrInet4
	}
	if !ip.IsValid() {
		return 0
	}
	binary.NativeEndian.PutUint16(b[0:2], unix.AF_INET6)
	binary.BigEndian.PutUint16(b[2:4], ap.Port())
	clear(b[4:8]) // flow info
	a16 := ip.As16()
	copy(b[8:24], a16[:])
	clear(b[24:28]) // scope
	return unix.SizeofSockaddrInet6
}

// gsoSupported reports whether the kernel takes UDP_SEGMENT (Linux 4.18).
func gsoSupported(rc syscall.RawConn) bool {
	var serr error
	err := rc.Control(func(fd uintptr) {
		_, serr = unix.GetsockoptInt(int(fd), unix.SOL_UDP, unix.UDP_SEGMENT)
	})
	return err == nil && serr == nil
}

// isIPv6Socket reports whether the socket's family is AF_INET6.
func isIPv6Socket(rc syscall.RawConn) (bool, error) {
	var domain int
	var serr error
	err := rc.Control(func(fd uintptr) {
		domain, serr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_DOMAIN)
	})
	if err == nil {
		err = serr
	}
	return domain == unix.AF_INET6, err
}

// batched reports whether reads and writes use recvmmsg and sendmmsg.
const batched = true
