package turnserver

import (
	"net"
	"testing"
)

func TestAllowedPeer(t *testing.T) {
	denied := []struct{ name, ip string }{
		{"the IPv4 unspecified address is refused", "0.0.0.0"},
		{"an address in 0.0.0.0/8 is refused", "0.1.2.3"},
		{"RFC 1918 10/8 is refused", "10.1.2.3"},
		{"RFC 1918 172.16/12 is refused", "172.16.0.1"},
		{"the top of RFC 1918 172.16/12 is refused", "172.31.255.254"},
		{"RFC 1918 192.168/16 is refused", "192.168.1.1"},
		{"IPv4 link-local is refused", "169.254.1.1"},
		{"the cloud metadata address is refused", "169.254.169.254"},
		{"CGNAT 100.64/10 is refused", "100.64.0.1"},
		{"the top of CGNAT 100.64/10 is refused", "100.127.255.254"},
		{"IETF protocol assignments 192.0.0/24 are refused", "192.0.0.9"},
		{"benchmarking 198.18/15 is refused", "198.19.1.1"},
		{"IPv4 multicast is refused", "224.0.0.251"},
		{"IPv4 global multicast is refused", "239.255.255.250"},
		{"reserved 240/4 is refused", "240.0.0.1"},
		{"the limited broadcast address is refused", "255.255.255.255"},
		{"the IPv6 unspecified address is refused", "::"},
		{"IPv6 unique-local fc00::/7 is refused", "fd00::2"},
		{"IPv6 unique-local fc00::/8 is refused", "fc00::1"},
		{"IPv6 link-local is refused", "fe80::1"},
		{"IPv6 site-local is refused", "fec0::1"},
		{"IPv6 multicast is refused", "ff02::1"},
		{"IPv6 global multicast is refused", "ff0e::1"},
		{"IPv6 discard-only is refused", "100::1"},
		{"Teredo is refused", "2001:0:4136:e378:8000:63bf:3fff:fdd2"},
		{"a deprecated IPv4-compatible address is refused", "::10.0.0.1"},
		{"local-use NAT64 is refused", "64:ff9b:1::a00:1"},
		{"IPv4-mapped 10/8 is refused", "::ffff:10.0.0.1"},
		{"IPv4-mapped 172.16/12 is refused", "::ffff:172.16.5.4"},
		{"IPv4-mapped 192.168/16 is refused", "::ffff:192.168.0.1"},
		{"IPv4-mapped metadata is refused", "::ffff:169.254.169.254"},
		{"IPv4-mapped CGNAT is refused", "::ffff:100.64.1.1"},
		{"IPv4-mapped multicast is refused", "::ffff:224.0.0.1"},
		{"IPv4-mapped broadcast is refused", "::ffff:255.255.255.255"},
		{"IPv4-mapped unspecified is refused", "::ffff:0.0.0.0"},
		{"NAT64 of a private address is refused", "64:ff9b::10.0.0.1"},
		{"NAT64 of the metadata address is refused", "64:ff9b::169.254.169.254"},
		{"NAT64 of loopback is refused", "64:ff9b::127.0.0.1"},
		{"6to4 of a private address is refused", "2002:c0a8:0101::1"},
		{"6to4 of loopback is refused", "2002:7f00:1::1"},
	}
	for _, tc := range denied {
		t.Run(tc.name, func(t *testing.T) {
			ip := mustIP(t, tc.ip)
			if AllowedPeer(ip, false) {
				t.Errorf("AllowedPeer(%s, false) = true", tc.ip)
			}
			if AllowedPeer(ip, true) {
				t.Errorf("AllowedPeer(%s, true) = true; the loopback flag must not open it", tc.ip)
			}
		})
	}

	allowed := []struct{ name, ip string }{
		{"a public IPv4 address is allowed", "8.8.8.8"},
		{"a public IPv6 address is allowed", "2001:4860::8888"},
		{"documentation range 198.51.100/24 is allowed", "198.51.100.7"},
		{"documentation range 203.0.113/24 is allowed", "203.0.113.9"},
		{"documentation range 192.0.2/24 is allowed", "192.0.2.2"},
		{"IPv6 documentation range is allowed", "2001:db8::1"},
		{"the address just below 172.16/12 is allowed", "172.15.255.255"},
		{"the address just above 172.16/12 is allowed", "172.32.0.1"},
		{"the address just above CGNAT is allowed", "100.128.0.1"},
		{"IPv4-mapped public is allowed", "::ffff:8.8.4.4"},
		{"NAT64 of a public address is allowed", "64:ff9b::8.8.8.8"},
		{"6to4 of a public address is allowed", "2002:0808:0808::1"},
	}
	for _, tc := range allowed {
		t.Run(tc.name, func(t *testing.T) {
			ip := mustIP(t, tc.ip)
			if !AllowedPeer(ip, false) {
				t.Errorf("AllowedPeer(%s, false) = false", tc.ip)
			}
			if !AllowedPeer(ip, true) {
				t.Errorf("AllowedPeer(%s, true) = false", tc.ip)
			}
		})
	}

	loopback := []struct{ name, ip string }{
		{"IPv4 loopback is allowed only with the flag", "127.0.0.1"},
		{"the whole of 127/8 is allowed only with the flag", "127.1.2.3"},
		{"IPv6 loopback is allowed only with the flag", "::1"},
		{"IPv4-mapped loopback is allowed only with the flag", "::ffff:127.0.0.1"},
	}
	for _, tc := range loopback {
		t.Run(tc.name, func(t *testing.T) {
			ip := mustIP(t, tc.ip)
			if AllowedPeer(ip, false) {
				t.Errorf("AllowedPeer(%s, false) = true", tc.ip)
			}
			if !AllowedPeer(ip, true) {
				t.Errorf("AllowedPeer(%s, true) = false", tc.ip)
			}
		})
	}

	t.Run("a 4-byte IPv4 slice is judged like its 16-byte form", func(t *testing.T) {
		if AllowedPeer(net.IP{10, 0, 0, 1}, true) || !AllowedPeer(net.IP{8, 8, 8, 8}, false) {
			t.Error("4-byte slices judged differently")
		}
	})
	t.Run("nil and malformed IPs are refused", func(t *testing.T) {
		for _, ip := range []net.IP{nil, {}, {1, 2, 3}} {
			if AllowedPeer(ip, true) {
				t.Errorf("AllowedPeer(%v) = true", []byte(ip))
			}
		}
	})
}

