package signal

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

func prefixes(t testing.TB, ss ...string) []netip.Prefix {
	t.Helper()
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

func TestClientAddr(t *testing.T) {
	proxies := prefixes(t, "127.0.0.1/32", "10.0.0.0/24", "2001:db8:1::/48")
	long := strings.Repeat("198.51.100.1, ", 200) + "203.0.113.7"
	cases := []struct {
		name    string
		remote  string
		xff     []string // nil: no header
		trusted []netip.Prefix
		want    string
	}{
		{"no trusted proxies: the header is ignored", "127.0.0.1:5000", []string{"203.0.113.7"}, nil, "127.0.0.1"},
		{"no header: the peer", "127.0.0.1:5000", nil, proxies, "127.0.0.1"},
		{"an untrusted peer's header is ignored", "192.0.2.1:5000", []string{"203.0.113.7"}, proxies, "192.0.2.1"},
		{"a trusted peer's client", "127.0.0.1:5000", []string{"203.0.113.7"}, proxies, "203.0.113.7"},
		{"the rightmost untrusted entry, not a spoofed leftmost one", "127.0.0.1:5000", []string{"1.1.1.1, 203.0.113.7"}, proxies, "203.0.113.7"},
		{"trusted entries on the right are skipped", "127.0.0.1:5000", []string{"1.1.1.1, 203.0.113.7, 10.0.0.5, 10.0.0.6"}, proxies, "203.0.113.7"},
		{"several header lines are one list", "127.0.0.1:5000", []string{"1.1.1.1, 203.0.113.7", "10.0.0.5"}, proxies, "203.0.113.7"},
		{"the last line is read first", "127.0.0.1:5000", []string{"10.0.0.5", "203.0.113.9"}, proxies, "203.0.113.9"},
		{"whitespace is tolerated", "127.0.0.1:5000", []string{" \t203.0.113.7 \t,\t10.0.0.5  "}, proxies, "203.0.113.7"},
		{"all entries trusted: the leftmost", "127.0.0.1:5000", []string{"10.0.0.9, 10.0.0.5"}, proxies, "10.0.0.9"},
		{"an empty header: the peer", "127.0.0.1:5000", []string{""}, proxies, "127.0.0.1"},
		{"a blank header: the peer", "127.0.0.1:5000", []string{"  "}, proxies, "127.0.0.1"},
		{"an empty entry before the client: the peer", "127.0.0.1:5000", []string{"203.0.113.7,"}, proxies, "127.0.0.1"},
		{"an empty trailing line: the peer", "127.0.0.1:5000", []string{"203.0.113.7", ""}, proxies, "127.0.0.1"},
		{"garbage before the client: the peer", "127.0.0.1:5000", []string{"203.0.113.7, evil"}, proxies, "127.0.0.1"},
		{"unknown before the client: the peer", "127.0.0.1:5000", []string{"unknown"}, proxies, "127.0.0.1"},
		{"garbage after the client is never read", "127.0.0.1:5000", []string{"evil, , unknown, 203.0.113.7"}, proxies, "203.0.113.7"},
		{"a hostname: the peer", "127.0.0.1:5000", []string{"client.example.com"}, proxies, "127.0.0.1"},
		{"leading zeros are not an address", "127.0.0.1:5000", []string{"203.0.113.07"}, proxies, "127.0.0.1"},
		{"an IPv4 entry with a port", "127.0.0.1:5000", []string{"203.0.113.7:4711"}, proxies, "203.0.113.7"},
		{"an IPv6 entry", "127.0.0.1:5000", []string{"2001:db8:cafe::17"}, proxies, "2001:db8:cafe::17"},
		{"an IPv6 entry with a port", "127.0.0.1:5000", []string{"[2001:db8:cafe::17]:4711"}, proxies, "2001:db8:cafe::17"},
		{"an IPv6 entry with a zone: the peer", "127.0.0.1:5000", []string{"fe80::1%eth0"}, proxies, "127.0.0.1"},
		{"an IPv4-mapped entry becomes IPv4", "127.0.0.1:5000", []string{"::ffff:203.0.113.7"}, proxies, "203.0.113.7"},
		{"an IPv4-mapped trusted entry is trusted", "127.0.0.1:5000", []string{"203.0.113.7, ::ffff:10.0.0.5"}, proxies, "203.0.113.7"},
		{"an IPv4-mapped peer is trusted", "[::ffff:127.0.0.1]:5000", []string{"203.0.113.7"}, proxies, "203.0.113.7"},
		{"an IPv4-mapped untrusted peer becomes IPv4", "[::ffff:192.0.2.1]:5000", []string{"203.0.113.7"}, proxies, "192.0.2.1"},
		{"an IPv6 trusted peer", "[2001:db8:1::2]:443", []string{"2001:db8:cafe::17, 2001:db8:1::3"}, proxies, "2001:db8:cafe::17"},
		{"an IPv6 untrusted peer", "[2001:db8:2::2]:443", []string{"203.0.113.7"}, proxies, "2001:db8:2::2"},
		{"a long header whose end is understood", "127.0.0.1:5000", []string{long}, proxies, "203.0.113.7"},
		{"too many trusted entries: the peer", "127.0.0.1:5000", []string{"203.0.113.7" + strings.Repeat(", 10.0.0.5", maxForwardedElements)}, proxies, "127.0.0.1"},
		{"just few enough trusted entries", "127.0.0.1:5000", []string{"203.0.113.7" + strings.Repeat(", 10.0.0.5", maxForwardedElements-1)}, proxies, "203.0.113.7"},
		{"a huge entry: the peer", "127.0.0.1:5000", []string{strings.Repeat("1", 1<<20)}, proxies, "127.0.0.1"},
		{"a huge run of spaces: the peer", "127.0.0.1:5000", []string{"203.0.113.7" + strings.Repeat(" ", 1<<20)}, proxies, "127.0.0.1"},
		{"a remote address that is not IP:port is kept", "pipe", []string{"203.0.113.7"}, proxies, "pipe"},
		{"a remote host that is not an IP is not trusted", "localhost:5000", []string{"203.0.113.7"}, proxies, "localhost"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/ws", nil)
			r.RemoteAddr = tc.remote
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := ClientAddr(r, tc.trusted); got != tc.want {
				t.Fatalf("ClientAddr(%q, X-Forwarded-For %q) = %q, want %q", tc.remote, tc.xff, got, tc.want)
			}
		})
	}
}

