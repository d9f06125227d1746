package signal

import (
	"net"
	"net/http"
	"net/netip"
)

// Bounds on the X-Forwarded-For parsing: a real chain holds the client and a
// few proxies, and walking from the right only ever needs its end. Beyond
// either bound the header is not believed.
const (
	// maxForwardedElements is how many X-Forwarded-For entries are read
	// at most, from the right.
	maxForwardedElements = 16
	// maxForwardedBytes is how many bytes of X-Forwarded-For are read at
	// most, from the right.
	maxForwardedBytes = 1024
)

// ClientAddr is the address of the client that sent r, for per-address
// limits and logs: the TCP peer address (r.RemoteAddr without its port),
// unless that peer is one of the trusted proxies; see forwardedClient for
// what is then read from X-Forwarded-For. With no trusted proxies the
// header is never read.
func ClientAddr(r *http.Request, trusted []netip.Prefix) string {
	if r == nil {
		return ""
	}
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		// Not IP:port (a Unix socket, a test's fake address): as before,
		// the host part or the whole string, and never a header.
		if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
			return host
		}
		return r.RemoteAddr
	}
	peer := ap.Addr().Unmap()
	if len(trusted) == 0 {
		return peer.String()
	}
	return forwardedClient(peer, r.Header.Values("X-Forwarded-For"), trusted).String()
}

// forwardedClient resolves the client of a request whose TCP peer is peer
// and whose X-Forwarded-For header lines are xff:
//
//   - If peer is not in a trusted prefix, it is the client.
//   - Otherwise the lines are read as one comma-separated list (as HTTP
//     defines repeated header lines), entries trimmed of spaces and tabs,
//     walking from the right: each entry was added by the proxy that
//     received the request from that address. The first entry that is not
//     in a trusted prefix is the client.
//   - If every entry is trusted, the leftmost one is the client (a machine
//     of your own that went through the proxy).
//   - The result is peer if the header is missing, or if an entry read
//     before the client was found is empty or not an IP address (a
//     hostname, "unknown", a garbled value), or if the client is not
//     found within the last maxForwardedElements entries and
//     maxForwardedBytes bytes: a header that cannot be understood is not
//     believed at all. Entries left of the client are never read.
//
// An entry may carry a port ("192.0.2.1:1234", "[2001:db8::1]:1234"), which
// is dropped; IPv6 zones are refused; IPv4-mapped IPv6 addresses become
// IPv4. The result is always peer or an address that appears in xff.
//
// The RFC 7239 Forwarded header is not read: proxies configured for
// X-Forwarded-For (nginx's $proxy_add_x_forwarded_for, HAProxy's option
// forwardfor) pass a client's own Forwarded header on untouched, so
// believing it would let any client choose its address.
func forwardedClient(peer netip.Addr, xff []string, trusted []netip.Prefix) netip.Addr {
	if !isTrusted(peer.WithZone(""), trusted) || len(xff) == 0 {
		return peer
	}
	budget, n := maxForwardedBytes, 0
	var leftmost netip.Addr
	for i := len(xff) - 1; i >= 0; i-- {
		line := xff[i]
		for {
			// The rightmost entry of line: after its last comma.
			j := len(line) - 1
			for j >= 0 && line[j] != ',' {
				if budget--; budget < 0 {
					return peer
				}
				j--
			}
			a, ok := parseForwardedEntry(line[j+1:])
			if !ok {
				return peer
			}
			if n++; n > maxForwardedElements {
				return peer
			}
			if !isTrusted(a, trusted) {
				return a
			}
			leftmost = a
			if j < 0 {
				break // line done; on to the previous line
			}
			line = line[:j]
		}
	}
	return leftmost
}

// parseForwardedEntry parses one X-Forwarded-For entry: an IP address,
// optionally with a port, surrounded by optional spaces and tabs.
func parseForwardedEntry(s string) (netip.Addr, bool) {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	if s == "" || len(s) > len("[ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255]:65535") {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		ap, err := netip.ParseAddrPort(s)
		if err != nil {
			return netip.Addr{}, false
		}
		a = ap.Addr()
	}
	if a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
