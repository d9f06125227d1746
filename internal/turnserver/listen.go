package turnserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// listenSocketBuffer is the receive and send buffer asked for on each
// listening UDP socket. Linux caps it at net.core.rmem_max / wmem_max
// (4 MiB on peercall's hosts); pion's default is the kernel's ~208 KB,
// which drops bursts of video under load.
const listenSocketBuffer = 4 << 20

// bindAttempts is how often a port-0 listen is retried when the free UDP
// port the kernel picked is taken for TCP.
const bindAttempts = 10

// sockets are the server's listening sockets, all on one port.
type sockets struct {
	udp []net.PacketConn
	tcp net.Listener
}

func (ss *sockets) close() {
	for _, c := range ss.udp {
		_ = c.Close()
	}
	if ss.tcp != nil {
		_ = ss.tcp.Close()
	}
}

// listen binds st.sockets UDP sockets with SO_REUSEPORT and one TCP
// listener on the same IP and port. With port 0 it takes a free UDP port
// and retries when that port turns out to be taken for TCP, or is taken
// between the probe and the SO_REUSEPORT binds.
func listen(st *settings) (*sockets, error) {
	attempts := 1
	if st.listenPort == 0 {
		attempts = bindAttempts
	}
	var err error
	for range attempts {
		var ss *sockets
		ss, err = listenOnce(st)
		if err == nil {
			return ss, nil
		}
		if !errors.Is(err, syscall.EADDRINUSE) || st.listenPort != 0 {
			break
		}
	}
	return nil, fmt.Errorf("%w on %s: %w", ErrListen, netip.AddrPortFrom(st.listenIP, uint16(st.listenPort)), err)
}

func listenOnce(st *settings) (*sockets, error) {
	ctx := context.Background()
	udpNet, tcpNet := st.network, "tcp"+st.network[len("udp"):]
	host := st.listenIP.String()

	// Probe the port with a socket without SO_REUSEPORT: it fails if any
	// socket holds the port, including another server's SO_REUSEPORT
	// group, which the sockets below would otherwise silently join (Linux
	// lets sockets of the same user share the port) and steal half its
	// clients. With port 0 it also picks the port.
	probe, err := net.ListenPacket(udpNet, net.JoinHostPort(host, strconv.Itoa(st.listenPort))) //nolint:noctx
	if err != nil {
		return nil, err
	}
	port := probe.LocalAddr().(*net.UDPAddr).Port
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	ss := &sockets{}
	ss.tcp, err = (&net.ListenConfig{}).Listen(ctx, tcpNet, addr)
	_ = probe.Close()
	if err != nil {
		return nil, err
	}

	lc := net.ListenConfig{Control: reusePort}
	for range st.sockets {
		pc, err := lc.ListenPacket(ctx, udpNet, addr)
		if err != nil {
			ss.close()
			return nil, err
		}
		if uc, ok := pc.(*net.UDPConn); ok {
			// Best effort: the kernel silently caps at rmem_max/wmem_max.
			_ = uc.SetReadBuffer(listenSocketBuffer)
			_ = uc.SetWriteBuffer(listenSocketBuffer)
		}
		ss.udp = append(ss.udp, pc)
	}
	return ss, nil
}

// reusePort sets SO_REUSEPORT so several sockets share one UDP port. Linux
// only lets sockets of the same effective user join the group.
func reusePort(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	})
	if err != nil {
		return err
	}
	return serr
}
