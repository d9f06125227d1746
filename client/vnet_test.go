package client_test

import (
	"net"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/logging"
	"github.com/pion/transport/v5/vnet"
	"github.com/pion/webrtc/v4"

	"github.com/peercall/peercall/client"
	"github.com/peercall/peercall/internal/servertest"
)

// A caller-supplied SettingEngine is used as given: here the media of two
// clients crosses a pion virtual network with 30 ms of delay, while
// signaling uses the real server on loopback.
func TestMediaCrossesACallerSuppliedVirtualNetwork(t *testing.T) {
	client.LeakCheck(t)
	srv := servertest.Start(t)
	router, err := vnet.NewRouter(&vnet.RouterConfig{
		CIDR:          "198.51.100.0/24",
		MinDelay:      30 * time.Millisecond,
		LoggerFactory: logging.NewDefaultLoggerFactory(),
	})
	if err != nil {
		t.Fatal(err)
	}
	settings := func(ip string) func(*client.Config) {
		n, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{ip}})
		if err != nil {
			t.Fatal(err)
		}
		if err := router.AddNet(n); err != nil {
			t.Fatal(err)
		}
		se := &webrtc.SettingEngine{}
		se.SetNet(n)
		se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
		return func(c *client.Config) {
			c.SettingEngine = se
			c.ICEServers = []webrtc.ICEServer{} // the server's TURN is not on the vnet
		}
	}
	withA, withB := settings("198.51.100.1"), settings("198.51.100.2")
	if err := router.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = router.Stop() }) // after the rooms close (cleanups run last-in first-out)

	a := join(t, srv, "vnet", "a", withA)
	b := join(t, srv, "vnet", "b", withB)
	a.waitConnected(t, b)
	a.waitMedia(t, b)
	b.waitMedia(t, a)

	pc := a.Peer(b.id()).PeerConnection()
	pair, err := pc.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil || pair == nil {
		t.Fatalf("selected pair: %v, %v", pair, err)
	}
	_, vnetRange, _ := net.ParseCIDR("198.51.100.0/24")
	if ip := net.ParseIP(pair.Remote.Address); !vnetRange.Contains(ip) {
		t.Errorf("remote candidate %s is not on the virtual network", pair.Remote.Address)
	}
}
