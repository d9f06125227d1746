package turnserver

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pion/turn/v5"

	"github.com/peercall/peercall/internal/turnserver/udpbatch"
	"github.com/peercall/peercall/protocol"
)

// closeTimeout bounds how long Close waits for pion to close allocations
// and TCP connections.
const closeTimeout = 5 * time.Second

// Server is an embedded STUN/TURN server: pion/turn on several SO_REUSEPORT
// UDP sockets and one TCP listener sharing a port, with TURN REST
// credentials, a relay peer filter and per-user allocation quotas.
type Server struct {
	st         settings
	turn       *turn.Server
	udpAddr    *net.UDPAddr
	tcpAddr    *net.TCPAddr
	tlsAddr    *net.TCPAddr // TURNS; nil when off
	quota      *quota
	counters   counters
	relayBytes []*byteCounter // one per listening socket
	listeners  []*listenConn  // the listening UDP sockets with the fast path

	// idle is signalled (without blocking) whenever an allocation or TCP
	// connection goes away, for Close to re-check.
	idle chan struct{}

	// relayReaders lends read buffers to fast relay sockets while they
	// have datagrams; writers are the batches they write to clients.
	relayReaders *udpbatch.Pool
	writers      sync.Pool // *udpbatch.Writer

	mu       sync.Mutex // guards the following
	closing  bool
	tcpConns map[*trackedConn]struct{}
	relays   map[netip.AddrPort]*relayConn // fast relay sockets by advertised address

	closeOnce sync.Once
	closeErr  error
}

// New validates cfg, binds the sockets and starts serving. Errors wrap
// ErrInvalidListenAddr, ErrInvalidPublicIP, ErrInvalidConfig or ErrListen.
func New(cfg Config) (*Server, error) {
	st, err := cfg.resolve()
	if err != nil {
		return nil, err
	}
	ss, err := listen(&st)
	if err != nil {
		return nil, err
	}
	s := &Server{
		st:       st,
		udpAddr:  ss.udp[0].LocalAddr().(*net.UDPAddr),
		tcpAddr:  ss.tcp.Addr().(*net.TCPAddr),
		quota:    newQuota(st.quota),
		idle:     make(chan struct{}, 1),
		tcpConns: make(map[*trackedConn]struct{}),
		relays:   make(map[netip.AddrPort]*relayConn),
	}
	fast := !cfg.PionDataPath
	if fast {
		s.relayReaders = udpbatch.NewPool(relayBatch, relaySlot, channelHeader)
		s.writers.New = func() any { return udpbatch.NewWriter(relayBatch) }
	}
	scfg := turn.ServerConfig{
		Realm:         st.realm,
		AuthHandler:   s.authenticate,
		QuotaHandler:  s.checkQuota,
		LoggerFactory: pionLoggerFactory{l: st.logger},
		EventHandler: turn.EventHandler{
			OnAuth: s.onAuth,
			OnAllocationCreated: func(src, _ net.Addr, proto, user, _ string, relay net.Addr, _ int) {
				st.logger.Debug("turn allocation created", "user", user, "client", src, "proto", proto, "relay", relay)
			},
			OnAllocationDeleted: func(src, _ net.Addr, proto, user, _ string) {
				st.logger.Debug("turn allocation deleted", "user", user, "client", src, "proto", proto)
			},
		},
	}
	if fast {
		scfg.EventHandler.OnChannelCreated = s.onChannelCreated
		scfg.EventHandler.OnChannelDeleted = s.onChannelDeleted
	}
	for _, pc := range ss.udp {
		bc := &byteCounter{}
		s.relayBytes = append(s.relayBytes, bc)
		conn, listener := pc, (*listenConn)(nil)
		if uc, ok := pc.(*net.UDPConn); ok && fast {
			if listener, err = s.newListenConn(uc); err != nil {
				ss.close()
				return nil, fmt.Errorf("%w: %v", ErrListen, err)
			}
			conn = listener
			s.listeners = append(s.listeners, listener)
		}
		scfg.PacketConnConfigs = append(scfg.PacketConnConfigs, turn.PacketConnConfig{
			PacketConn:            conn,
			RelayAddressGenerator: s.newRelayGenerator(bc, listener),
			PermissionHandler:     s.permit,
		})
	}
	bc := &byteCounter{}
	s.relayBytes = append(s.relayBytes, bc)
	scfg.ListenerConfigs = []turn.ListenerConfig{{
		Listener:              &trackingListener{Listener: ss.tcp, srv: s},
		RelayAddressGenerator: s.newRelayGenerator(bc, nil),
		PermissionHandler:     s.permit,
	}}
	if cfg.TLSListenAddr != "" {
		if cfg.TLSConfig == nil {
			ss.close()
			return nil, fmt.Errorf("%w: TLSListenAddr needs a TLSConfig with a certificate", ErrInvalidConfig)
		}
		ln, err := net.Listen("tcp", cfg.TLSListenAddr)
		if err != nil {
			ss.close()
			return nil, fmt.Errorf("%w: turns %s: %v", ErrListen, cfg.TLSListenAddr, err)
		}
		s.tlsAddr = ln.Addr().(*net.TCPAddr)
		tbc := &byteCounter{}
		s.relayBytes = append(s.relayBytes, tbc)
		scfg.ListenerConfigs = append(scfg.ListenerConfigs, turn.ListenerConfig{
			Listener:              &trackingListener{Listener: tls.NewListener(ln, cfg.TLSConfig), srv: s},
			RelayAddressGenerator: s.newRelayGenerator(tbc, nil),
			PermissionHandler:     s.permit,
		})
	}
	s.turn, err = turn.NewServer(scfg)
	if err != nil {
		ss.close()
		return nil, fmt.Errorf("turnserver: start pion/turn: %w", err)
	}
	if cfg.Secret != "" && len(cfg.Secret) < 16 {
		st.logger.Warn("turn secret is short; use at least 16 random characters", "length", len(cfg.Secret))
	}
	st.logger.Info("turn server listening", "udp", s.udpAddr, "tcp", s.tcpAddr,
		"sockets", st.sockets, "fast_path", fast, "relay_ip", st.publicIP, "realm", st.realm, "allow_loopback", st.allowLoopback)
	return s, nil
}

