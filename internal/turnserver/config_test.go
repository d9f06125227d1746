package turnserver

import (
	"errors"
	"net"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestNewRefusesBadConfig(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		want error
	}{
		{"a listen address without a port is refused", Config{ListenAddr: "127.0.0.1"}, ErrInvalidListenAddr},
		{"a listen port out of range is refused", Config{ListenAddr: "127.0.0.1:70000"}, ErrInvalidListenAddr},
		{"a named listen port is refused", Config{ListenAddr: "127.0.0.1:turn"}, ErrInvalidListenAddr},
		{"a host name as listen host is refused", Config{ListenAddr: "localhost:0"}, ErrInvalidListenAddr},
		{"a multicast listen address is refused", Config{ListenAddr: "224.0.0.1:0"}, ErrInvalidListenAddr},
		{"a public IP that is not an IP is refused", Config{ListenAddr: "127.0.0.1:0", PublicIP: "turn.example.com"}, ErrInvalidPublicIP},
		{"an unspecified public IP is refused", Config{ListenAddr: "127.0.0.1:0", PublicIP: "0.0.0.0"}, ErrInvalidPublicIP},
		{"a public IP of the other family is refused", Config{ListenAddr: "127.0.0.1:0", PublicIP: "2001:db8::1"}, ErrInvalidPublicIP},
		{"a negative credential TTL is refused", Config{ListenAddr: "127.0.0.1:0", CredentialTTL: -time.Second}, ErrInvalidConfig},
		{"a negative socket count is refused", Config{ListenAddr: "127.0.0.1:0", Sockets: -1}, ErrInvalidConfig},
		{"too many sockets are refused", Config{ListenAddr: "127.0.0.1:0", Sockets: maxSockets + 1}, ErrInvalidConfig},
		{"a negative quota is refused", Config{ListenAddr: "127.0.0.1:0", MaxAllocationsPerUser: -1}, ErrInvalidConfig},
		{"a realm with a newline is refused", Config{ListenAddr: "127.0.0.1:0", Realm: "a\nb"}, ErrInvalidConfig},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(tc.cfg)
			if err == nil {
				_ = s.Close()
				t.Fatal("New succeeded")
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("New: %v, want %v", err, tc.want)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	st, err := Config{}.resolve()
	if err != nil {
		t.Fatal(err)
	}
	if st.listenPort != 3478 || st.network != "udp4" || !st.listenIP.IsUnspecified() {
		t.Errorf("listen = %s %v:%d, want udp4 0.0.0.0:3478", st.network, st.listenIP, st.listenPort)
	}
	if st.realm != DefaultRealm || st.ttl != DefaultCredentialTTL || st.quota != DefaultMaxAllocationsPerUser {
		t.Errorf("realm %q ttl %v quota %d", st.realm, st.ttl, st.quota)
	}
	if want := max(runtime.NumCPU(), minSockets); st.sockets != want {
		t.Errorf("sockets %d, want %d", st.sockets, want)
	}
	if len(st.secret) < 32 || st.logger == nil || st.now == nil {
		t.Errorf("secret %q, logger %v, now set %v", st.secret, st.logger, st.now != nil)
	}
	// In the test namespace only lo exists, so the fallback is 127.0.0.1.
	if st.publicIP.String() != "127.0.0.1" || st.publicIPSet {
		t.Errorf("public IP %v (set %v), want the 127.0.0.1 fallback", st.publicIP, st.publicIPSet)
	}
	st2, _ := Config{}.resolve()
	if st.secret == st2.secret {
		t.Error("two random secrets are equal")
	}
}

func TestListen(t *testing.T) {
	checkGoroutines(t)
	s := startServer(t, Config{Sockets: 3})

	t.Run("UDP and TCP share the port picked for port 0", func(t *testing.T) {
		if s.UDPAddr().Port == 0 || s.UDPAddr().Port != s.TCPAddr().Port {
			t.Fatalf("UDP %v, TCP %v", s.UDPAddr(), s.TCPAddr())
		}
		if !s.UDPAddr().IP.Equal(net.IPv4(127, 0, 0, 1)) {
			t.Fatalf("UDP %v, want 127.0.0.1", s.UDPAddr())
		}
	})
	t.Run("a second server cannot join the first one's port", func(t *testing.T) {
		s2, err := New(Config{ListenAddr: s.UDPAddr().String()})
		if err == nil {
			_ = s2.Close()
			t.Fatal("second server bound the same port")
		}
		if !errors.Is(err, ErrListen) {
			t.Fatalf("New: %v, want ErrListen", err)
		}
	})
	t.Run("the returned addresses are copies", func(t *testing.T) {
		a := s.UDPAddr()
		a.IP[0], a.Port = 9, 1
		if s.UDPAddr().IP[0] == 9 || s.UDPAddr().Port == 1 {
			t.Fatal("UDPAddr exposes internal state")
		}
	})
}

func TestICEServers(t *testing.T) {
	checkGoroutines(t)
	clock := newFakeClock()
	s := startServer(t, Config{Now: clock.Now, CredentialTTL: 2 * time.Hour})
	port := strconv.Itoa(s.UDPAddr().Port)

	cases := []struct{ name, host, want string }{
		{"an IPv4 host is used as given", "127.0.0.1", "127.0.0.1"},
		{"a host with a port loses the port", "127.0.0.1:8443", "127.0.0.1"},
		{"a DNS name is used as given", "call.example.com", "call.example.com"},
		{"a DNS name with a port loses the port", "call.example.com:443", "call.example.com"},
		{"an IPv6 host is bracketed", "::1", "[::1]"},
		{"a bracketed IPv6 host with a port is bracketed once", "[2001:db8::1]:443", "[2001:db8::1]"},
		{"a bracketed IPv6 host is bracketed once", "[2001:db8::1]", "[2001:db8::1]"},
		{"an empty host falls back to the relay IP", "", "127.0.0.1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			servers, exp := s.ICEServers(tc.host, "alice")
			hp := tc.want + ":" + port
			if len(servers) != 2 {
				t.Fatalf("got %d servers: %+v", len(servers), servers)
			}
			if got := strings.Join(servers[0].URLs, " "); got != "stun:"+hp || servers[0].Username != "" {
				t.Errorf("STUN server %+v, want stun:%s without credentials", servers[0], hp)
			}
			wantTURN := "turn:" + hp + "?transport=udp turn:" + hp + "?transport=tcp"
			if got := strings.Join(servers[1].URLs, " "); got != wantTURN {
				t.Errorf("TURN URLs %q, want %q", got, wantTURN)
			}
			if want := clock.Now().Add(2 * time.Hour); !exp.Equal(want) {
				t.Errorf("expires %v, want %v", exp, want)
			}
			user, gotExp, err := VerifyRESTCredentials(testSecret, servers[1].Username, servers[1].Credential, clock.Now())
			if err != nil || user != "alice" || !gotExp.Equal(exp) {
				t.Errorf("credentials: %q %v %v", user, gotExp, err)
			}
		})
	}

	t.Run("a configured public IP overrides the host", func(t *testing.T) {
		s := startServer(t, Config{PublicIP: "203.0.113.7"})
		servers, _ := s.ICEServers("127.0.0.1:8080", "alice")
		if want := "stun:203.0.113.7:" + strconv.Itoa(s.UDPAddr().Port); servers[0].URLs[0] != want {
			t.Errorf("URL %q, want %q", servers[0].URLs[0], want)
		}
	})
	t.Run("an empty user is minted as anonymous", func(t *testing.T) {
		u, _, _ := s.Credentials("")
		if !strings.HasSuffix(u, ":anonymous") {
			t.Errorf("username %q", u)
		}
	})
}

func TestIPv6Relay(t *testing.T) {
	if c, err := net.ListenPacket("udp6", "[::1]:0"); err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	} else {
		_ = c.Close()
	}
	checkGoroutines(t)
	s := startServer(t, Config{ListenAddr: "[::1]:0", AllowLoopback: true})
	u, p, _ := s.Credentials("alice")
	conn, err := net.ListenPacket("udp6", "[::1]:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	c := dialClientConn(t, s.UDPAddr().String(), conn, u, p)
	relay, err := allocate(t, c)
	if err != nil {
		t.Fatalf("Allocate: %v", err)
	}
	if ip := relay.LocalAddr().(*net.UDPAddr).IP; !ip.Equal(net.IPv6loopback) {
		t.Fatalf("relay %v, want on ::1", relay.LocalAddr())
	}
	peer, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = peer.Close() })
	exchange(t, relay, peer)
}
