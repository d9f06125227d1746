package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/peercall/peercall/client"
	"github.com/peercall/peercall/internal/config"
	"github.com/peercall/peercall/internal/servertest"
	"github.com/peercall/peercall/internal/testutil"
	"github.com/peercall/peercall/protocol"
)

// controlEvents records the room-control callbacks of one client.
type controlEvents struct {
	mu       sync.Mutex
	lobby    int
	knocks   []protocol.Participant
	ended    map[string]string // knocker ID -> outcome
	updates  []string          // "locked by" per OnRoomUpdated
	muteFrom []string          // host ID per OnMuteRequest ("" for nil)
	errs     []*client.Error
}

func newControlEvents() *controlEvents { return &controlEvents{ended: map[string]string{}} }

func (e *controlEvents) config(c *client.Config) {
	c.OnLobby = func() { e.mu.Lock(); e.lobby++; e.mu.Unlock() }
	c.OnKnock = func(p protocol.Participant) { e.mu.Lock(); e.knocks = append(e.knocks, p); e.mu.Unlock() }
	c.OnKnockEnded = func(id, outcome string) { e.mu.Lock(); e.ended[id] = outcome; e.mu.Unlock() }
	c.OnRoomUpdated = func(locked bool, by string) {
		e.mu.Lock()
		e.updates = append(e.updates, fmt.Sprintf("%v by %s", locked, by))
		e.mu.Unlock()
	}
	c.OnMuteRequest = func(from *client.Peer) {
		id := ""
		if from != nil {
			id = from.ID()
		}
		e.mu.Lock()
		e.muteFrom = append(e.muteFrom, id)
		e.mu.Unlock()
	}
	c.OnError = func(err *client.Error) { e.mu.Lock(); e.errs = append(e.errs, err); e.mu.Unlock() }
}

func (e *controlEvents) lobbies() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.lobby
}

// knocker waits for a knock from a participant called name and returns its ID.
func (e *controlEvents) knocker(t *testing.T, name string) string {
	t.Helper()
	var id string
	testutil.Eventually(t, wait, func() error {
		e.mu.Lock()
		defer e.mu.Unlock()
		for _, k := range e.knocks {
			if k.Name == name {
				id = k.ID
				return nil
			}
		}
		return fmt.Errorf("no knock from %s (knocks %v)", name, e.knocks)
	})
	return id
}

func (e *controlEvents) waitEnded(t *testing.T, id, outcome string) {
	t.Helper()
	testutil.Eventually(t, wait, func() error {
		e.mu.Lock()
		defer e.mu.Unlock()
		if got := e.ended[id]; got != outcome {
			return fmt.Errorf("knock %s ended %q, want %q", id, got, outcome)
		}
		return nil
	})
}

func (e *controlEvents) mutes() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.muteFrom)
}

type joinResult struct {
	p   *participant
	err error
}

// joinAsync joins in the background, for joins that wait in the lobby.
func joinAsync(t *testing.T, srv *servertest.Server, room, name string, mod ...func(*client.Config)) <-chan joinResult {
	ch := make(chan joinResult, 1)
	go func() {
		p, err := tryJoin(t, srv, room, name, mod...)
		ch <- joinResult{p, err}
	}()
	return ch
}

func ctxWait(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return ctx
}

