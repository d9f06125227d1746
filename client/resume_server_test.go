package client

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/peercall/peercall/internal/servertest"
	"github.com/peercall/peercall/internal/testutil"
)

// A participant whose signaling connection drops resumes its session on the
// real server: its peers see it reconnecting and back, nobody leaves, and
// the PeerConnections carry on.
func TestDroppedConnectionResumesWithoutTouchingTheCall(t *testing.T) {
	LeakCheck(t)
	srv := servertest.Start(t)
	counter := NewRTPCounter()
	var mu sync.Mutex
	var seen []bool // b's view of a: Reconnecting() at each OnPeerUpdated
	left := 0
	join := func(name string, onUpdated func(*Peer)) *Room {
		r, err := Join(context.Background(), Config{
			URL: srv.URL, Room: "resume", Name: name, Reconnect: true,
			Tracks: NewMedia(t, name).Tracks(), OnTrack: counter.OnTrack,
			OnPeerUpdated: onUpdated,
			OnPeerLeft:    func(*Peer, string) { mu.Lock(); left++; mu.Unlock() },
			Logger:        testLogger().With("client", name),
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = r.Close() })
		return r
	}
	a := join("a", nil)
	b := join("b", func(p *Peer) {
		mu.Lock()
		seen = append(seen, p.Reconnecting())
		mu.Unlock()
	})
	var pa *Peer
	testutil.Eventually(t, 20*time.Second, func() error {
		if pa = b.Peer(a.Self().ID); pa == nil || pa.ConnectionState() != webrtc.PeerConnectionStateConnected {
			return errors.New("not connected")
		}
		return counter.WantAV(1, a.Self().ID, b.Self().ID)
	})
	pc := pa.PeerConnection()

	// Drop a's WebSocket as a network failure would.
	a.connMu.Lock()
	_ = a.conn.CloseNow()
	a.connMu.Unlock()

	testutil.Eventually(t, 20*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(seen) < 2 || !seen[0] || seen[len(seen)-1] {
			return fmt.Errorf("b saw a's reconnecting flag go %v, want true then false", seen)
		}
		return nil
	})
	before := counter.Count(a.Self().ID, "audio")
	testutil.Eventually(t, 20*time.Second, func() error {
		if counter.Count(a.Self().ID, "audio") <= before+5 {
			return errors.New("media from a stopped")
		}
		return nil
	})
	select {
	case <-a.Done():
		t.Fatalf("a's room ended: %v", a.Err())
	default:
	}
	if b.Peer(a.Self().ID) != pa || pa.PeerConnection() != pc || pa.ConnectionState() != webrtc.PeerConnectionStateConnected {
		t.Error("b's connection to a was replaced or lost")
	}
	mu.Lock()
	defer mu.Unlock()
	if left != 0 {
		t.Errorf("OnPeerLeft called %d times", left)
	}
}
