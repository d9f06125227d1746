package turnserver

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Defaults for zero Config fields.
const (
	// DefaultListenAddr is the IANA STUN/TURN port on all IPv4 addresses.
	DefaultListenAddr = ":3478"
	// DefaultRealm is the TURN realm.
	DefaultRealm = "peercall"
	// DefaultCredentialTTL is how long minted credentials stay valid. TURN
	// clients re-authenticate every Refresh, CreatePermission and
	// ChannelBind with the credentials they were given at join, so this
	// bounds the longest call that can keep a relay. 12 hours covers a
	// working day while keeping a leaked credential short-lived.
	DefaultCredentialTTL = 12 * time.Hour
	// DefaultMaxAllocationsPerUser is the default allocation quota per
	// credential user (one participant). A browser allocates once per TURN
	// URL (udp and tcp) per peer connection, and once more per network
	// interface it gathers on: a mesh of 6 needs 5 peer connections × 2
	// URLs = 10, so 32 leaves room for two interfaces and ICE restarts.
	DefaultMaxAllocationsPerUser = 32
	// minSockets is the least number of SO_REUSEPORT UDP sockets.
	minSockets = 2
	// maxSockets caps Config.Sockets.
	maxSockets = 256
)

// Config configures a Server. The zero value of every field means its
// documented default.
type Config struct {
	// ListenAddr is host:port for STUN/TURN over both UDP and TCP on the
	// same port. The host must be an IP literal or empty; empty means all
	// IPv4 addresses (0.0.0.0), "[::]" means all addresses, dual stack.
	// Default ":3478". Port 0 picks a free port that is the same for UDP
	// and TCP.
	ListenAddr string
	// PublicIP is the address advertised in relay candidates
	// (XOR-RELAYED-ADDRESS) and, when set, in ICEServers URLs. Relays are
	// bound to the listen IP (or the wildcard address when listening on
	// all addresses) and advertised as PublicIP, which suits 1:1 NAT.
	// Empty: the listen IP if it is specific (e.g. 127.0.0.1), else the
	// first global-unicast IPv4 address of the machine's interfaces, else
	// 127.0.0.1. Relays are offered in PublicIP's address family only.
	PublicIP string
	// TLSListenAddr, when set, also serves TURN over TLS (TURNS) on this
	// TCP address, for networks that let only TLS on port 443 through.
	// TLSConfig must then hold the certificate. A specific IP in it is used
	// as the host of the turns: URL.
	TLSListenAddr string
	TLSConfig     *tls.Config
	// Secret is the shared secret for coturn-compatible TURN REST
	// credentials (see RESTCredentials). Empty: a random 32-byte secret
	// generated at start, so credentials do not survive a restart.
	Secret string
	// Realm is the TURN realm. Default "peercall".
	Realm string
	// AllowLoopback lets the relay reach loopback peers (127.0.0.0/8, ::1)
	// for local development and tests. Everything else that AllowedPeer
	// refuses stays refused.
	AllowLoopback bool
	// CredentialTTL is how long credentials minted by Credentials and
	// ICEServers stay valid. Default DefaultCredentialTTL (12 h).
	CredentialTTL time.Duration
	// Sockets is the number of UDP sockets bound with SO_REUSEPORT to the
	// listen address; the kernel spreads clients across them by 4-tuple
	// and each has its own read goroutine. Default runtime.NumCPU(), at
	// least 2; at most 256.
	Sockets int
	// MaxAllocationsPerUser is the allocation quota per credential user
	// (participant); the next Allocate is refused with 486 (Allocation
	// Quota Reached). Default DefaultMaxAllocationsPerUser (32).
	MaxAllocationsPerUser int
	// Logger receives the server's logs and pion/turn's. pion's debug and
	// trace messages, which include one per relayed packet, are logged at
	// slog.LevelDebug-4 so that ordinary debug logging stays usable.
	// nil: discard.
	Logger *slog.Logger
	// Now is the clock for credential expiry. nil: time.Now.
	Now func() time.Time
	// PionDataPath relays every packet through pion/turn's own
	// per-packet handlers, one system call per packet, instead of the
	// batched fast path for bound channels over UDP (see fastpath.go).
	// It exists to compare the two (peercall bench turn); leave it off.
	PionDataPath bool
}

// settings is a validated Config with defaults applied.
type settings struct {
	network    string // "udp4", "udp6" or "udp" (dual stack); "tcp…" alike
	listenIP   netip.Addr
	listenPort int
	publicIP   netip.Addr
	// publicIPSet reports whether Config.PublicIP was given; only then does
	// it override the host passed to ICEServers.
	publicIPSet   bool
	secret        string
	realm         string
	allowLoopback bool
	ttl           time.Duration
	sockets       int
	quota         int
	logger        *slog.Logger
	now           func() time.Time
}