// A host locks the room; a newcomer waits in the lobby (kept alive by its
// pings) until the host admits it, and then is in the call like anyone.
func TestLockedRoomLobbyAdmitsIntoTheCall(t *testing.T) {
	client.LeakCheck(t)
	srv := servertest.Start(t, func(c *config.Config) { c.PingInterval = time.Second })
	evA, evB, evC := newControlEvents(), newControlEvents(), newControlEvents()
	alice := join(t, srv, "lobby", "alice", evA.config)
	bob := join(t, srv, "lobby", "bob", evB.config)
	if !alice.Self().Host || bob.Self().Host {
		t.Fatalf("host: alice %v, bob %v; want the first joiner only", alice.Self().Host, bob.Self().Host)
	}
	testutil.Eventually(t, wait, func() error {
		if p := bob.Peer(alice.id()); p == nil || !p.Host() {
			return errors.New("bob does not see alice as host")
		}
		return nil
	})
	if alice.Locked() {
		t.Fatal("room locked from the start")
	}

	if err := alice.Lock(ctxWait(t), true); err != nil {
		t.Fatalf("Lock: %v", err)
	}
	if !alice.Locked() { // room_updated precedes the pong that ends Lock
		t.Error("alice: Locked() = false after Lock")
	}
	testutil.Eventually(t, wait, func() error {
		evB.mu.Lock()
		defer evB.mu.Unlock()
		if !bob.Locked() || !slices.Equal(evB.updates, []string{"true by " + alice.id()}) {
			return fmt.Errorf("bob: Locked %v, OnRoomUpdated %v", bob.Locked(), evB.updates)
		}
		return nil
	})

	carolJoin := joinAsync(t, srv, "lobby", "carol", evC.config)
	carolID := evA.knocker(t, "carol")
	testutil.Eventually(t, wait, func() error {
		if evC.lobbies() != 1 {
			return errors.New("no OnLobby")
		}
		return nil
	})
	if ks := alice.Knocks(); len(ks) != 1 || ks[0].ID != carolID {
		t.Errorf("alice.Knocks() = %v", ks)
	}
	if ks := bob.Knocks(); len(ks) != 0 {
		t.Errorf("bob (no host) knows knocks %v", ks)
	}
	// Longer than three of the server's ping intervals: only carol's pings
	// keep her in the lobby.
	select {
	case res := <-carolJoin:
		t.Fatalf("Join returned while in the lobby: %v", res.err)
	case <-time.After(4 * time.Second):
	}
	if ks := alice.Knocks(); len(ks) != 1 {
		t.Fatalf("carol's knock ended while waiting: %v", ks)
	}

	if err := alice.Admit(ctxWait(t), carolID); err != nil {
		t.Fatalf("Admit: %v", err)
	}
	var carol *participant
	select {
	case res := <-carolJoin:
		if res.err != nil {
			t.Fatalf("carol's Join: %v", res.err)
		}
		carol = res.p
	case <-time.After(wait):
		t.Fatal("carol's Join did not return after Admit")
	}
	if carol.id() != carolID {
		t.Errorf("carol joined as %s, knocked as %s", carol.id(), carolID)
	}
	if !carol.Locked() || carol.Self().Host {
		t.Errorf("carol: Locked %v, Host %v", carol.Locked(), carol.Self().Host)
	}
	evA.waitEnded(t, carolID, protocol.KnockAdmitted)
	if ks := alice.Knocks(); len(ks) != 0 {
		t.Errorf("alice.Knocks() after Admit = %v", ks)
	}
	carol.waitMedia(t, alice, bob)
	alice.waitMedia(t, carol)
	bob.waitMedia(t, carol)
}

// A host turns a knocker away; a knocker that gives up is reported as left.
func TestLockedRoomLobbyDenyAndGiveUp(t *testing.T) {
	client.LeakCheck(t)
	srv := servertest.Start(t)
	ev := newControlEvents()
	noMedia := func(c *client.Config) { c.Tracks = nil }
	alice := join(t, srv, "deny", "alice", ev.config, noMedia)
	if err := alice.Lock(ctxWait(t), true); err != nil {
		t.Fatal(err)
	}

	daveJoin := joinAsync(t, srv, "deny", "dave", noMedia)
	daveID := ev.knocker(t, "dave")
	if err := alice.Deny(ctxWait(t), daveID); err != nil {
		t.Fatalf("Deny: %v", err)
	}
	select {
	case res := <-daveJoin:
		if !client.IsCode(res.err, protocol.CodeDenied) {
			t.Fatalf("dave's Join = %v, want code denied", res.err)
		}
	case <-time.After(wait):
		t.Fatal("dave's Join did not return after Deny")
	}
	ev.waitEnded(t, daveID, protocol.KnockDenied)
	if err := alice.Admit(ctxWait(t), daveID); !client.IsCode(err, protocol.CodeUnknownPeer) {
		t.Errorf("Admit of a denied knocker = %v, want unknown_peer", err)
	}

	// Eve's own deadline runs out in the lobby.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	lobby := make(chan struct{}, 1)
	_, err := client.Join(ctx, client.Config{URL: srv.URL, Room: "deny", Name: "eve", OnLobby: func() { lobby <- struct{}{} }})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Join past its deadline in the lobby = %v, want DeadlineExceeded", err)
	}
	if len(lobby) != 1 {
		t.Error("no OnLobby for eve")
	}
	eveID := ev.knocker(t, "eve")
	ev.waitEnded(t, eveID, protocol.KnockLeft)

	// Unlocking lets the next joiner straight in.
	if err := alice.Lock(ctxWait(t), false); err != nil {
		t.Fatal(err)
	}
	frank := join(t, srv, "deny", "frank", noMedia)
	if frank.Locked() {
		t.Error("frank sees the room locked")
	}
}