func mustIP(t *testing.T, s string) net.IP {
	t.Helper()
	ip := net.ParseIP(s)
	if ip == nil {
		t.Fatalf("bad test IP %q", s)
	}
	return ip
}

func BenchmarkAllowedPeer(b *testing.B) {
	ip := net.ParseIP("203.0.113.9")
	for b.Loop() {
		if !AllowedPeer(ip, false) {
			b.Fatal("refused")
		}
	}
}

// FuzzAllowedPeer checks that an IPv4 address and its IPv4-mapped IPv6
// form are always judged alike, and that the flag only opens loopback.
func FuzzAllowedPeer(f *testing.F) {
	for _, seed := range [][]byte{{127, 0, 0, 1}, {10, 0, 0, 1}, {8, 8, 8, 8}, {169, 254, 169, 254}, {203, 0, 113, 9}} {
		f.Add(seed[0], seed[1], seed[2], seed[3])
	}
	f.Fuzz(func(t *testing.T, a, b, c, d byte) {
		v4 := net.IP{a, b, c, d}
		mapped := net.IPv4(a, b, c, d) // 16-byte ::ffff:a.b.c.d
		for _, flag := range []bool{false, true} {
			if AllowedPeer(v4, flag) != AllowedPeer(mapped, flag) {
				t.Fatalf("%v judged differently in its mapped form (allowLoopback=%v)", v4, flag)
			}
		}
		if AllowedPeer(v4, true) != AllowedPeer(v4, false) && a != 127 {
			t.Fatalf("allowLoopback changed the verdict for %v", v4)
		}
	})
}
