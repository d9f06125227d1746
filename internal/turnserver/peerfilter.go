package turnserver

import (
	"net"
	"net/netip"
)

// deniedV4 lists the IPv4 ranges the relay never sends to, beyond what
// netip.Addr's predicates (loopback, private, link-local, multicast,
// unspecified) already cover.
var deniedV4 = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),          // "this network" (RFC 791)
	netip.MustParsePrefix("100.64.0.0/10"),      // CGNAT shared space (RFC 6598)
	netip.MustParsePrefix("169.254.0.0/16"),     // link-local, incl. 169.254.169.254 cloud metadata
	netip.MustParsePrefix("192.0.0.0/24"),       // IETF protocol assignments, DS-Lite (RFC 6890)
	netip.MustParsePrefix("198.18.0.0/15"),      // benchmarking (RFC 2544)
	netip.MustParsePrefix("224.0.0.0/4"),        // multicast
	netip.MustParsePrefix("240.0.0.0/4"),        // reserved, incl. 255.255.255.255 broadcast
	netip.MustParsePrefix("10.0.0.0/8"),         // RFC 1918
	netip.MustParsePrefix("172.16.0.0/12"),      // RFC 1918
	netip.MustParsePrefix("192.168.0.0/16"),     // RFC 1918
	netip.MustParsePrefix("255.255.255.255/32"), // limited broadcast (inside 240/4, listed for clarity)
}

// deniedV6 lists the IPv6 ranges the relay never sends to, beyond netip's
// predicates. Prefixes that embed an IPv4 address (NAT64 64:ff9b::/96,
// 6to4 2002::/16) are not listed: the embedded address is checked instead.
var deniedV6 = []netip.Prefix{
	netip.MustParsePrefix("::/96"),          // unspecified and deprecated IPv4-compatible addresses
	netip.MustParsePrefix("64:ff9b:1::/48"), // local-use NAT64 (RFC 8215)
	netip.MustParsePrefix("100::/64"),       // discard-only (RFC 6666)
	netip.MustParsePrefix("2001::/32"),      // Teredo: embeds an obfuscated IPv4 client address
	netip.MustParsePrefix("fc00::/7"),       // unique local (ULA)
	netip.MustParsePrefix("fe80::/10"),      // link-local
	netip.MustParsePrefix("fec0::/10"),      // deprecated site-local
	netip.MustParsePrefix("ff00::/8"),       // multicast
}

var (
	nat64Prefix = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour   = netip.MustParsePrefix("2002::/16")
)

// AllowedPeer reports whether the TURN relay may send to and receive from
// the peer address ip. It is the relay's defence against being used as an
// open proxy into the server's own networks (SSRF): it refuses unspecified,
// loopback, RFC 1918 private, CGNAT, link-local (which includes the
// 169.254.169.254 cloud metadata address), multicast, broadcast and
// reserved IPv4 addresses; IPv6 unspecified, loopback, unique-local,
// link-local, site-local, multicast, discard-only and Teredo addresses; and
// IPv4-mapped, NAT64 (64:ff9b::/96) and 6to4 (2002::/16) addresses whose
// embedded IPv4 address is refused. Loopback peers (127.0.0.0/8, ::1, and
// ::ffff:127.0.0.0/104) are allowed only when allowLoopback is true, for
// local development and tests; the flag never opens any other range.
//
// Public addresses are allowed, including the documentation ranges
// 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24 and 2001:db8::/32, which
// peercall's network-namespace tests use as "public" addresses.
func AllowedPeer(ip net.IP, allowLoopback bool) bool {
	addr, ok := netip.AddrFromSlice(ip)
	if !ok {
		return false
	}
	return allowedAddr(addr.Unmap(), allowLoopback)
}

func allowedAddr(addr netip.Addr, allowLoopback bool) bool {
	if addr.IsLoopback() {
		return allowLoopback
	}
	if !addr.IsValid() || addr.IsUnspecified() || addr.IsMulticast() ||
		addr.IsLinkLocalUnicast() || addr.IsPrivate() {
		return false
	}
	if addr.Is4() {
		for _, p := range deniedV4 {
			if p.Contains(addr) {
				return false
			}
		}
		return true
	}
	for _, p := range deniedV6 {
		if p.Contains(addr) {
			return false
		}
	}
	if embedded, ok := embeddedIPv4(addr); ok {
		// A translator would deliver to the embedded address on its own
		// host, so loopback is never meaningful here.
		return allowedAddr(embedded, false)
	}
	return true
}

// embeddedIPv4 returns the IPv4 address carried by a NAT64 well-known-prefix
// or 6to4 address.
func embeddedIPv4(addr netip.Addr) (netip.Addr, bool) {
	b := addr.As16()
	switch {
	case nat64Prefix.Contains(addr):
		return netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}), true
	case sixToFour.Contains(addr):
		return netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}), true
	}
	return netip.Addr{}, false
}
