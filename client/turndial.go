package client

import (
	"context"
	"crypto/tls"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/pion/stun/v4"
	"github.com/pion/webrtc/v4"
)

// turnDialTimeout bounds connecting to a TURN server over TCP or TLS.
// Without it, a firewall that silently drops the connection holds the ICE
// gatherer, and with it closing the PeerConnection, for as long as the
// operating system retries SYNs (about two minutes on Linux).
const turnDialTimeout = 10 * time.Second

// turnDialer connects pion's ICE agents to TURN servers over TCP and TLS
// (pion's ICE proxy dialer hook), with a timeout, and gives up at once when
// the room ends. pion hands TLS to the dialer too ("turns:" with a proxy
// dialer), so the dialer knows which addresses are TURNS servers, and their
// names, from the ICE servers of the session.
type turnDialer struct {
	ctx  context.Context // ended with the room
	stop context.CancelFunc

	mu  sync.Mutex
	tls map[string]string // "host:port" of "turns:" servers -> TLS server name
}

func newTURNDialer() *turnDialer {
	ctx, stop := context.WithCancel(context.Background())
	return &turnDialer{ctx: ctx, stop: stop, tls: map[string]string{}}
}

// setServers records which of the session's ICE servers use TLS.
func (d *turnDialer) setServers(servers []webrtc.ICEServer) {
	m := map[string]string{}
	for _, s := range servers {
		for _, raw := range s.URLs {
			u, err := stun.ParseURI(raw)
			if err != nil || u.Scheme != stun.SchemeTypeTURNS {
				continue
			}
			m[net.JoinHostPort(u.Host, strconv.Itoa(u.Port))] = u.Host
		}
	}
	d.mu.Lock()
	d.tls = m
	d.mu.Unlock()
}

// Dial implements proxy.Dialer for pion.
func (d *turnDialer) Dial(network, addr string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(d.ctx, turnDialTimeout)
	defer cancel()
	var nd net.Dialer
	c, err := nd.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	name, isTLS := d.tls[addr]
	d.mu.Unlock()
	if !isTLS {
		return c, nil
	}
	tc := tls.Client(c, &tls.Config{ServerName: name, MinVersion: tls.VersionTLS12})
	if err := tc.HandshakeContext(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return tc, nil
}
