package client_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/peercall/peercall/client"
	"github.com/peercall/peercall/internal/config"
	"github.com/peercall/peercall/internal/servertest"
	"github.com/peercall/peercall/internal/testutil"
	"github.com/peercall/peercall/protocol"
)

const wait = 20 * time.Second

// participant is one joined client with recorders for its events.
type participant struct {
	*client.Room
	media *client.Media
	rtp   *client.RTPCounter

	mu           sync.Mutex // guards the following
	data         map[string][]string
	left         map[string]string // peer ID -> reason
	updated      map[string]string // peer ID -> name
	joined       []string          // peer IDs, in OnPeerJoined order
	states       map[string][]webrtc.PeerConnectionState
	disconnected error
}

func testLogger(name string) *slog.Logger {
	if os.Getenv("PEERCALL_TEST_LOG") == "debug" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("client", name)
	}
	return nil
}

// join joins room on srv as name, publishing synthetic audio and video, and
// closes the room when the test ends.
func join(t *testing.T, srv *servertest.Server, room, name string, mod ...func(*client.Config)) *participant {
	t.Helper()
	p, err := tryJoin(t, srv, room, name, mod...)
	if err != nil {
		t.Fatalf("join %s: %v", name, err)
	}
	return p
}

func tryJoin(t *testing.T, srv *servertest.Server, room, name string, mod ...func(*client.Config)) (*participant, error) {
	t.Helper()
	p := &participant{
		media:   client.NewMedia(t, name),
		rtp:     client.NewRTPCounter(),
		data:    map[string][]string{},
		left:    map[string]string{},
		updated: map[string]string{},
		states:  map[string][]webrtc.PeerConnectionState{},
	}
	cfg := client.Config{
		URL:     srv.URL,
		Room:    room,
		Name:    name,
		Tracks:  p.media.Tracks(),
		Logger:  testLogger(name),
		OnTrack: p.rtp.OnTrack,
		OnData: func(peer *client.Peer, data []byte) {
			p.mu.Lock()
			p.data[peer.ID()] = append(p.data[peer.ID()], string(data))
			p.mu.Unlock()
		},
		OnPeerLeft: func(peer *client.Peer, reason string) {
			p.mu.Lock()
			p.left[peer.ID()] = reason
			p.mu.Unlock()
		},
		OnPeerJoined: func(peer *client.Peer) {
			p.mu.Lock()
			p.joined = append(p.joined, peer.ID())
			p.mu.Unlock()
		},
		OnPeerConnectionState: func(peer *client.Peer, s webrtc.PeerConnectionState) {
			p.mu.Lock()
			p.states[peer.ID()] = append(p.states[peer.ID()], s)
			p.mu.Unlock()
		},
		OnPeerUpdated: func(peer *client.Peer) {
			p.mu.Lock()
			p.updated[peer.ID()] = peer.Name()
			p.mu.Unlock()
		},
		OnDisconnect: func(err error) {
			p.mu.Lock()
			p.disconnected = err
			p.mu.Unlock()
		},
	}
	for _, m := range mod {
		m(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	r, err := client.Join(ctx, cfg)
	if err != nil {
		return nil, err
	}
	p.Room = r
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("close %s: %v", name, err)
		}
	})
	return p, nil
}

func (p *participant) id() string { return p.Self().ID }

// waitConnected waits until p has a connected peer for each of others.
func (p *participant) waitConnected(t *testing.T, others ...*participant) {
	t.Helper()
	testutil.Eventually(t, wait, func() error {
		for _, o := range others {
			peer := p.Peer(o.id())
			if peer == nil {
				return fmt.Errorf("%s does not know %s", p.Self().Name, o.Self().Name)
			}
			if s := peer.ConnectionState(); s != webrtc.PeerConnectionStateConnected {
				return fmt.Errorf("%s -> %s: %s", p.Self().Name, o.Self().Name, s)
			}
		}
		return nil
	})
}

// waitMedia waits until p received audio and video from each of others.
func (p *participant) waitMedia(t *testing.T, others ...*participant) {
	t.Helper()
	ids := make([]string, len(others))
	for i, o := range others {
		ids[i] = o.id()
	}
	testutil.Eventually(t, wait, func() error { return p.rtp.WantAV(5, ids...) })
}

func (p *participant) received(from string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.data[from]...)
}

