// Package config holds peercall serve's configuration: defaults, an optional
// YAML file, PEERCALL_* environment variables and command-line flags, applied
// in that order (later wins), then validated once.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/peercall/peercall/internal/auth"
)

// Config is the configuration of peercall serve. The zero value of a field
// means "use the default" where a default is documented.
type Config struct {
	// Listen is the HTTP address (web app, signaling, health, metrics).
	// Default ":8080".
	Listen string `yaml:"listen"`
	// TURNListen is the STUN/TURN address, UDP and TCP on the same port.
	// Default ":3478". "off" disables the embedded STUN/TURN server.
	TURNListen string `yaml:"turn_listen"`
	// TURNSListen serves TURN over TLS (turns:) on this TCP address, for
	// networks that let only TLS on port 443 through. It uses the HTTPS
	// certificate (tls-cert, acme-domain or tls-self-signed). Default off.
	TURNSListen string `yaml:"turns_listen"`
	// MetricsListen is where /metrics is served: "" (the default) on the
	// main listener, beside the web app; "off" nowhere; or an address of
	// its own (plain HTTP, e.g. 127.0.0.1:9090 or a private interface),
	// and then not on the main listener.
	MetricsListen string `yaml:"metrics_listen"`
	// TURNPublicIP is the address advertised in relay candidates and in the
	// ICE server URLs handed to clients. Default: the host the client
	// reached the HTTP server at, and the listen IP for relay candidates.
	TURNPublicIP string `yaml:"turn_public_ip"`
	// TURNSecret is the shared secret of the coturn-compatible TURN REST
	// credentials. Default: random at each start.
	TURNSecret string `yaml:"turn_secret"`
	// TURNAllowLoopback lets the relay reach loopback peers (local
	// development and tests only). Default false.
	TURNAllowLoopback bool `yaml:"turn_allow_loopback"`
	// ICEServers are external STUN/TURN URLs handed out beside the embedded
	// server (or instead of it, with TURNListen "off"). Credentials go in
	// the URL's user info: turn:user:pass@host:port?transport=udp.
	ICEServers []string `yaml:"ice_servers"`
	// MaxParticipants is the mesh size limit per room. Default 6.
	MaxParticipants int `yaml:"max_participants"`
	// WebDir serves the web app from disk instead of the embedded copy.
	WebDir string `yaml:"web_dir"`
	// PingInterval is how often clients must send ping; a client silent for
	// three intervals is dropped. Default 5s.
	PingInterval time.Duration `yaml:"ping_interval"`
	// MaxMessageBytes is the largest signaling frame accepted. Default 64 KiB.
	MaxMessageBytes int `yaml:"max_message_bytes"`
	// LogLevel is debug, info, warn or error. Default info.
	LogLevel string `yaml:"log_level"`
	// ResumeGrace is how long a participant whose connection dropped is
	// kept for it to resume before the room is told it left. Default 25s.
	ResumeGrace time.Duration `yaml:"resume_grace"`
	// AllowedOrigins lets pages on other sites open the signaling socket
	// (host patterns such as app.example.com or *.example.com). Same-origin
	// is always allowed. Default none.
	AllowedOrigins []string `yaml:"allowed_origins"`
	// MessageRate and MessageBurst limit signaling frames per second per
	// connection. Defaults 50 and 200.
	MessageRate  int `yaml:"message_rate"`
	MessageBurst int `yaml:"message_burst"`
	// MaxConnsPerIP bounds open signaling connections per client address.
	// Default 100; -1 is unlimited.
	MaxConnsPerIP int `yaml:"max_conns_per_ip"`
	// JoinsPerIPPerMinute bounds joins per client address. Default 120;
	// -1 is unlimited.
	JoinsPerIPPerMinute int `yaml:"joins_per_ip_per_minute"`
	// TrustedProxies are the reverse proxies and load balancers (IP
	// addresses or CIDR prefixes, IPv4 or IPv6) whose X-Forwarded-For
	// header is believed: for a request from one of them, the client
	// address is the rightmost X-Forwarded-For entry that is not itself a
	// trusted proxy. Default none: the header is ignored and the client
	// address is the TCP peer's. See docs/security.md.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// MaxRooms and MaxTotalParticipants bound the server. Defaults 20000
	// and 50000; -1 is unlimited.
	MaxRooms             int `yaml:"max_rooms"`
	MaxTotalParticipants int `yaml:"max_total_participants"`
	// TLSCert and TLSKey serve HTTPS (and wss) from PEM files.
	TLSCert string `yaml:"tls_cert"`
	TLSKey  string `yaml:"tls_key"`
	// ACMEDomains get automatic certificates (Let's Encrypt) through
	// TLS-ALPN-01: listen on :443 and point the domains at this server.
	ACMEDomains []string `yaml:"acme_domains"`
	ACMEEmail   string   `yaml:"acme_email"`
	// ACMECache stores the certificates. Default "peercall-certs".
	ACMECache string `yaml:"acme_cache"`
	// TLSSelfSigned serves HTTPS with a certificate generated at start, for
	// LAN testing: browsers need a secure context for cameras off
	// localhost.
	TLSSelfSigned bool `yaml:"tls_self_signed"`
	// FrameAncestors lists the sites allowed to embed the web app in a
	// frame (CSP frame-ancestors sources, e.g. https://app.example.com).
	// Default: only the server's own pages.
	FrameAncestors []string `yaml:"frame_ancestors"`
	// APIKeys turn on token mode: "KEY:SECRET" pairs whose secrets sign
	// access tokens (JWT HS256). Every join then needs a valid token for
	// its room. Default none: open mode.
	APIKeys []string `yaml:"api_keys"`
	// SessionSecret signs resume tokens. Give a restarted server the same
	// secret and its clients come back with their identities. Default:
	// random at each start.
	SessionSecret string `yaml:"session_secret"`
	// Redis turns on cluster mode: rooms live in this Redis
	// (redis://[:PASSWORD@]HOST:PORT/DB, or rediss:// for TLS) and any
	// number of nodes share them. With a master_name parameter the address
	// is a Redis Sentinel's, and the nodes follow the master it names
	// through failovers:
	// redis://SENTINEL:26379/DB?master_name=NAME&addr=SENTINEL2:26379
	// (&password=... for the master's). Every node then needs the same
	// SessionSecret and TURNSecret. Default: none, a single node.
	Redis string `yaml:"redis"`
	// NodeID names this node in a cluster (logs, metrics). Default: random
	// at each start.
	NodeID string `yaml:"node_id"`
	// RedisPrefix starts every Redis key and channel of the cluster, so
	// that several clusters can share one Redis. Default "peercall:".
	RedisPrefix string `yaml:"redis_prefix"`
}

