package turnserver

import (
	"encoding/binary"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/peercall/peercall/internal/turnserver/udpbatch"
)

// The fast path forwards relayed data on bound channels over UDP, in both
// directions, without handing each packet to pion/turn.
//
// pion/turn reads one datagram per system call and runs every ChannelData
// packet through its generic request handler, which allocates several
// times per packet: debug-log arguments (a []any, and the client address
// formatted with String() even when debug logging is off), and, from peer
// to client, the ChannelData encoding. It also writes one datagram per
// system call.
//
// Here pion still does all of TURN's control: authentication, quotas,
// allocations, permissions, the peer filter and channel bindings, with
// their lifetimes. The server learns of each channel pion binds, and of
// its removal, from pion's OnChannelCreated and OnChannelDeleted events,
// and keeps the routes in two tables:
//
//   - per listening socket, (client address, channel number) -> (relay
//     socket, peer address), for ChannelData from clients;
//   - per relay socket, peer address -> channel number, for data from
//     peers.
//
// Each listening socket is read in batches (recvmmsg) by pion's read loop
// for it, through listenConn.ReadFrom: ChannelData on a known route is
// written to its peer from the relay socket right away, in batches
// (sendmmsg), and only the rest (STUN requests and indications, unknown
// channels) is returned to pion. Likewise each relay socket is read in
// batches by pion's relay loop through relayConn.ReadFrom: data from a
// peer with a channel gets its ChannelData header in front of it, in the
// same buffer, and is written to the client in batches; data from peers
// with only a permission (Data indications) is returned to pion.
//
// The forwarding decisions are pion's own: a ChannelData packet is relayed
// when its client's allocation has that channel bound, and a peer's packet
// is relayed as ChannelData when the allocation has a channel to that peer
// (pion checks no permission in either case, since a channel binding
// installs one). Routes exist only for channels pion bound after its peer
// filter allowed the peer, and go away with the channel, the allocation
// or the relay socket. Packets longer than pion would accept are left to
// pion, which drops them.
//
// Nothing on the fast path allocates: see TestTheFastPathAllocatesNothing.

const (
	// listenBatch is the number of datagrams read per system call on a
	// listening socket, and the most written per relay per call.
	listenBatch = 64
	// listenSlot is the buffer per datagram on a listening socket, larger
	// than inboundMTU so that oversized datagrams are recognised.
	listenSlot = 2048
	// inboundMTU is pion's limit for datagrams from clients (its
	// defaultInboundMTU): longer ones are dropped.
	inboundMTU = 1600
	// relayBatch is the number of datagrams read per system call on a
	// relay socket.
	relayBatch = 32
	// relayMTU is pion's read buffer on relay sockets (rtpMTU).
	relayMTU = 1600
	// relaySlot holds a datagram of relayMTU after the ChannelData header
	// and padding to 4 bytes.
	relaySlot = relayMTU + channelHeader + 4
	// channelHeader is the size of the ChannelData header: channel number
	// and length, 16 bits each.
	channelHeader = 4
	// maxRelayGroups is the number of relay sockets one batch from a
	// listening socket is written to before they are flushed.
	maxRelayGroups = 8
)

// chanKey identifies a channel on a listening socket.
type chanKey struct {
	client netip.AddrPort
	number uint16
}

// route is where ChannelData on a channel goes.
type route struct {
	relay *relayConn
	peer  netip.AddrPort
}

// listenConn is a listening UDP socket as pion/turn sees it: ReadFrom
// forwards ChannelData on known routes itself and returns the rest.
type listenConn struct {
	*net.UDPConn
	bc  *udpbatch.Conn
	srv *Server

	mu     sync.RWMutex // guards routes
	routes map[chanKey]route

	// The read state below is used only by the goroutine in ReadFrom
	// (pion's read loop for this socket).
	rd       *udpbatch.Reader
	pending  []int // indexes in rd.Msgs of datagrams for pion
	next     int   // pending[next] is returned next
	found    [listenBatch]route
	payloads [listenBatch][]byte
	groups   [maxRelayGroups]relayGroup
	ngroups  int
}