func TestTwoClientsExchangeMediaAndData(t *testing.T) {
	client.LeakCheck(t)
	srv := servertest.Start(t)
	alice := join(t, srv, "two", "alice")
	bob := join(t, srv, "two", "bob")

	alice.waitConnected(t, bob)
	bob.waitConnected(t, alice)
	alice.waitMedia(t, bob)
	bob.waitMedia(t, alice)

	if got := alice.Peer(bob.id()).Name(); got != "bob" {
		t.Errorf("alice sees bob as %q", got)
	}
	if ps := bob.Peers(); len(ps) != 1 || ps[0].ID() != alice.id() {
		t.Errorf("bob's peers = %v", ps)
	}
	if got := alice.Peer(bob.id()).SelectedCandidateType(); got != "host" {
		t.Errorf("SelectedCandidateType = %q, want host", got)
	}
	testutil.Eventually(t, wait, func() error {
		ca, cb := alice.Peer(bob.id()).SafetyCode(), bob.Peer(alice.id()).SafetyCode()
		if ca == "" || ca != cb {
			return fmt.Errorf("safety codes %q and %q", ca, cb)
		}
		return nil
	})
	for _, c := range []struct{ p, other *participant }{{alice, bob}, {bob, alice}} {
		testutil.Eventually(t, wait, func() error {
			c.p.mu.Lock()
			defer c.p.mu.Unlock()
			if len(c.p.joined) != 1 || c.p.joined[0] != c.other.id() {
				return fmt.Errorf("%s: OnPeerJoined for %v", c.p.Self().Name, c.p.joined)
			}
			if !slices.Contains(c.p.states[c.other.id()], webrtc.PeerConnectionStateConnected) {
				return fmt.Errorf("%s: states reported %v", c.p.Self().Name, c.p.states[c.other.id()])
			}
			return nil
		})
	}

	testutil.Eventually(t, wait, func() error {
		if err := alice.Peer(bob.id()).Send([]byte("hi bob")); err != nil {
			return err
		}
		return bob.Broadcast([]byte("hi all"))
	})
	testutil.Eventually(t, wait, func() error {
		if len(bob.received(alice.id())) == 0 || len(alice.received(bob.id())) == 0 {
			return errors.New("data messages not received")
		}
		return nil
	})
	if got := bob.received(alice.id())[0]; got != "hi bob" {
		t.Errorf("bob got %q", got)
	}
	if got := alice.received(bob.id())[0]; got != "hi all" {
		t.Errorf("alice got %q", got)
	}
}

func TestFourClientsFormAFullMesh(t *testing.T) {
	client.LeakCheck(t)
	srv := servertest.Start(t)
	var ps []*participant
	for _, name := range []string{"p1", "p2", "p3", "p4"} {
		ps = append(ps, join(t, srv, "mesh", name))
	}
	for i, p := range ps {
		others := append(append([]*participant(nil), ps[:i]...), ps[i+1:]...)
		p.waitConnected(t, others...)
		p.waitMedia(t, others...)
		if n := len(p.Peers()); n != 3 {
			t.Errorf("%s has %d peers", p.Self().Name, n)
		}
	}
}

func TestRelayOnlyCallGoesThroughTURN(t *testing.T) {
	client.LeakCheck(t)
	srv := servertest.Start(t)
	relay := func(c *client.Config) { c.RelayOnly = true }
	a := join(t, srv, "relay", "a", relay)
	b := join(t, srv, "relay", "b", relay)
	a.waitConnected(t, b)
	b.waitConnected(t, a)
	a.waitMedia(t, b)
	b.waitMedia(t, a)
	for _, p := range []*participant{a, b} {
		for _, peer := range p.Peers() {
			if got := peer.SelectedCandidateType(); got != "relay" {
				t.Errorf("%s: SelectedCandidateType = %q, want relay", p.Self().Name, got)
			}
		}
	}
}

func TestSeventhJoinerOfASixPersonRoomIsRefused(t *testing.T) {
	client.LeakCheck(t)
	srv := servertest.Start(t, func(c *config.Config) { c.MaxParticipants = 6 })
	noMedia := func(c *client.Config) { c.Tracks = nil }
	for i := range 6 {
		join(t, srv, "full", fmt.Sprintf("p%d", i), noMedia)
	}
	_, err := tryJoin(t, srv, "full", "p7", noMedia)
	if !client.IsCode(err, protocol.CodeRoomFull) {
		t.Fatalf("7th join: err = %v, want code %s", err, protocol.CodeRoomFull)
	}
	var ce *client.Error
	if !errors.As(err, &ce) || ce.Message == "" {
		t.Errorf("error %#v: want *client.Error with a message", err)
	}
}