// Close stops the server: it closes the listening sockets, every TCP
// connection and every allocation, and waits (up to 5 s) until pion has
// released them. It is safe to call more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closing = true
		s.mu.Unlock()
		s.closeErr = s.turn.Close()
		s.mu.Lock()
		conns := make([]*trackedConn, 0, len(s.tcpConns))
		for c := range s.tcpConns {
			conns = append(conns, c)
		}
		s.mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
		s.waitIdle(closeTimeout)
	})
	return s.closeErr
}

// waitIdle waits until no allocation or TCP connection is open, or timeout.
func (s *Server) waitIdle(timeout time.Duration) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		conns := len(s.tcpConns)
		s.mu.Unlock()
		allocs := s.counters.allocations.Load()
		if conns == 0 && allocs == 0 {
			return
		}
		select {
		case <-s.idle:
		case <-deadline.C:
			s.st.logger.Warn("turn server closed with resources still open", "allocations", allocs, "tcp_conns", conns)
			return
		}
	}
}

// notifyIdle wakes waitIdle, if it waits.
func (s *Server) notifyIdle() {
	select {
	case s.idle <- struct{}{}:
	default:
	}
}

// UDPAddr returns the address the UDP sockets are bound to.
func (s *Server) UDPAddr() *net.UDPAddr {
	a := *s.udpAddr
	a.IP = append(net.IP(nil), a.IP...)
	return &a
}

// TCPAddr returns the address the TCP listener is bound to.
func (s *Server) TCPAddr() *net.TCPAddr {
	a := *s.tcpAddr
	a.IP = append(net.IP(nil), a.IP...)
	return &a
}

// Credentials mints TURN REST credentials for user, valid for
// Config.CredentialTTL from now by Config.Now. An empty user is minted as
// "anonymous". expires is whole seconds, as in the username.
func (s *Server) Credentials(user string) (username, password string, expires time.Time) {
	if user == "" {
		user = "anonymous"
	}
	expires = time.Unix(s.st.now().Add(s.st.ttl).Unix(), 0)
	username, password = RESTCredentials(s.st.secret, user, expires)
	return username, password, expires
}

// ICEServers returns the ICE servers a client should use and when their
// credentials expire: a STUN URL "stun:H:P" and the TURN URLs
// "turn:H:P?transport=udp" and "turn:H:P?transport=tcp" with fresh
// credentials for user. H is Config.PublicIP if it was set, else host: the
// host the client reached the HTTP server at, so a client that used
// 127.0.0.1 is told 127.0.0.1. host may carry a port ("example.com:8443")
// or brackets; both are stripped. An empty host falls back to the resolved
// public IP. IPv6 hosts are bracketed. P is the server's port.
func (s *Server) ICEServers(host, user string) ([]protocol.ICEServer, time.Time) {
	h := s.urlHost(host)
	hp := h + ":" + strconv.Itoa(s.udpAddr.Port)
	username, password, expires := s.Credentials(user)
	urls := []string{"turn:" + hp + "?transport=udp", "turn:" + hp + "?transport=tcp"}
	if s.tlsAddr != nil {
		th := h // a TURNS listener on a specific IP is addressed by that IP
		if !s.tlsAddr.IP.IsUnspecified() {
			th = formatHost(s.tlsAddr.IP.String())
		}
		urls = append(urls, "turns:"+th+":"+strconv.Itoa(s.tlsAddr.Port)+"?transport=tcp")
	}
	return []protocol.ICEServer{
		{URLs: []string{"stun:" + hp}},
		{URLs: urls, Username: username, Credential: password},
	}, expires
}

// TLSAddr is the bound TURNS address, nil without TLSListenAddr.
func (s *Server) TLSAddr() *net.TCPAddr { return s.tlsAddr }

func formatHost(h string) string {
	if strings.Contains(h, ":") {
		return "[" + h + "]"
	}
	return h
}

// urlHost picks and formats the host of ICE server URLs.
func (s *Server) urlHost(host string) string {
	if s.st.publicIPSet {
		host = s.st.publicIP.String()
	} else if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if host == "" {
		host = s.st.publicIP.String()
	}
	if strings.Contains(host, ":") {
		return "[" + host + "]"
	}
	return host
}