// Defaults.
const (
	DefaultListen          = ":8080"
	DefaultTURNListen      = ":3478"
	DefaultMaxParticipants = 6
	DefaultPingInterval    = 5 * time.Second
	DefaultMaxMessageBytes = 64 << 10
	DefaultLogLevel        = "info"
	DefaultResumeGrace     = 25 * time.Second
)

// Default returns the configuration used when nothing is configured.
func Default() Config {
	return Config{
		Listen:          DefaultListen,
		TURNListen:      DefaultTURNListen,
		MaxParticipants: DefaultMaxParticipants,
		PingInterval:    DefaultPingInterval,
		MaxMessageBytes: DefaultMaxMessageBytes,
		LogLevel:        DefaultLogLevel,
		ResumeGrace:     DefaultResumeGrace,

		MessageRate:          50,
		MessageBurst:         200,
		MaxConnsPerIP:        100,
		JoinsPerIPPerMinute:  120,
		MaxRooms:             20000,
		MaxTotalParticipants: 50000,
	}
}

// TLSEnabled reports whether the server speaks HTTPS.
func (c *Config) TLSEnabled() bool {
	return c.TLSCert != "" || len(c.ACMEDomains) > 0 || c.TLSSelfSigned
}

// TURNEnabled reports whether the embedded STUN/TURN server runs.
func (c *Config) TURNEnabled() bool { return c.TURNListen != "off" }