func TestLeavingParticipantIsAnnouncedAndDisconnected(t *testing.T) {
	client.LeakCheck(t)
	srv := servertest.Start(t)
	stay := join(t, srv, "leave", "stay")
	goes := join(t, srv, "leave", "goes")
	stay.waitConnected(t, goes)
	peer := stay.Peer(goes.id())
	pc := peer.PeerConnection()

	if err := goes.Close(); err != nil {
		t.Fatal(err)
	}
	if err := goes.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	select {
	case <-goes.Done():
	default:
		t.Error("Done not closed after Close")
	}
	if err := goes.Err(); err != nil {
		t.Errorf("Err after Close = %v", err)
	}
	if err := goes.Broadcast([]byte("x")); !errors.Is(err, client.ErrClosed) {
		t.Errorf("Broadcast after Close = %v", err)
	}

	testutil.Eventually(t, wait, func() error {
		stay.mu.Lock()
		reason, ok := stay.left[goes.id()]
		stay.mu.Unlock()
		if !ok {
			return errors.New("no OnPeerLeft")
		}
		if reason != protocol.LeftReasonLeft {
			return fmt.Errorf("reason %q", reason)
		}
		return nil
	})
	if stay.Peer(goes.id()) != nil {
		t.Error("left peer still listed")
	}
	if s := peer.ConnectionState(); s != webrtc.PeerConnectionStateClosed {
		t.Errorf("left peer's connection state is %s", s)
	}
	// pion sets the signaling state in Close itself (its connection state
	// can lag behind a transport's concurrent state change).
	if s := pc.SignalingState(); s != webrtc.SignalingStateClosed {
		t.Errorf("left peer's PeerConnection: signaling state %s", s)
	}
	if err := peer.Send([]byte("x")); !errors.Is(err, client.ErrPeerClosed) {
		t.Errorf("Send to left peer = %v", err)
	}
}

func TestUpdateReachesTheOthers(t *testing.T) {
	client.LeakCheck(t)
	srv := servertest.Start(t)
	a := join(t, srv, "upd", "a")
	b := join(t, srv, "upd", "b")
	b.waitConnected(t, a)
	if err := a.Update("alice", protocol.State{AudioMuted: true}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, wait, func() error {
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.updated[a.id()] != "alice" {
			return errors.New("no OnPeerUpdated")
		}
		return nil
	})
	if st := b.Peer(a.id()).State(); !st.AudioMuted {
		t.Errorf("state = %+v", st)
	}
	if self := a.Self(); self.Name != "alice" || !self.State.AudioMuted {
		t.Errorf("Self = %+v", self)
	}
}

func TestPingsKeepAQuietRoomOpen(t *testing.T) {
	client.LeakCheck(t)
	srv := servertest.Start(t, func(c *config.Config) { c.PingInterval = 200 * time.Millisecond })
	a := join(t, srv, "quiet", "a", func(c *client.Config) { c.Tracks = nil })
	select {
	case <-a.Done():
		t.Fatalf("room ended: %v", a.Err())
	case <-time.After(2 * time.Second): // ten ping intervals
	}
}

func TestServerShutdownEndsTheRoom(t *testing.T) {
	client.LeakCheck(t)
	srv := servertest.Start(t)
	a := join(t, srv, "down", "a")
	b := join(t, srv, "down", "b")
	a.waitConnected(t, b)
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []*participant{a, b} {
		select {
		case <-p.Done():
		case <-time.After(wait):
			t.Fatalf("%s: room did not end", p.Self().Name)
		}
		if p.Err() == nil {
			t.Errorf("%s: Err() = nil after server shutdown", p.Self().Name)
		}
		testutil.Eventually(t, wait, func() error {
			p.mu.Lock()
			defer p.mu.Unlock()
			if p.disconnected == nil {
				return errors.New("no OnDisconnect")
			}
			return nil
		})
	}
}

func TestJoinRejectsBadConfig(t *testing.T) {
	for _, cfg := range []client.Config{
		{URL: "", Room: "r"},
		{URL: "ftp://x", Room: "r"},
		{URL: "http://127.0.0.1:1", Room: "bad room"},
	} {
		if _, err := client.Join(context.Background(), cfg); !errors.Is(err, client.ErrInvalidConfig) {
			t.Errorf("Join(%+v) = %v, want ErrInvalidConfig", cfg, err)
		}
	}
}
