package client

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/peercall/peercall/internal/servertest"
	"github.com/peercall/peercall/internal/testutil"
)

// Offers that cross in the real server's relay, in both directions at once,
// round after round, neither deadlock nor stop the media.
func TestCollidingOffersThroughTheServer(t *testing.T) {
	LeakCheck(t)
	srv := servertest.Start(t)
	counter := NewRTPCounter()
	var rooms [2]*Room
	for i, name := range []string{"a", "b"} {
		r, err := Join(context.Background(), Config{
			URL: srv.URL, Room: "glare", Name: name,
			Tracks: NewMedia(t, name).Tracks(), OnTrack: counter.OnTrack,
			Logger: testLogger().With("client", name),
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = r.Close() })
		rooms[i] = r
	}
	a, b := rooms[0], rooms[1]
	var pa, pb *Peer
	testutil.Eventually(t, 20*time.Second, func() error {
		pa, pb = a.Peer(b.Self().ID), b.Peer(a.Self().ID)
		if pa == nil || pb == nil {
			return errors.New("peers not known yet")
		}
		return nil
	})
	for round := range 5 {
		if round > 0 {
			pa.negotiate(round%2 == 0) // every other round an ICE restart
			pb.negotiate(round%2 == 0)
		}
		audio := counter.Count(a.Self().ID, "audio") + counter.Count(b.Self().ID, "audio")
		testutil.Eventually(t, 20*time.Second, func() error {
			for _, p := range []*Peer{pa, pb} {
				if s := p.ConnectionState(); s != webrtc.PeerConnectionStateConnected {
					return fmt.Errorf("round %d: %s", round, s)
				}
				if s := p.PeerConnection().SignalingState(); s != webrtc.SignalingStateStable {
					return fmt.Errorf("round %d: signaling %s", round, s)
				}
			}
			if n := counter.Count(a.Self().ID, "audio") + counter.Count(b.Self().ID, "audio"); n < audio+10 {
				return fmt.Errorf("round %d: media not flowing", round)
			}
			if err := counter.WantAV(1, a.Self().ID, b.Self().ID); err != nil {
				return err
			}
			return nil
		})
	}
}