// A host removes a participant and asks the others to mute; a non-host
// gets forbidden; when the host leaves, the oldest member takes over.
func TestHostRemovesMutesAndHandsOver(t *testing.T) {
	client.LeakCheck(t)
	srv := servertest.Start(t)
	evA, evB, evC := newControlEvents(), newControlEvents(), newControlEvents()
	noMedia := func(c *client.Config) { c.Tracks = nil }
	alice := join(t, srv, "ctl", "alice", evA.config, noMedia)
	bob := join(t, srv, "ctl", "bob", evB.config, noMedia)
	carol := join(t, srv, "ctl", "carol", evC.config, noMedia)
	for _, p := range []*participant{bob, carol} {
		testutil.Eventually(t, wait, func() error {
			if len(p.Peers()) != 2 {
				return errors.New("peers missing")
			}
			return nil
		})
	}

	// Not a host: the refusal is Lock's result, not an OnError.
	if err := carol.Lock(ctxWait(t), true); !client.IsCode(err, protocol.CodeForbidden) {
		t.Fatalf("non-host Lock = %v, want forbidden", err)
	}
	var ce *client.Error
	if err := carol.Mute(ctxWait(t), ""); !errors.As(err, &ce) || ce.Code != protocol.CodeForbidden || ce.Fatal || ce.Ref == "" {
		t.Errorf("non-host Mute = %#v, want non-fatal forbidden with a ref", err)
	}
	if alice.Locked() || carol.Locked() {
		t.Error("room locked by a non-host")
	}

	if err := alice.Mute(ctxWait(t), ""); err != nil {
		t.Fatalf("Mute everyone: %v", err)
	}
	for _, c := range []struct {
		name string
		ev   *controlEvents
	}{{"bob", evB}, {"carol", evC}} {
		testutil.Eventually(t, wait, func() error {
			if got := c.ev.mutes(); !slices.Equal(got, []string{alice.id()}) {
				return fmt.Errorf("%s: mute requests from %v", c.name, got)
			}
			return nil
		})
	}
	if err := alice.Mute(ctxWait(t), carol.id()); err != nil {
		t.Fatalf("Mute carol: %v", err)
	}
	testutil.Eventually(t, wait, func() error {
		if n := len(evC.mutes()); n != 2 {
			return fmt.Errorf("carol got %d mute requests", n)
		}
		return nil
	})
	if got := evA.mutes(); len(got) != 0 {
		t.Errorf("the host asked itself to mute: %v", got)
	}
	if got := evB.mutes(); len(got) != 1 {
		t.Errorf("bob got %d mute requests, want 1", len(got))
	}

	if err := alice.Remove(ctxWait(t), bob.id()); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	waitDone(t, bob.Room)
	if !client.IsCode(bob.Err(), protocol.CodeRemoved) {
		t.Errorf("bob's Err = %v, want removed", bob.Err())
	}
	testutil.Eventually(t, wait, func() error {
		bob.mu.Lock()
		defer bob.mu.Unlock()
		if !client.IsCode(bob.disconnected, protocol.CodeRemoved) {
			return fmt.Errorf("bob's OnDisconnect(%v)", bob.disconnected)
		}
		return nil
	})
	for _, p := range []*participant{alice, carol} {
		testutil.Eventually(t, wait, func() error {
			p.mu.Lock()
			defer p.mu.Unlock()
			if got := p.left[bob.id()]; got != protocol.LeftReasonRemoved {
				return fmt.Errorf("%s: OnPeerLeft reason %q", p.Self().Name, got)
			}
			return nil
		})
	}
	if err := bob.Lock(ctxWait(t), true); !errors.Is(err, client.ErrClosed) {
		t.Errorf("Lock after the room ended = %v", err)
	}
	if err := alice.Remove(ctxWait(t), bob.id()); !client.IsCode(err, protocol.CodeUnknownPeer) {
		t.Errorf("Remove of someone gone = %v, want unknown_peer", err)
	}
	for _, ev := range []*controlEvents{evA, evC} {
		ev.mu.Lock()
		for _, e := range ev.errs { // relays to bob may fail: no ref
			if e.Ref != "" {
				t.Errorf("OnError(%v) for an error a call returned", e)
			}
		}
		ev.mu.Unlock()
	}

	if err := alice.Close(); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, wait, func() error {
		if !carol.Self().Host {
			return errors.New("carol did not become host")
		}
		return nil
	})
	if err := carol.Lock(ctxWait(t), true); err != nil {
		t.Errorf("new host's Lock = %v", err)
	}
}

