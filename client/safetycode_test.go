package client

import (
	"errors"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"

	"github.com/peercall/peercall/internal/testutil"
)

// connectDirect connects two in-process PeerConnections (with a data
// channel, so DTLS runs) by exchanging complete descriptions.
func connectDirect(t *testing.T) (a, b *webrtc.PeerConnection) {
	t.Helper()
	var se webrtc.SettingEngine
	se.SetInterfaceFilter(func(n string) bool { return n == "lo" })
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	api := webrtc.NewAPI(webrtc.WithSettingEngine(se))
	newPC := func() *webrtc.PeerConnection {
		pc, err := api.NewPeerConnection(webrtc.Configuration{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { pc.Close() })
		return pc
	}
	a, b = newPC(), newPC()
	if _, err := a.CreateDataChannel("x", nil); err != nil {
		t.Fatal(err)
	}
	offer, _ := a.CreateOffer(nil)
	gather := webrtc.GatheringCompletePromise(a)
	a.SetLocalDescription(offer)
	<-gather
	b.SetRemoteDescription(*a.LocalDescription())
	answer, _ := b.CreateAnswer(nil)
	gather = webrtc.GatheringCompletePromise(b)
	b.SetLocalDescription(answer)
	<-gather
	a.SetRemoteDescription(*b.LocalDescription())
	testutil.Eventually(t, 20*time.Second, func() error {
		if safetyCode(a) == "" || safetyCode(b) == "" {
			return errors.New("DTLS not connected")
		}
		return nil
	})
	return a, b
}

func TestSafetyCodesMatchEndToEndAndExposeAManInTheMiddle(t *testing.T) {
	alice, bob := connectDirect(t)
	if ca, cb := safetyCode(alice), safetyCode(bob); ca != cb {
		t.Fatalf("a direct connection shows different codes: %q vs %q", ca, cb)
	}

	// Mallory, in the middle, terminates DTLS with each side: Alice talks
	// to m1, Bob to m2. Each leg agrees with itself, but Alice and Bob,
	// comparing their codes, see that they differ.
	alice2, m1 := connectDirect(t)
	m2, bob2 := connectDirect(t)
	if safetyCode(alice2) != safetyCode(m1) || safetyCode(m2) != safetyCode(bob2) {
		t.Fatal("legs disagree with themselves")
	}
	if safetyCode(alice2) == safetyCode(bob2) {
		t.Fatalf("a man in the middle went unnoticed: both show %q", safetyCode(alice2))
	}
}

func TestAReflexiveAddressEqualToItsBaseCountsAsHost(t *testing.T) {
	direct := &webrtc.ICECandidate{Typ: webrtc.ICECandidateTypeSrflx, Address: "198.51.100.31", Port: 5000, RelatedAddress: "198.51.100.31", RelatedPort: 5000}
	natted := &webrtc.ICECandidate{Typ: webrtc.ICECandidateTypeSrflx, Address: "198.51.100.21", Port: 5000, RelatedAddress: "203.0.113.2", RelatedPort: 5000}
	host := &webrtc.ICECandidate{Typ: webrtc.ICECandidateTypeHost, Address: "198.51.100.31", Port: 5000}
	if !untranslated(direct) || untranslated(natted) || untranslated(host) {
		t.Fatal("untranslated misjudges")
	}
}
