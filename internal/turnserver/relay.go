package turnserver

import (
	"fmt"
	"net"
	"strconv"
	"sync/atomic"

	"github.com/pion/turn/v5"

	"github.com/peercall/peercall/internal/turnserver/udpbatch"
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
	// listener is the listening UDP socket whose allocations this
	// generator serves, when they take the fast path; nil for TCP and
	// TLS listeners and with Config.PionDataPath.
	listener *listenConn
}

func (s *Server) newRelayGenerator(bytes *byteCounter, listener *listenConn) *relayGenerator {
	g := &relayGenerator{srv: s, bytes: bytes, listener: listener, advertise: net.IP(s.st.publicIP.AsSlice())}
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
	relayAddr := &net.UDPAddr{IP: g.advertise, Port: port}
	if tracked && g.listener != nil {
		g.addFastPath(rc, relayAddr)
	}
	return rc, relayAddr, nil
}

// addFastPath gives rc the fast path and registers it for pion's channel
// events. Without it (should the socket not support it), the relay simply
// stays on pion's path.
func (g *relayGenerator) addFastPath(rc *relayConn, relayAddr *net.UDPAddr) {
	uc, ok := rc.PacketConn.(*net.UDPConn)
	if !ok {
		return
	}
	bc, err := udpbatch.New(uc)
	if err != nil {
		g.srv.st.logger.Debug("turn relay without fast path", "relay", relayAddr, "err", err)
		return
	}
	key, ok := addrPortOf(relayAddr)
	if !ok {
		return
	}
	rc.fast = &relayFast{
		bc:       bc,
		listener: g.listener,
		addr:     key,
		pr:       g.srv.relayReaders.NewReader(),
		pending:  make([]int, 0, relayBatch),
	}
	g.srv.mu.Lock()
	g.srv.relays[key] = rc
	g.srv.mu.Unlock()
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
// open allocations. With fast set, ReadFrom forwards data from peers with
// a channel itself (see fastpath.go).
type relayConn struct {
	net.PacketConn
	bytes   *atomic.Uint64
	srv     *Server
	user    string
	tracked bool
	closed  atomic.Bool
	fast    *relayFast // nil: everything goes through pion
}

func (c *relayConn) ReadFrom(p []byte) (int, net.Addr, error) {
	if c.fast != nil {
		return c.readFast(p)
	}
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
	if c.closed.CompareAndSwap(false, true) {
		if c.fast != nil {
			c.dropChannels()
			c.srv.mu.Lock()
			if c.srv.relays[c.fast.addr] == c {
				delete(c.srv.relays, c.fast.addr)
			}
			c.srv.mu.Unlock()
		}
		if c.tracked {
			c.srv.quota.release(c.user)
			c.srv.counters.allocations.Add(-1)
			c.srv.notifyIdle()
		}
	}
	return c.PacketConn.Close()
}