// ErrInvalid wraps every validation error.
var ErrInvalid = errors.New("invalid configuration")

// Validate fills zero fields with defaults and checks every field.
func (c *Config) Validate() error {
	d := Default()
	if c.Listen == "" {
		c.Listen = d.Listen
	}
	if c.TURNListen == "" {
		c.TURNListen = d.TURNListen
	}
	if c.MaxParticipants == 0 {
		c.MaxParticipants = d.MaxParticipants
	}
	if c.PingInterval == 0 {
		c.PingInterval = d.PingInterval
	}
	if c.MaxMessageBytes == 0 {
		c.MaxMessageBytes = d.MaxMessageBytes
	}
	if c.LogLevel == "" {
		c.LogLevel = d.LogLevel
	}
	if c.ResumeGrace == 0 {
		c.ResumeGrace = d.ResumeGrace
	}
	for _, f := range []struct {
		v   *int
		def int
	}{{&c.MessageRate, d.MessageRate}, {&c.MessageBurst, d.MessageBurst}, {&c.MaxConnsPerIP, d.MaxConnsPerIP},
		{&c.JoinsPerIPPerMinute, d.JoinsPerIPPerMinute}, {&c.MaxRooms, d.MaxRooms}, {&c.MaxTotalParticipants, d.MaxTotalParticipants}} {
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	bad := func(key, format string, a ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrInvalid, key, fmt.Sprintf(format, a...))
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return bad("listen", "%q is not host:port (%v)", c.Listen, err)
	}
	if c.TURNEnabled() {
		if _, _, err := net.SplitHostPort(c.TURNListen); err != nil {
			return bad("turn-listen", "%q is not host:port or \"off\" (%v)", c.TURNListen, err)
		}
	}
	if c.TURNPublicIP != "" && net.ParseIP(c.TURNPublicIP) == nil {
		return bad("turn-public-ip", "%q is not an IP address", c.TURNPublicIP)
	}
	if c.MaxParticipants < 2 || c.MaxParticipants > 50 {
		return bad("max-participants", "%d is outside 2..50 (a full mesh beyond a few peers needs a forwarding server)", c.MaxParticipants)
	}
	if c.PingInterval < 100*time.Millisecond || c.PingInterval > time.Minute {
		return bad("ping-interval", "%v is outside 100ms..1m", c.PingInterval)
	}
	if c.MaxMessageBytes < 4<<10 || c.MaxMessageBytes > 16<<20 {
		return bad("max-message-bytes", "%d is outside 4 KiB..16 MiB", c.MaxMessageBytes)
	}
	if c.ResumeGrace < 0 || c.ResumeGrace > 10*time.Minute {
		return bad("resume-grace", "%v is outside 0..10m", c.ResumeGrace)
	}
	if c.SessionSecret != "" && len(c.SessionSecret) < 16 {
		return bad("session-secret", "use at least 16 characters")
	}
	if c.Redis != "" {
		if _, _, err := ParseRedisURL(c.Redis); err != nil {
			return bad("redis", "%q is not a redis:// or rediss:// URL (%v)", c.Redis, err)
		}
		if c.SessionSecret == "" {
			return bad("redis", "cluster mode needs --session-secret, the same on every node, so that participants can resume through any node")
		}
		if c.TURNEnabled() && c.TURNSecret == "" {
			return bad("redis", "cluster mode needs --turn-secret, the same on every node, so that TURN credentials minted by one node work on all")
		}
	}
	if len(c.RedisPrefix) > 64 || strings.ContainsAny(c.RedisPrefix, " \x00") {
		return bad("redis-prefix", "%q: use up to 64 characters without spaces", c.RedisPrefix)
	}
	if len(c.NodeID) > 64 || strings.ContainsAny(c.NodeID, " \x00:") {
		return bad("node-id", "%q: use up to 64 characters without spaces or colons", c.NodeID)
	}
	if c.MessageRate < 1 || c.MessageBurst < 1 {
		return bad("message-rate", "message rate and burst must be at least 1")
	}
	if _, err := ParseTrustedProxies(c.TrustedProxies); err != nil {
		return bad("trusted-proxies", "%v", err)
	}
	for _, o := range c.AllowedOrigins {
		if o == "" || strings.ContainsAny(o, " /") && !strings.Contains(o, "://") {
			return bad("allowed-origin", "%q is not a host pattern like app.example.com", o)
		}
	}
	modes := 0
	if c.TLSCert != "" || c.TLSKey != "" {
		modes++
		if c.TLSCert == "" || c.TLSKey == "" {
			return bad("tls-cert", "give both --tls-cert and --tls-key")
		}
	}
	if len(c.ACMEDomains) > 0 {
		modes++
	}
	if c.TLSSelfSigned {
		modes++
	}
	if modes > 1 {
		return bad("tls", "choose one of --tls-cert/--tls-key, --acme-domain and --tls-self-signed")
	}
	if c.MetricsListen != "" && c.MetricsListen != "off" {
		if _, _, err := net.SplitHostPort(c.MetricsListen); err != nil {
			return bad("metrics-listen", `%q is not host:port or "off" (%v)`, c.MetricsListen, err)
		}
	}
	if c.TURNSListen != "" {
		if _, _, err := net.SplitHostPort(c.TURNSListen); err != nil {
			return bad("turns-listen", "%q is not host:port (%v)", c.TURNSListen, err)
		}
		if modes == 0 {
			return bad("turns-listen", "TURN over TLS needs a certificate: give --tls-cert/--tls-key, --acme-domain or --tls-self-signed")
		}
		if !c.TURNEnabled() {
			return bad("turns-listen", "the embedded TURN server is off (--turn-listen off)")
		}
	}
	if c.ACMECache == "" {
		c.ACMECache = "peercall-certs"
	}
	if _, err := auth.ParseAPIKeys(c.APIKeys); err != nil {
		return bad("api-key", "%v", err)
	}
	for _, f := range c.FrameAncestors {
		if f == "" || strings.ContainsAny(f, " ;,\"") {
			return bad("frame-ancestor", "%q is not a CSP source like https://app.example.com", f)
		}
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return bad("log-level", "%q is not debug, info, warn or error", c.LogLevel)
	}
	for _, s := range c.ICEServers {
		srv, err := ParseICEServer(s)
		if err != nil {
			return bad("ice-server", "%v", err)
		}
		if srv.IsTURN() && srv.Username == "" && c.TURNSecret == "" {
			return bad("ice-server", "%q: a TURN server needs credentials: turn:USER:PASS@host:port, or set turn-secret to mint per-participant credentials for it", s)
		}
	}
	return nil
}