func TestClientAddrIgnoresTheForwardedHeader(t *testing.T) {
	r := httptest.NewRequest("GET", "/ws", nil)
	r.RemoteAddr = "127.0.0.1:5000"
	r.Header.Set("Forwarded", "for=203.0.113.7")
	if got := ClientAddr(r, prefixes(t, "127.0.0.1/32")); got != "127.0.0.1" {
		t.Fatalf("got %q", got)
	}
}

func BenchmarkClientAddrHostileHeader(b *testing.B) {
	r := httptest.NewRequest("GET", "/ws", nil)
	r.RemoteAddr = "127.0.0.1:5000"
	r.Header = http.Header{"X-Forwarded-For": {strings.Repeat("1", 1<<20), strings.Repeat(",", 1<<20)}}
	trusted := prefixes(b, "127.0.0.1/32")
	for b.Loop() {
		ClientAddr(r, trusted)
	}
}

// referenceClient is forwardedClient without its bounds, written plainly:
// join the lines, split at commas, walk from the right.
func referenceClient(peer netip.Addr, xff []string, trusted []netip.Prefix) netip.Addr {
	if !isTrusted(peer.WithZone(""), trusted) || len(xff) == 0 {
		return peer
	}
	entries := strings.Split(strings.Join(xff, ","), ",")
	var leftmost netip.Addr
	for i := len(entries) - 1; i >= 0; i-- {
		a, ok := parseForwardedEntry(entries[i])
		if !ok {
			return peer
		}
		if !isTrusted(a, trusted) {
			return a
		}
		leftmost = a
	}
	return leftmost
}

// FuzzClientAddr checks that no header makes ClientAddr panic, that its
// answer is always the peer or an address written in the header, and that
// within its bounds it agrees with the plain reference.
func FuzzClientAddr(f *testing.F) {
	f.Add("127.0.0.1:5000", "203.0.113.7", "", "10.0.0.0/8")
	f.Add("127.0.0.1:5000", "1.1.1.1, 203.0.113.7, 10.0.0.5", "10.0.0.6", "127.0.0.1/32")
	f.Add("10.0.0.2:443", " [2001:db8::1]:4711 ,::ffff:10.0.0.3", "", "10.0.0.0/24")
	f.Add("[2001:db8:1::2]:443", "unknown, 2001:db8:1::3", "203.0.113.7:1", "2001:db8:1::/48")
	f.Add("127.0.0.1:5000", ",,,", "   ", "0.0.0.0/1")
	f.Fuzz(func(t *testing.T, remote, line1, line2, trustedPrefix string) {
		trusted := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
		if p, err := netip.ParsePrefix(trustedPrefix); err == nil {
			trusted = append(trusted, p.Masked())
		}
		xff := []string{line1}
		if line2 != "" {
			xff = append(xff, line2)
		}
		r := &http.Request{RemoteAddr: remote, Header: http.Header{"X-Forwarded-For": xff}}
		got := ClientAddr(r, trusted)

		ap, err := netip.ParseAddrPort(remote)
		if err != nil {
			host, _, err := net.SplitHostPort(remote)
			if got != remote && (err != nil || got != host) {
				t.Fatalf("remote %q: got %q, neither it nor its host", remote, got)
			}
			return
		}
		peer := ap.Addr().Unmap()
		joined := strings.Join(xff, ",")
		if len(joined) <= maxForwardedBytes && strings.Count(joined, ",") < maxForwardedElements {
			if want := referenceClient(peer, xff, trusted); got != want.String() {
				t.Fatalf("peer %v, header %q: got %v, the reference says %v", peer, xff, got, want)
			}
		}
		if got == peer.String() {
			return
		}
		a, err := netip.ParseAddr(got)
		if err != nil {
			t.Fatalf("got %q: not an IP address", got)
		}
		found := false
		for _, e := range strings.Split(joined, ",") {
			if b, ok := parseForwardedEntry(e); ok && b == a {
				found = true
			}
		}
		if !found {
			t.Fatalf("got %q, which is neither the peer %v nor in the header %q", got, peer, xff)
		}
	})
}
