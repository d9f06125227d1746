package turnserver

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/peercall/peercall/internal/testutil"
	"github.com/peercall/peercall/internal/turnserver/turnclient"
)

// rawClient is a TURN client whose data the test writes and reads itself.
type rawClient struct {
	*turnclient.Client
	conn  *net.UDPConn
	relay netip.AddrPort
}

// allocateRaw allocates a relay for user on s's UDP port, from 127.0.0.1.
func allocateRaw(t testing.TB, s *Server, user string) *rawClient {
	t.Helper()
	return allocateRawFrom(t, s, user, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(s.UDPAddr().Port)))
}

// allocateRawFrom allocates a relay for user on the server at server,
// from a loopback address of server's family.
func allocateRawFrom(t testing.TB, s *Server, user string, server netip.AddrPort) *rawClient {
	t.Helper()
	local := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}
	if server.Addr().Is6() {
		local = &net.UDPAddr{IP: net.IPv6loopback}
	}
	conn, err := net.ListenUDP("udp", local)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	u, p, _ := s.Credentials(user)
	c := turnclient.New(conn, server, u, p)
	relay, err := c.Allocate()
	if err != nil {
		t.Fatalf("Allocate: %v", err)
	}
	return &rawClient{Client: c, conn: conn, relay: relay}
}

func peerAddr(peer *net.UDPConn) netip.AddrPort {
	return peer.LocalAddr().(*net.UDPAddr).AddrPort()
}

// readFrom reads one datagram within waitFor.
func readFrom(t testing.TB, c *net.UDPConn) ([]byte, netip.AddrPort) {
	t.Helper()
	buf := make([]byte, 2048)
	_ = c.SetReadDeadline(time.Now().Add(waitFor))
	n, from, err := c.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return buf[:n], netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
}

// silent fails if c receives anything for a short while.
func silent(t testing.TB, c *net.UDPConn, what string) {
	t.Helper()
	buf := make([]byte, 2048)
	_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if n, _, err := c.ReadFromUDPAddrPort(buf); err == nil {
		t.Errorf("%s: received %d bytes %q", what, n, buf[:n])
	}
}

func TestChannelDataTakesTheFastPathBothWays(t *testing.T) {
	checkGoroutines(t)
	s := startServer(t, Config{AllowLoopback: true})
	c := allocateRaw(t, s, "alice")
	peer := listenPeer(t)
	if err := c.ChannelBind(0x4001, peerAddr(peer)); err != nil {
		t.Fatalf("ChannelBind: %v", err)
	}

	// Client to peer: the payload alone, from the relay address.
	if _, err := c.conn.WriteToUDPAddrPort(turnclient.AppendChannelData(nil, 0x4001, []byte("hello")), s.UDPAddr().AddrPort()); err != nil {
		t.Fatal(err)
	}
	got, from := readFrom(t, peer)
	if string(got) != "hello" || from != c.relay {
		t.Fatalf("peer got %q from %v, want \"hello\" from the relay %v", got, from, c.relay)
	}

	// Peer to client: ChannelData on the same channel, padded to 4 bytes
	// as pion pads it.
	for _, msg := range []string{"world", "four", ""} {
		if _, err := peer.WriteToUDPAddrPort([]byte(msg), c.relay); err != nil {
			t.Fatal(err)
		}
		got, from = readFrom(t, c.conn)
		if want := turnclient.AppendChannelData(nil, 0x4001, []byte(msg)); !bytes.Equal(got, want) || from != s.UDPAddr().AddrPort() {
			t.Errorf("client got % x from %v, want % x from the server", got, from, want)
		}
	}
	// The counters are added to after the socket call returns, so they
	// may trail the data by a moment.
	testutil.Eventually(t, waitFor, func() error {
		if st := s.Stats(); st.FastPathPackets != 4 || st.RelayedBytes != uint64(len("hello")+len("world")+len("four")) {
			return fmt.Errorf("Stats = %+v, want 4 fast-path packets and 14 bytes", st)
		}
		return nil
	})
}