// Between lobby and joined the server may already talk to the newcomer (a
// knock for a host admitted into an empty room); the knock is delivered
// once Join returns.
func TestFramesBetweenLobbyAndJoinedAreKept(t *testing.T) {
	client.LeakCheck(t)
	knocker := protocol.Participant{ID: "K", Name: "kim"}
	fs := startFake(t, func(ctx context.Context, c *websocket.Conn, _ protocol.Join) {
		send(ctx, c, protocol.Lobby{Type: protocol.TypeLobby, Message: "wait"})
		for pings := 0; pings < 2; { // the client pings while it waits
			_, b, err := c.Read(ctx)
			if err != nil {
				return
			}
			if string(b) == `{"type":"ping"}` {
				pings++
				send(ctx, c, protocol.Envelope{Type: protocol.TypePong})
			}
		}
		send(ctx, c, protocol.Knock{Type: protocol.TypeKnock, Participant: knocker})
		j := joined(1000)
		j.Self.Host, j.Locked = true, true
		send(ctx, c, j)
		for {
			_, b, err := c.Read(ctx)
			if err != nil {
				return
			}
			if string(b) == `{"type":"ping"}` {
				send(ctx, c, protocol.Envelope{Type: protocol.TypePong})
			}
		}
	})
	ev := newControlEvents()
	cfg := client.Config{URL: fs.URL, Room: "r"}
	ev.config(&cfg)
	r, err := client.Join(ctxWait(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if ev.lobbies() != 1 || !r.Self().Host || !r.Locked() {
		t.Errorf("OnLobby %d times, Host %v, Locked %v", ev.lobbies(), r.Self().Host, r.Locked())
	}
	if id := ev.knocker(t, "kim"); id != "K" {
		t.Errorf("knock from %q", id)
	}
	if ks := r.Knocks(); len(ks) != 1 || ks[0] != knocker {
		t.Errorf("Knocks() = %v", ks)
	}
}

// Without an answer the outcome of a host control is unknown, and the error
// says so: the context ran out, or the connection dropped after sending.
func TestHostControlWithoutAnAnswer(t *testing.T) {
	client.LeakCheck(t)
	locks := make(chan struct{}, 2)
	fs := startFake(t, func(ctx context.Context, c *websocket.Conn, _ protocol.Join) {
		send(ctx, c, joined(1000))
		n := 0
		for {
			_, b, err := c.Read(ctx)
			if err != nil {
				return
			}
			var env protocol.Envelope
			_ = json.Unmarshal(b, &env)
			if env.Type != protocol.TypeLock {
				continue // pings go unanswered
			}
			if env.ID == "" {
				t.Errorf("lock without an id: %s", b)
			}
			locks <- struct{}{}
			if n++; n == 2 {
				return // drop the connection
			}
		}
	})
	r, err := client.Join(ctxWait(t), client.Config{URL: fs.URL, Room: "r"})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err = r.Lock(ctx, true)
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, client.ErrClosed) {
		t.Errorf("Lock with no answer = %v, want DeadlineExceeded", err)
	}
	<-locks
	err = r.Lock(ctxWait(t), true)
	if !errors.Is(err, client.ErrDisconnected) && !errors.Is(err, client.ErrClosed) {
		t.Errorf("Lock on a dropped connection = %v, want ErrDisconnected or ErrClosed", err)
	}
	var ce *client.Error
	if errors.As(err, &ce) {
		t.Errorf("Lock on a dropped connection returned a server error %v", ce)
	}
	<-locks
	waitDone(t, r)
	if err := r.Mute(ctxWait(t), ""); !errors.Is(err, client.ErrClosed) {
		t.Errorf("Mute after the room ended = %v, want ErrClosed", err)
	}
}