// ParseTrustedProxies parses trusted_proxies entries: IP addresses
// ("10.0.0.2", "2001:db8::2") or CIDR prefixes ("10.0.0.0/24",
// "2001:db8::/64"). IPv4-mapped IPv6 entries become IPv4 ones, since client
// addresses are compared unmapped. A prefix covering every address (/0) is
// refused: it would let any client name its own address. The error names
// the first bad entry.
func ParseTrustedProxies(entries []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, e := range entries {
		s := strings.TrimSpace(e)
		var p netip.Prefix
		var err error
		if strings.Contains(s, "/") {
			p, err = netip.ParsePrefix(s)
		} else {
			var a netip.Addr
			if a, err = netip.ParseAddr(s); err == nil {
				if a.Zone() != "" {
					return nil, fmt.Errorf("%q: an IPv6 zone is not allowed", e)
				}
				p = netip.PrefixFrom(a, a.BitLen())
			}
		}
		if err != nil {
			return nil, fmt.Errorf("%q is not an IP address or CIDR prefix like 10.0.0.2 or 10.0.0.0/24", e)
		}
		if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		if p.Bits() == 0 {
			return nil, fmt.Errorf("%q trusts every address: any client could then claim any address; list only your own proxies", e)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// ICEServer is one external STUN/TURN server parsed from a URL.
type ICEServer struct {
	URL        string // without user info
	Username   string
	Credential string
}

// ParseICEServer parses stun:host:port, turn:user:pass@host:port?transport=udp
// and turns:... URLs. Credentials in the user info are split off. A TURN URL
// without them gets per-participant TURN REST credentials minted with the
// turn secret (see Validate).
func ParseICEServer(s string) (ICEServer, error) {
	scheme, rest, ok := strings.Cut(s, ":")
	if !ok {
		return ICEServer{}, fmt.Errorf("%q: missing scheme (stun:, turn: or turns:)", s)
	}
	switch scheme {
	case "stun", "stuns", "turn", "turns":
	default:
		return ICEServer{}, fmt.Errorf("%q: scheme %q is not stun, stuns, turn or turns", s, scheme)
	}
	srv := ICEServer{}
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		userinfo := rest[:at]
		rest = rest[at+1:]
		u, p, _ := strings.Cut(userinfo, ":")
		var err error
		if srv.Username, err = url.PathUnescape(u); err != nil {
			return ICEServer{}, fmt.Errorf("%q: bad username: %v", s, err)
		}
		if srv.Credential, err = url.PathUnescape(p); err != nil {
			return ICEServer{}, fmt.Errorf("%q: bad credential: %v", s, err)
		}
	}
	hostport, query, _ := strings.Cut(rest, "?")
	if hostport == "" {
		return ICEServer{}, fmt.Errorf("%q: missing host", s)
	}
	host := hostport
	if h, p, err := net.SplitHostPort(hostport); err == nil {
		host = h
		if p == "" {
			return ICEServer{}, fmt.Errorf("%q: empty port", s)
		}
	}
	if host == "" || strings.ContainsAny(host, "/ ") {
		return ICEServer{}, fmt.Errorf("%q: bad host", s)
	}
	if query != "" {
		q, err := url.ParseQuery(query)
		if err != nil {
			return ICEServer{}, fmt.Errorf("%q: bad query: %v", s, err)
		}
		if t := q.Get("transport"); t != "" && t != "udp" && t != "tcp" {
			return ICEServer{}, fmt.Errorf("%q: transport must be udp or tcp", s)
		}
	}
	srv.URL = scheme + ":" + rest
	return srv, nil
}

// IsTURN reports whether the server is a TURN (not STUN) server.
func (s ICEServer) IsTURN() bool {
	return strings.HasPrefix(s.URL, "turn:") || strings.HasPrefix(s.URL, "turns:")
}

// MetricsOnMain reports whether /metrics is served on the main listener.
func (c Config) MetricsOnMain() bool { return c.MetricsListen == "" }

// MetricsOwnListener reports whether /metrics has a listener of its own.
func (c Config) MetricsOwnListener() bool { return c.MetricsListen != "" && c.MetricsListen != "off" }

// ParseRedisURL parses a --redis URL: a Redis server's (plain set), or,
// with a master_name query parameter, Redis Sentinels' (failover set; the
// format is go-redis's failover URL: the host is the first Sentinel, addr
// parameters name more, password is the master's, the user info the
// Sentinels').
func ParseRedisURL(u string) (plain *redis.Options, failover *redis.FailoverOptions, err error) {
	if parsed, err := url.Parse(u); err == nil && parsed.Query().Has("master_name") {
		o, err := redis.ParseFailoverURL(u)
		if err != nil {
			return nil, nil, err
		}
		if o.MasterName == "" {
			return nil, nil, errors.New("master_name is empty")
		}
		return nil, o, nil
	}
	o, err := redis.ParseURL(u)
	return o, nil, err
}