func TestTheFastPathWorksInEachAddressFamily(t *testing.T) {
	tests := []struct {
		name, listen, public, client, peer string
	}{
		{"IPv6", "[::1]:0", "", "::1", "::1"},
		{"a dual-stack socket with IPv4 clients and relays", "[::]:0", "127.0.0.1", "127.0.0.1", "127.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkGoroutines(t)
			s := startServer(t, Config{ListenAddr: tt.listen, PublicIP: tt.public, AllowLoopback: true})
			server := netip.AddrPortFrom(netip.MustParseAddr(tt.client), uint16(s.UDPAddr().Port))
			c := allocateRawFrom(t, s, "alice", server)
			peer, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(tt.peer)})
			if err != nil {
				t.Fatal(err)
			}
			defer peer.Close()
			if err := c.ChannelBind(0x4000, peerAddr(peer)); err != nil {
				t.Fatalf("ChannelBind: %v", err)
			}
			if _, err := c.conn.WriteToUDPAddrPort(turnclient.AppendChannelData(nil, 0x4000, []byte("there")), server); err != nil {
				t.Fatal(err)
			}
			if got, from := readFrom(t, peer); string(got) != "there" || from != c.relay {
				t.Fatalf("peer got %q from %v, want \"there\" from %v", got, from, c.relay)
			}
			if _, err := peer.WriteToUDPAddrPort([]byte("back"), c.relay); err != nil {
				t.Fatal(err)
			}
			if got, from := readFrom(t, c.conn); !bytes.Equal(got, turnclient.AppendChannelData(nil, 0x4000, []byte("back"))) || from != server {
				t.Errorf("client got % x from %v", got, from)
			}
			testutil.Eventually(t, waitFor, func() error {
				if n := s.Stats().FastPathPackets; n != 2 {
					return fmt.Errorf("%d fast-path packets, want 2", n)
				}
				return nil
			})
		})
	}
}