// resolve validates cfg and fills in defaults.
func (cfg Config) resolve() (settings, error) {
	s := settings{
		secret:        cfg.Secret,
		realm:         cfg.Realm,
		allowLoopback: cfg.AllowLoopback,
		ttl:           cfg.CredentialTTL,
		sockets:       cfg.Sockets,
		quota:         cfg.MaxAllocationsPerUser,
		logger:        cfg.Logger,
		now:           cfg.Now,
	}
	if err := s.resolveListen(cfg.ListenAddr); err != nil {
		return settings{}, err
	}
	if err := s.resolvePublicIP(cfg.PublicIP); err != nil {
		return settings{}, err
	}
	switch {
	case s.ttl < 0:
		return settings{}, fmt.Errorf("%w: CredentialTTL %v is negative", ErrInvalidConfig, s.ttl)
	case s.ttl == 0:
		s.ttl = DefaultCredentialTTL
	}
	switch {
	case s.sockets < 0 || s.sockets > maxSockets:
		return settings{}, fmt.Errorf("%w: Sockets %d is outside 0..%d", ErrInvalidConfig, s.sockets, maxSockets)
	case s.sockets == 0:
		s.sockets = max(runtime.NumCPU(), minSockets)
	}
	switch {
	case s.quota < 0:
		return settings{}, fmt.Errorf("%w: MaxAllocationsPerUser %d is negative", ErrInvalidConfig, s.quota)
	case s.quota == 0:
		s.quota = DefaultMaxAllocationsPerUser
	}
	if s.realm == "" {
		s.realm = DefaultRealm
	}
	if strings.ContainsFunc(s.realm, func(r rune) bool { return r < 0x20 || r == 0x7f || r == '"' }) {
		return settings{}, fmt.Errorf("%w: Realm %q has control or quote characters", ErrInvalidConfig, s.realm)
	}
	if s.secret == "" {
		b := make([]byte, 32)
		_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
		s.secret = base64.RawStdEncoding.EncodeToString(b)
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s, nil
}

// resolveListen parses ListenAddr into network, IP and port.
func (s *settings) resolveListen(listenAddr string) error {
	if listenAddr == "" {
		listenAddr = DefaultListenAddr
	}
	host, portStr, err := net.SplitHostPort(listenAddr)
	if err != nil {
		return fmt.Errorf("%w %q: %v", ErrInvalidListenAddr, listenAddr, err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return fmt.Errorf("%w %q: port %q is not a number in 0..65535", ErrInvalidListenAddr, listenAddr, portStr)
	}
	s.listenPort = int(port)
	if host == "" {
		s.listenIP = netip.IPv4Unspecified()
		s.network = "udp4"
		return nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || ip.Zone() != "" {
		return fmt.Errorf("%w %q: host %q is not an IP address", ErrInvalidListenAddr, listenAddr, host)
	}
	ip = ip.Unmap()
	switch {
	case ip.IsMulticast():
		return fmt.Errorf("%w %q: multicast address", ErrInvalidListenAddr, listenAddr)
	case ip.Is4():
		s.network = "udp4"
	case ip.IsUnspecified():
		s.network = "udp" // [::]: dual stack
	default:
		s.network = "udp6"
	}
	s.listenIP = ip
	return nil
}

// resolvePublicIP parses PublicIP or picks the advertised address.
func (s *settings) resolvePublicIP(publicIP string) error {
	if publicIP != "" {
		ip, err := netip.ParseAddr(publicIP)
		if err != nil || ip.Zone() != "" {
			return fmt.Errorf("%w: %q is not an IP address", ErrInvalidPublicIP, publicIP)
		}
		ip = ip.Unmap()
		if ip.IsUnspecified() || ip.IsMulticast() {
			return fmt.Errorf("%w: %s cannot be advertised", ErrInvalidPublicIP, ip)
		}
		if s.network == "udp4" && !ip.Is4() || s.network == "udp6" && !ip.Is6() {
			return fmt.Errorf("%w: %s is not in the address family of the listen address %s", ErrInvalidPublicIP, ip, s.listenIP)
		}
		s.publicIP, s.publicIPSet = ip, true
		return nil
	}
	if !s.listenIP.IsUnspecified() {
		s.publicIP = s.listenIP
		return nil
	}
	s.publicIP = firstInterfaceIPv4()
	return nil
}

// firstInterfaceIPv4 returns the first global-unicast IPv4 address of the
// machine's interfaces, or 127.0.0.1.
func firstInterfaceIPv4() netip.Addr {
	addrs, err := net.InterfaceAddrs()
	if err == nil {
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			ip, ok := netip.AddrFromSlice(ipn.IP)
			if ok && ip.Unmap().Is4() && ip.IsGlobalUnicast() {
				return ip.Unmap()
			}
		}
	}
	return netip.AddrFrom4([4]byte{127, 0, 0, 1})
}
