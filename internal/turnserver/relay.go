package turnserver

import (
	"fmt"
	"net"
	"strconv"
	"sync/atomic"

	"github.com/pion/turn/v5"
)

// relaySocketBuffer is the buffer size asked for on each relay socket.
// There is one relay socket per allocation, so it is smaller than the
// listening sockets' buffer; buffers are limits, not preallocated memory.
const relaySocketBuffer = 1 << 20

// relayGenerator is the turn.RelayAddressGenerator of one listening
// socket. It binds relay sockets to the listen IP (or the wildcard address
// of PublicIP's family when listening on all addresses), so a relay is
// reachable wherever the server is, and advertises them at PublicIP. It
// offers UDP relays in PublicIP's address family only and no RFC 6062 TCP
// relays. Relay sockets are wrapped to count bytes and to release the
// user's quota when pion closes them.
type relayGenerator struct {
	srv       *Server
	network   string // "udp4" or "udp6": PublicIP's family
	bindHost  string
	advertise net.IP
	bytes     *byteCounter
}

func (s *Server) newRelayGenerator(bytes *byteCounter) *relayGenerator {
	g := &relayGenerator{srv: s, bytes: bytes, advertise: net.IP(s.st.publicIP.AsSlice())}
	listen := s.st.listenIP
	if s.st.publicIP.Is4() {
		g.network, g.bindHost = "udp4", "0.0.0.0"
		if listen.Is4() && !listen.IsUnspecified() {
			g.bindHost = listen.String()
		}
	} else {
		g.network, g.bindHost = "udp6", "::"
		if listen.Is6() && !listen.IsUnspecified() {
			g.bindHost = listen.String()
		}
	}
	return g
}

// Validate implements turn.RelayAddressGenerator.
func (g *relayGenerator) Validate() error { return nil }

// AllocatePacketConn implements turn.RelayAddressGenerator. pion calls it
// with the authenticated UserID for an allocation, after the QuotaHandler
// reserved one for that user, and with an empty UserID to probe for a free
// even port (EVEN-PORT), which holds no reservation.
func (g *relayGenerator) AllocatePacketConn(conf turn.AllocateListenerConfig) (net.PacketConn, net.Addr, error) {
	tracked := conf.UserID != ""
	pc, port, err := g.listen(conf)
	if err != nil {
		if tracked {
			g.srv.quota.release(conf.UserID)
		}
		return nil, nil, err
	}
	if tracked {
		g.srv.counters.allocations.Add(1)
		g.srv.counters.allocationsTotal.Add(1)
	}
	rc := &relayConn{PacketConn: pc, bytes: &g.bytes.n, srv: g.srv, user: conf.UserID, tracked: tracked}
	return rc, &net.UDPAddr{IP: g.advertise, Port: port}, nil
}

func (g *relayGenerator) listen(conf turn.AllocateListenerConfig) (net.PacketConn, int, error) {
	if conf.Network != g.network {
		return nil, 0, fmt.Errorf("%w: %s requested, %s offered", errAddressFamily, conf.Network, g.network)
	}
	pc, err := net.ListenPacket(g.network, net.JoinHostPort(g.bindHost, strconv.Itoa(conf.RequestedPort))) //nolint:noctx
	if err != nil {
		return nil, 0, err
	}
	if uc, ok := pc.(*net.UDPConn); ok {
		_ = uc.SetReadBuffer(relaySocketBuffer)
		_ = uc.SetWriteBuffer(relaySocketBuffer)
	}
	return pc, pc.LocalAddr().(*net.UDPAddr).Port, nil
}

// AllocateListener implements turn.RelayAddressGenerator. RFC 6062 TCP
// relays are refused: browsers do not use them, and they would let clients
// open TCP connections from the server.
func (g *relayGenerator) AllocateListener(conf turn.AllocateListenerConfig) (net.Listener, net.Addr, error) {
	if conf.UserID != "" {
		g.srv.quota.release(conf.UserID)
	}
	return nil, nil, errTCPRelayDisabled
}

// AllocateConn implements turn.RelayAddressGenerator; see AllocateListener.
func (g *relayGenerator) AllocateConn(turn.AllocateConnConfig) (net.Conn, error) {
	return nil, errTCPRelayDisabled
}

// relayConn is a relay socket that counts the bytes it carries and, once
// closed, releases its allocation from the user's quota and the count of
// open allocations.
type relayConn struct {
	net.PacketConn
	bytes   *atomic.Uint64
	srv     *Server
	user    string
	tracked bool
	closed  atomic.Bool
}

func (c *relayConn) ReadFrom(p []byte) (int, net.Addr, error) {
	n, addr, err := c.PacketConn.ReadFrom(p)
	if n > 0 {
		c.bytes.Add(uint64(n))
	}
	return n, addr, err
}

func (c *relayConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	n, err := c.PacketConn.WriteTo(p, addr)
	if n > 0 {
		c.bytes.Add(uint64(n))
	}
	return n, err
}

func (c *relayConn) Close() error {
	if c.closed.CompareAndSwap(false, true) && c.tracked {
		c.srv.quota.release(c.user)
		c.srv.counters.allocations.Add(-1)
		c.srv.notifyIdle()
	}
	return c.PacketConn.Close()
}