func TestBurstsFromManyAllocationsArriveWholeAndInOrder(t *testing.T) {
	checkGoroutines(t)
	// More allocations than a batch from one listening socket writes to
	// before it flushes (maxRelayGroups), each with a burst of equal
	// datagrams (a GSO run) and one shorter one at the end.
	const allocations, burst = 3 * maxRelayGroups / 2, 40
	s := startServer(t, Config{AllowLoopback: true})
	server := s.UDPAddr().AddrPort()
	var clients []*rawClient
	var peers []*net.UDPConn
	for i := range allocations {
		c := allocateRaw(t, s, fmt.Sprint("user", i))
		peer := listenPeer(t)
		_ = peer.SetReadBuffer(1 << 20)
		if err := c.ChannelBind(0x4000+uint16(i), peerAddr(peer)); err != nil {
			t.Fatal(err)
		}
		clients, peers = append(clients, c), append(peers, peer)
	}
	for seq := range burst + 1 {
		for i, c := range clients {
			size := 120
			if seq == burst {
				size = 7
			}
			payload := bytes.Repeat([]byte{byte(seq)}, size)
			payload[0] = byte(i)
			if _, err := c.conn.WriteToUDPAddrPort(turnclient.AppendChannelData(nil, 0x4000+uint16(i), payload), server); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i, peer := range peers {
		for seq := range burst + 1 {
			got, from := readFrom(t, peer)
			want := 120
			if seq == burst {
				want = 7
			}
			if len(got) != want || got[0] != byte(i) || got[len(got)-1] != byte(seq) || from != clients[i].relay {
				t.Fatalf("peer %d, datagram %d: %d bytes [%d … %d] from %v; want %d bytes [%d … %d] from %v",
					i, seq, len(got), got[0], got[len(got)-1], from, want, i, seq, clients[i].relay)
			}
		}
	}
}

func TestDataWithoutAChannelStillGoesThroughPion(t *testing.T) {
	checkGoroutines(t)
	s := startServer(t, Config{AllowLoopback: true})
	c := allocateRaw(t, s, "alice")
	peer := listenPeer(t)
	if err := c.CreatePermission(peerAddr(peer)); err != nil {
		t.Fatalf("CreatePermission: %v", err)
	}
	if err := c.Send(peerAddr(peer), []byte("by indication")); err != nil {
		t.Fatal(err)
	}
	if got, from := readFrom(t, peer); string(got) != "by indication" || from != c.relay {
		t.Fatalf("peer got %q from %v", got, from)
	}
	if _, err := peer.WriteToUDPAddrPort([]byte("back"), c.relay); err != nil {
		t.Fatal(err)
	}
	got, _ := readFrom(t, c.conn)
	if from, data, ok := turnclient.ParseDataIndication(got); !ok || string(data) != "back" || from != peerAddr(peer) {
		t.Errorf("client got % x, want a Data indication of \"back\" from %v", got, peerAddr(peer))
	}
	// ChannelData on a channel nobody bound goes nowhere.
	if _, err := c.conn.WriteToUDPAddrPort(turnclient.AppendChannelData(nil, 0x4000, []byte("unbound")), s.UDPAddr().AddrPort()); err != nil {
		t.Fatal(err)
	}
	silent(t, peer, "peer, after ChannelData on an unbound channel")
	if st := s.Stats(); st.FastPathPackets != 0 {
		t.Errorf("Stats = %+v, want no fast-path packets", st)
	}
}

func TestAChannelToARefusedPeerGetsNoRoute(t *testing.T) {
	checkGoroutines(t)
	s := startServer(t, Config{}) // loopback peers refused
	c := allocateRaw(t, s, "mallory")
	peer := listenPeer(t)
	// pion/turn v5 answers a refused peer's ChannelBind with 401.
	if err := c.ChannelBind(0x4000, peerAddr(peer)); err == nil || turnErrorCode(err) == 0 {
		t.Fatalf("ChannelBind to loopback = %v, want an error response", err)
	}
	if _, err := c.conn.WriteToUDPAddrPort(turnclient.AppendChannelData(nil, 0x4000, []byte("ssrf")), s.UDPAddr().AddrPort()); err != nil {
		t.Fatal(err)
	}
	silent(t, peer, "refused peer")
	if n := s.routeCount(); n != 0 {
		t.Errorf("%d routes, want none", n)
	}
}

func TestRoutesGoAwayWithTheirAllocation(t *testing.T) {
	checkGoroutines(t)
	s := startServer(t, Config{AllowLoopback: true})
	c := allocateRaw(t, s, "alice")
	peer := listenPeer(t)
	for i, number := range []uint16{0x4000, 0x4001} {
		p := peer
		if i == 1 {
			p = listenPeer(t)
		}
		if err := c.ChannelBind(number, peerAddr(p)); err != nil {
			t.Fatal(err)
		}
	}
	if n := s.routeCount(); n != 2 {
		t.Fatalf("%d routes after two channel binds, want 2", n)
	}
	if err := c.Refresh(0); err != nil {
		t.Fatalf("Refresh(0): %v", err)
	}
	testutil.Eventually(t, waitFor, func() error {
		s.mu.Lock()
		relays := len(s.relays)
		s.mu.Unlock()
		if n := s.routeCount(); n != 0 || relays != 0 {
			return fmt.Errorf("%d routes and %d relays left", n, relays)
		}
		return nil
	})
	if _, err := c.conn.WriteToUDPAddrPort(turnclient.AppendChannelData(nil, 0x4000, []byte("late")), s.UDPAddr().AddrPort()); err != nil {
		t.Fatal(err)
	}
	silent(t, peer, "peer of a deleted allocation")
}

func TestPionDataPathRelaysTheSameWithoutTheFastPath(t *testing.T) {
	checkGoroutines(t)
	s := startServer(t, Config{AllowLoopback: true, PionDataPath: true})
	c := allocateRaw(t, s, "alice")
	peer := listenPeer(t)
	if err := c.ChannelBind(0x4001, peerAddr(peer)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.conn.WriteToUDPAddrPort(turnclient.AppendChannelData(nil, 0x4001, []byte("hello")), s.UDPAddr().AddrPort()); err != nil {
		t.Fatal(err)
	}
	if got, _ := readFrom(t, peer); string(got) != "hello" {
		t.Fatalf("peer got %q", got)
	}
	if _, err := peer.WriteToUDPAddrPort([]byte("world"), c.relay); err != nil {
		t.Fatal(err)
	}
	if got, _ := readFrom(t, c.conn); !bytes.Equal(got, turnclient.AppendChannelData(nil, 0x4001, []byte("world"))) {
		t.Errorf("client got % x", got)
	}
	testutil.Eventually(t, waitFor, func() error {
		if st := s.Stats(); st.FastPathPackets != 0 || st.RelayedBytes != 10 {
			return fmt.Errorf("Stats = %+v, want no fast-path packets and 10 bytes", st)
		}
		return nil
	})
}

func TestParseChannelDataAcceptsWhatPionAccepts(t *testing.T) {
	tests := []struct {
		name    string
		b       []byte
		number  uint16
		payload string
		ok      bool
	}{
		{"a padded message", []byte{0x40, 0x01, 0, 3, 'a', 'b', 'c', 0}, 0x4001, "abc", true},
		{"an unpadded message", []byte{0x7f, 0xff, 0, 3, 'a', 'b', 'c'}, 0x7fff, "abc", true},
		{"an empty payload", []byte{0x40, 0, 0, 0}, 0x4000, "", true},
		{"a length beyond the datagram", []byte{0x40, 0, 0, 4, 'a', 'b', 'c'}, 0, "", false},
		{"a channel number below 0x4000", []byte{0x3f, 0xff, 0, 0}, 0, "", false},
		{"a channel number above 0x7fff", []byte{0x80, 0, 0, 0}, 0, "", false},
		{"a short header", []byte{0x40, 0}, 0, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, p, ok := parseChannelData(tt.b)
			if ok != tt.ok || n != tt.number || string(p) != tt.payload {
				t.Errorf("parseChannelData = %#x %q %v, want %#x %q %v", n, p, ok, tt.number, tt.payload, tt.ok)
			}
		})
	}
}

// routeCount is the number of routes over all listening sockets.
func (s *Server) routeCount() int {
	n := 0
	for _, l := range s.listeners {
		l.mu.RLock()
		n += len(l.routes)
		l.mu.RUnlock()
	}
	return n
}

// forwardRoundTrips relays batch packets of size bytes from the client to
// the peer and batch back, reading each side completely.
func forwardRoundTrips(tb testing.TB, s *Server, c *rawClient, peer *net.UDPConn, number uint16, batch, size int) func() {
	server := s.UDPAddr().AddrPort()
	msg := turnclient.AppendChannelData(nil, number, make([]byte, size))
	payload := make([]byte, size)
	buf := make([]byte, 2048)
	_ = peer.SetReadDeadline(time.Now().Add(time.Hour))
	_ = c.conn.SetReadDeadline(time.Now().Add(time.Hour))
	return func() {
		for range batch {
			if _, err := c.conn.WriteToUDPAddrPort(msg, server); err != nil {
				tb.Fatal(err)
			}
		}
		for range batch {
			if _, _, err := peer.ReadFromUDPAddrPort(buf); err != nil {
				tb.Fatal(err)
			}
		}
		for range batch {
			if _, err := peer.WriteToUDPAddrPort(payload, c.relay); err != nil {
				tb.Fatal(err)
			}
		}
		for range batch {
			if _, _, err := c.conn.ReadFromUDPAddrPort(buf); err != nil {
				tb.Fatal(err)
			}
		}
	}
}

func TestTheFastPathAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	const batch, runs = 32, 200
	for _, pionPath := range []bool{false, true} {
		s := startServer(t, Config{AllowLoopback: true, PionDataPath: pionPath})
		c := allocateRaw(t, s, "alice")
		peer := listenPeer(t)
		if err := c.ChannelBind(0x4000, peerAddr(peer)); err != nil {
			t.Fatal(err)
		}
		f := forwardRoundTrips(t, s, c, peer, 0x4000, batch, 200)
		f() // warm up: pool buffers, map growth
		// AllocsPerRun counts the whole process's allocations: the
		// server's read loops as well as this goroutine, whose socket
		// calls do not allocate.
		perPacket := testing.AllocsPerRun(runs, f) / (2 * batch)
		if pionPath {
			t.Logf("pion/turn's own data path: %.1f allocations per relayed packet", perPacket)
			continue
		}
		// AllocsPerRun divides in integers: 0 means fewer than one
		// allocation per run of 64 packets, all told.
		if perPacket != 0 {
			t.Errorf("fast path: %.2f allocations per relayed packet, want 0", perPacket)
		}
		if st := s.Stats(); st.FastPathPackets < 2*batch*runs {
			t.Errorf("only %d packets took the fast path", st.FastPathPackets)
		}
	}
}