// relayGroup collects the datagrams of one batch for one relay socket.
type relayGroup struct {
	relay *relayConn
	w     *udpbatch.Writer
	bytes int
}

func (s *Server) newListenConn(uc *net.UDPConn) (*listenConn, error) {
	bc, err := udpbatch.New(uc)
	if err != nil {
		return nil, err
	}
	l := &listenConn{
		UDPConn: uc,
		bc:      bc,
		srv:     s,
		routes:  make(map[chanKey]route),
		rd:      udpbatch.NewReader(listenBatch, listenSlot, 0),
		pending: make([]int, 0, listenBatch),
	}
	for i := range l.groups {
		l.groups[i].w = udpbatch.NewWriter(listenBatch)
	}
	return l, nil
}

// ReadFrom returns the next datagram that pion has to handle, forwarding
// ChannelData on known routes in between.
func (l *listenConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		if l.next < len(l.pending) {
			m := &l.rd.Msgs[l.pending[l.next]]
			l.next++
			// A datagram longer than p comes back as len(p) bytes,
			// which pion drops as oversized.
			return copy(p, m.Buf), slowAddr(m), nil
		}
		l.pending, l.next = l.pending[:0], 0
		n, err := l.rd.Read(l.bc)
		if err != nil {
			return 0, nil, err
		}
		l.forward(n)
	}
}

// forward relays the batch's ChannelData on known routes and queues the
// rest for pion.
func (l *listenConn) forward(n int) {
	l.mu.RLock()
	for i := range n {
		m := &l.rd.Msgs[i]
		l.found[i] = route{}
		if m.Truncated || len(m.Buf) >= inboundMTU || m.Zone != 0 {
			continue
		}
		number, payload, ok := parseChannelData(m.Buf)
		if !ok {
			continue
		}
		l.found[i] = l.routes[chanKey{client: m.Addr, number: number}]
		l.payloads[i] = payload
	}
	l.mu.RUnlock()
	for i := range n {
		r := l.found[i]
		if r.relay == nil {
			l.pending = append(l.pending, i)
			continue
		}
		g := l.group(r.relay)
		g.w.Add(l.payloads[i], r.peer)
		g.bytes += len(l.payloads[i])
		l.found[i], l.payloads[i] = route{}, nil
	}
	l.flush()
}

// group returns the batch's group for relay, flushing the others when all
// are taken.
func (l *listenConn) group(relay *relayConn) *relayGroup {
	for i := range l.ngroups {
		if l.groups[i].relay == relay {
			return &l.groups[i]
		}
	}
	if l.ngroups == len(l.groups) {
		l.flush()
	}
	g := &l.groups[l.ngroups]
	l.ngroups++
	g.relay = relay
	return g
}

// flush writes every group from its relay socket.
func (l *listenConn) flush() {
	for i := range l.ngroups {
		g := &l.groups[i]
		queued := g.w.Len()
		sent, _ := g.w.Flush(g.relay.fast.bc) // a closed relay drops its packets
		g.relay.countFast(sent, queued, g.bytes)
		g.relay, g.bytes = nil, 0
	}
	l.ngroups = 0
}

func (l *listenConn) addRoute(k chanKey, r route) {
	l.mu.Lock()
	l.routes[k] = r
	l.mu.Unlock()
}

// removeRoute removes k if it still leads to relay.
func (l *listenConn) removeRoute(k chanKey, relay *relayConn) {
	l.mu.Lock()
	if l.routes[k].relay == relay {
		delete(l.routes, k)
	}
	l.mu.Unlock()
}

// parseChannelData returns the channel number and payload of a ChannelData
// message as pion decodes it: a channel number in 0x4000–0x7FFF and a
// length that fits the datagram (trailing padding is ignored).
func parseChannelData(b []byte) (uint16, []byte, bool) {
	if len(b) < channelHeader {
		return 0, nil, false
	}
	number := binary.BigEndian.Uint16(b[0:2])
	length := int(binary.BigEndian.Uint16(b[2:4]))
	if number < 0x4000 || number > 0x7FFF || length > len(b)-channelHeader {
		return 0, nil, false
	}
	return number, b[channelHeader : channelHeader+length], true
}

// slowAddr is the sender of a datagram handed to pion.
func slowAddr(m *udpbatch.Msg) net.Addr {
	a := net.UDPAddrFromAddrPort(m.Addr)
	if m.Zone != 0 {
		a.Zone = strconv.FormatUint(uint64(m.Zone), 10)
	}
	return a
}

// addrPortOf converts a UDP address from pion, unmapping IPv4-mapped
// addresses; ok is false for other addresses and for zoned ones, which
// stay on pion's path.
func addrPortOf(a net.Addr) (netip.AddrPort, bool) {
	u, ok := a.(*net.UDPAddr)
	if !ok || u.Zone != "" {
		return netip.AddrPort{}, false
	}
	ip, ok := netip.AddrFromSlice(u.IP)
	if !ok || u.Port <= 0 || u.Port > 0xffff {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(ip.Unmap(), uint16(u.Port)), true
}

// relayFast is the fast-path state of a relay socket whose allocation's
// client is on a listening UDP socket.
type relayFast struct {
	bc       *udpbatch.Conn
	listener *listenConn    // the client's listening socket
	addr     netip.AddrPort // advertised relay address, the key in Server.relays
	chans    atomic.Pointer[relayChannels]
	mu       sync.Mutex // serializes replacing chans; taken before listenConn.mu

	// The read state below is used only by the goroutine in ReadFrom
	// (pion's relay loop for this allocation).
	pr      *udpbatch.PooledReader
	rd      *udpbatch.Reader // holds the datagrams of pending; nil when none
	pending []int
	next    int
}

// relayChannels are the channels of one allocation. A value is never
// changed once stored; updates store a copy.
type relayChannels struct {
	client netip.AddrPort
	peers  map[netip.AddrPort]uint16 // peer -> channel number
}

// readFast is relayConn.ReadFrom with the fast path: it returns the next
// datagram for pion, forwarding data on channels in between.
func (c *relayConn) readFast(p []byte) (int, net.Addr, error) {
	f := c.fast
	for {
		if f.next < len(f.pending) {
			m := &f.rd.Msgs[f.pending[f.next]]
			f.next++
			n := copy(p, m.Buf)
			c.bytes.Add(uint64(n))
			return n, slowAddr(m), nil
		}
		f.pending, f.next = f.pending[:0], 0
		rd, n, err := f.pr.Read(f.bc) // releases the previous batch's buffers
		f.rd = rd
		if err != nil {
			return 0, nil, err
		}
		c.forward(rd, n)
	}
}

// forward writes the batch's data from peers with a channel to the client
// as ChannelData and queues the rest for pion.
func (c *relayConn) forward(rd *udpbatch.Reader, n int) {
	f := c.fast
	chans := f.chans.Load()
	if chans == nil {
		for i := range n {
			f.pending = append(f.pending, i)
		}
		return
	}
	w := c.srv.writers.Get().(*udpbatch.Writer)
	bytes := 0
	for i := range n {
		m := &rd.Msgs[i]
		number, ok := chans.peers[m.Addr]
		if !ok || m.Zone != 0 || m.Truncated {
			f.pending = append(f.pending, i)
			continue
		}
		// The header goes into the headroom in front of the datagram,
		// and zero padding to a multiple of 4 bytes after it, as pion
		// encodes ChannelData.
		slot := rd.Slot(i)
		size := len(m.Buf)
		padded := (size + 3) &^ 3
		binary.BigEndian.PutUint16(slot[0:2], number)
		binary.BigEndian.PutUint16(slot[2:4], uint16(size))
		clear(slot[channelHeader+size : channelHeader+padded])
		w.Add(slot[:channelHeader+padded], chans.client)
		bytes += size
	}
	if queued := w.Len(); queued > 0 {
		sent, _ := w.Flush(f.listener.bc)
		c.countFast(sent, queued, bytes)
	}
	c.srv.writers.Put(w)
}

// countFast adds sent of queued fast-path datagrams, carrying bytes of
// payload in all, to the counters.
func (c *relayConn) countFast(sent, queued, bytes int) {
	if sent <= 0 {
		return
	}
	if sent < queued {
		bytes = bytes * sent / queued
	}
	c.bytes.Add(uint64(bytes))
	c.srv.counters.fastPackets.Add(uint64(sent))
}

// addChannel records a channel pion bound on this relay's allocation.
func (c *relayConn) addChannel(client, peer netip.AddrPort, number uint16) {
	f := c.fast
	f.mu.Lock()
	old := f.chans.Load()
	if c.closed.Load() || old != nil && old.client != client {
		f.mu.Unlock()
		return // closed, or not this allocation's client: leave it to pion
	}
	next := &relayChannels{client: client, peers: make(map[netip.AddrPort]uint16)}
	if old != nil {
		for p, n := range old.peers {
			next.peers[p] = n
		}
	}
	next.peers[peer] = number
	f.chans.Store(next)
	// Under f.mu, so that a concurrent Close (dropChannels) cannot miss
	// the route. Lock order: relayFast.mu, then listenConn.mu.
	f.listener.addRoute(chanKey{client: client, number: number}, route{relay: c, peer: peer})
	f.mu.Unlock()
}

// removeChannel forgets a channel pion removed.
func (c *relayConn) removeChannel(client, peer netip.AddrPort, number uint16) {
	f := c.fast
	f.listener.removeRoute(chanKey{client: client, number: number}, c)
	f.mu.Lock()
	defer f.mu.Unlock()
	old := f.chans.Load()
	if old == nil || old.client != client || old.peers[peer] != number {
		return
	}
	next := &relayChannels{client: client, peers: make(map[netip.AddrPort]uint16, len(old.peers))}
	for p, n := range old.peers {
		if p != peer {
			next.peers[p] = n
		}
	}
	f.chans.Store(next)
}

// dropChannels forgets every channel of a closing relay.
func (c *relayConn) dropChannels() {
	f := c.fast
	f.mu.Lock()
	old := f.chans.Swap(nil)
	f.mu.Unlock()
	if old == nil {
		return
	}
	for _, number := range old.peers {
		f.listener.removeRoute(chanKey{client: old.client, number: number}, c)
	}
}

// onChannelCreated is pion's OnChannelCreated event.
func (s *Server) onChannelCreated(src, _ net.Addr, _, _, _ string, relayAddr, peer net.Addr, number uint16) {
	if rc, client, peerAP, ok := s.channelRelay(src, relayAddr, peer); ok {
		rc.addChannel(client, peerAP, number)
	}
}

// onChannelDeleted is pion's OnChannelDeleted event.
func (s *Server) onChannelDeleted(src, _ net.Addr, _, _, _ string, relayAddr, peer net.Addr, number uint16) {
	if rc, client, peerAP, ok := s.channelRelay(src, relayAddr, peer); ok {
		rc.removeChannel(client, peerAP, number)
	}
}

// channelRelay finds the fast relay socket of a channel event.
func (s *Server) channelRelay(src, relayAddr, peer net.Addr) (*relayConn, netip.AddrPort, netip.AddrPort, bool) {
	relay, ok1 := addrPortOf(relayAddr)
	client, ok2 := addrPortOf(src)
	peerAP, ok3 := addrPortOf(peer)
	if !ok1 || !ok2 || !ok3 {
		return nil, client, peerAP, false
	}
	s.mu.Lock()
	rc := s.relays[relay]
	s.mu.Unlock()
	return rc, client, peerAP, rc != nil
}
