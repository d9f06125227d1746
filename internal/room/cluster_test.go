package room_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/peercall/peercall/internal/redistest"
	"github.com/peercall/peercall/internal/room"
	"github.com/peercall/peercall/internal/testutil"
	"github.com/peercall/peercall/protocol"
)

// cluster starts n nodes sharing one real Redis, each with its own client
// (closing a node's client is how a test kills the node).
type testCluster struct {
	redis   *redistest.Server
	nodes   []*room.Cluster
	clients []*redis.Client
}

func newTestCluster(t *testing.T, n int, tweak func(o *room.ClusterOptions)) *testCluster {
	t.Helper()
	tc := &testCluster{redis: redistest.Start(t)}
	for i := range n {
		rdb := tc.redis.Client(t)
		o := room.ClusterOptions{
			LocalOptions: room.LocalOptions{MaxParticipants: 6, Grace: 3 * time.Second, SessionSecret: []byte("cluster secret")},
			Redis:        rdb,
			NodeID:       fmt.Sprintf("node%d", i+1),
			Heartbeat:    100 * time.Millisecond,
			NodeTTL:      600 * time.Millisecond,
		}
		if tweak != nil {
			tweak(&o)
		}
		c, err := room.NewCluster(o)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		tc.nodes = append(tc.nodes, c)
		tc.clients = append(tc.clients, rdb)
	}
	tc.waitHealthy(t)
	return tc
}

func (tc *testCluster) waitHealthy(t *testing.T) {
	t.Helper()
	testutil.Eventually(t, 15*time.Second, func() error {
		for _, n := range tc.nodes {
			if err := n.Health(); err != nil {
				return fmt.Errorf("%s: %w", n.Node(), err)
			}
		}
		return nil
	})
}

// waitFrames waits until s has seen frames of the given types, in order
// (as frameTypes shows them), possibly among others.
func waitFrames(t *testing.T, s *sink, want ...string) {
	t.Helper()
	testutil.Eventually(t, 10*time.Second, func() error {
		got := frameTypes(s)
		i := 0
		for _, g := range got {
			if i < len(want) && g == want[i] {
				i++
			}
		}
		if i < len(want) {
			return fmt.Errorf("frames %v, want %v in order", got, want)
		}
		return nil
	})
}

func TestClusterJoinsRaceForTheLastPlacesAcrossNodesAndExactlyTheCapacityGetsIn(t *testing.T) {
	tc := newTestCluster(t, 3, nil)
	join(t, tc.nodes[0], "demo", "early-1")
	join(t, tc.nodes[1], "demo", "early-2")
	var admitted, full atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, err := tc.nodes[i%3].Join(context.Background(), room.JoinRequest{Room: "demo", Name: "racer", Sink: &sink{}})
			switch {
			case err == nil:
				admitted.Add(1)
			case errors.Is(err, room.ErrRoomFull):
				full.Add(1)
			default:
				t.Error(err)
			}
		}()
	}
	close(start)
	wg.Wait()
	if admitted.Load() != 4 || full.Load() != 16 {
		t.Fatalf("admitted %d, refused as full %d; want 4 and 16", admitted.Load(), full.Load())
	}
	late, err := tc.nodes[2].Join(context.Background(), room.JoinRequest{Room: "demo", Name: "late", Sink: &sink{}})
	if !errors.Is(err, room.ErrRoomFull) || late != nil {
		t.Fatalf("a seventh join: %v", err)
	}
}

func TestClusterParticipantsOnDifferentNodesSeeEachOtherAndRelay(t *testing.T) {
	tc := newTestCluster(t, 2, nil)
	alice, aliceSink := join(t, tc.nodes[0], "demo", "alice")
	bob, bobSink := join(t, tc.nodes[1], "demo", "bob")
	if w := bob.Welcome(); len(w.Others) != 1 || w.Others[0].ID != alice.ID() || w.Others[0].Name != "alice" {
		t.Fatalf("bob's welcome lists %+v", w.Others)
	}
	waitFrames(t, aliceSink, "peer_joined")
	if err := alice.Relay(protocol.TypeOffer, bob.ID(), []byte(`{"sdp":"v=0"}`)); err != nil {
		t.Fatal(err)
	}
	waitFrames(t, bobSink, "offer")
	if got := bobSink.all()[0]; !strings.Contains(got, `"from":"`+alice.ID()+`"`) || !strings.Contains(got, `"sdp":"v=0"`) {
		t.Fatalf("bob got %s", got)
	}
	if err := alice.Relay(protocol.TypeOffer, "nobody", []byte(`{}`)); !errors.Is(err, room.ErrUnknownPeer) {
		t.Fatalf("relay to nobody: %v", err)
	}
	if err := alice.Relay(protocol.TypeOffer, alice.ID(), []byte(`{}`)); !errors.Is(err, room.ErrUnknownPeer) {
		t.Fatalf("relay to self: %v", err)
	}
	if err := bob.Update("bobby", protocol.State{AudioMuted: true}); err != nil {
		t.Fatal(err)
	}
	waitFrames(t, aliceSink, "peer_joined", "peer_updated")
	bob.Leave(protocol.LeftReasonLeft)
	waitFrames(t, aliceSink, "peer_joined", "peer_updated", "peer_left(left)")
	if err := bob.Relay(protocol.TypeOffer, alice.ID(), []byte(`{}`)); !errors.Is(err, room.ErrLeft) {
		t.Fatalf("relay after leaving: %v", err)
	}
	alice.Leave(protocol.LeftReasonLeft)
	testutil.Eventually(t, 5*time.Second, func() error {
		for _, n := range tc.nodes {
			if st := n.Stats(); st.Participants != 0 || st.Rooms != 0 {
				return fmt.Errorf("%s: %+v", n.Node(), st)
			}
		}
		return nil
	})
}

func TestClusterAParticipantResumesThroughAnotherNodeWithHeldFrames(t *testing.T) {
	tc := newTestCluster(t, 3, nil)
	alice, aliceSink := join(t, tc.nodes[0], "demo", "alice")
	bob, _ := join(t, tc.nodes[1], "demo", "bob")
	waitFrames(t, aliceSink, "peer_joined")
	token := bob.Welcome().ResumeToken
	bob.Detach()
	waitFrames(t, aliceSink, "peer_joined", "peer_updated(reconnecting)")
	// Sent while bob is away: held for him.
	if err := alice.Relay(protocol.TypeCandidate, bob.ID(), []byte(`{"candidate":"held"}`)); err != nil {
		t.Fatal(err)
	}
	bobSink := &sink{}
	again, err := tc.nodes[2].Join(context.Background(), room.JoinRequest{Room: "demo", Name: "bob", Sink: bobSink, ResumeToken: token})
	if err != nil {
		t.Fatal(err)
	}
	if again.ID() != bob.ID() || !again.Welcome().Resumed {
		t.Fatalf("resumed as %q (resumed=%v), want %q", again.ID(), again.Welcome().Resumed, bob.ID())
	}
	waitFrames(t, bobSink, "candidate")
	waitFrames(t, aliceSink, "peer_joined", "peer_updated(reconnecting)", "peer_updated")
	if err := alice.Relay(protocol.TypeOffer, bob.ID(), []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	waitFrames(t, bobSink, "candidate", "offer")
	time.Sleep(3500 * time.Millisecond) // past the grace period: the stale timer must not remove him
	if slices.Contains(frameTypes(aliceSink), "peer_left(timeout)") {
		t.Fatalf("alice saw %v", frameTypes(aliceSink))
	}
}

func TestClusterADeadNodesParticipantsResumeElsewhereOrTimeOut(t *testing.T) {
	tc := newTestCluster(t, 3, nil)
	alice, aliceSink := join(t, tc.nodes[0], "demo", "alice")
	bob, _ := join(t, tc.nodes[1], "demo", "bob")
	carol, _ := join(t, tc.nodes[1], "demo", "carol")
	waitFrames(t, aliceSink, "peer_joined", "peer_joined")
	tc.clients[1].Close() // node2 dies: no more heartbeats, no goodbye

	// The others notice after the node TTL; bob comes back through node3
	// (as a client whose socket dropped would), carol does not.
	waitFrames(t, aliceSink, "peer_joined", "peer_joined", "peer_updated(reconnecting)", "peer_updated(reconnecting)")
	again, err := tc.nodes[2].Join(context.Background(), room.JoinRequest{Room: "demo", Name: "bob", Sink: &sink{}, ResumeToken: bob.Welcome().ResumeToken})
	if err != nil || again.ID() != bob.ID() {
		t.Fatalf("resume through node3: %v", err)
	}
	waitFrames(t, aliceSink, "peer_left(timeout)")
	var left []string
	for _, f := range aliceSink.all() {
		if strings.Contains(f, `"peer_left"`) {
			left = append(left, f)
		}
	}
	if len(left) != 1 || !strings.Contains(left[0], carol.ID()) {
		t.Fatalf("left: %v (carol is %s, bob %s)", left, carol.ID(), bob.ID())
	}
	if err := alice.Relay(protocol.TypeOffer, bob.ID(), []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
}

func TestClusterAHostAdmitsAKnockerWaitingOnAnotherNode(t *testing.T) {
	tc := newTestCluster(t, 2, func(o *room.ClusterOptions) { o.OpenRooms = true })
	host, hostSink := join(t, tc.nodes[0], "demo", "host")
	if err := host.Lock(true); err != nil {
		t.Fatal(err)
	}
	knockerSink := &sink{}
	k, err := tc.nodes[1].Join(context.Background(), room.JoinRequest{Room: "demo", Name: "knocker", Sink: knockerSink})
	if err != nil {
		t.Fatal(err)
	}
	if !k.Waiting() {
		t.Fatal("not waiting in the lobby of a locked room")
	}
	waitFrames(t, hostSink, "room_updated", "knock")
	if err := k.Relay(protocol.TypeOffer, host.ID(), []byte(`{}`)); !errors.Is(err, room.ErrWaiting) {
		t.Fatalf("relay from the lobby: %v", err)
	}
	if err := host.Admit(k.ID()); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 5*time.Second, func() error {
		knockerSink.mu.Lock()
		defer knockerSink.mu.Unlock()
		if knockerSink.admitted == nil {
			return errors.New("not admitted yet")
		}
		if o := knockerSink.admitted.Others; len(o) != 1 || o[0].ID != host.ID() || knockerSink.admitted.ResumeToken == "" {
			return fmt.Errorf("welcome %+v", knockerSink.admitted)
		}
		return nil
	})
	if k.Waiting() {
		t.Fatal("still waiting after admission")
	}
	if err := k.Relay(protocol.TypeOffer, host.ID(), []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	waitFrames(t, hostSink, "room_updated", "knock", "knock_ended", "peer_joined", "offer")
	if err := k.Lock(false); !errors.Is(err, room.ErrForbidden) {
		t.Fatalf("a non-host locking: %v", err)
	}
	if err := host.Remove(k.ID()); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 5*time.Second, func() error {
		knockerSink.mu.Lock()
		defer knockerSink.mu.Unlock()
		if knockerSink.closeCode != protocol.CodeRemoved {
			return fmt.Errorf("knocker closed with %q", knockerSink.closeCode)
		}
		return nil
	})
}

func TestClusterRedisCommandsPerJoinAndPerRelay(t *testing.T) {
	tc := newTestCluster(t, 2, func(o *room.ClusterOptions) { o.Heartbeat = time.Hour })
	a, b := tc.nodes[0], tc.nodes[1]
	// With a one-hour heartbeat, only the grace sweeper (one command per
	// node every 250 ms) runs beside the joins and relays counted.
	cmds := func() uint64 { return a.ClusterStats().RedisCommands + b.ClusterStats().RedisCommands }
	measure := func(f func()) uint64 {
		before := cmds()
		f()
		return cmds() - before
	}
	const n = 50
	var sess []room.Session
	joins := measure(func() {
		for i := range n {
			s, _ := join(t, []room.Backend{a, b}[i%2], fmt.Sprintf("r%d", i/2), "x")
			sess = append(sess, s)
		}
	})
	relays := measure(func() {
		for i := 0; i < n; i += 2 {
			if err := sess[i].Relay(protocol.TypeCandidate, sess[i+1].ID(), []byte(`{}`)); err != nil {
				t.Fatal(err)
			}
		}
	})
	perJoin, perRelay := float64(joins)/n, float64(relays)/(n/2)
	t.Logf("Redis commands per join %.2f, per relay %.2f", perJoin, perRelay)
	if perJoin < 2 || perJoin > 2.5 || perRelay < 1 || perRelay > 1.5 {
		t.Fatalf("Redis commands per join %.2f (want 2: acquire, commit), per relay %.2f (want 1)", perJoin, perRelay)
	}
}

func TestClusterSurvivesARedisOutage(t *testing.T) {
	tc := newTestCluster(t, 2, nil)
	alice, aliceSink := join(t, tc.nodes[0], "demo", "alice")
	bob, bobSink := join(t, tc.nodes[1], "demo", "bob")
	waitFrames(t, aliceSink, "peer_joined")

	tc.redis.Stop()
	testutil.Eventually(t, 10*time.Second, func() error {
		for _, n := range tc.nodes {
			if n.Health() == nil {
				return fmt.Errorf("%s still healthy", n.Node())
			}
		}
		return nil
	})
	_, err := tc.nodes[0].Join(context.Background(), room.JoinRequest{Room: "demo", Name: "carol", Sink: &sink{}})
	if !errors.Is(err, room.ErrUnavailable) {
		t.Fatalf("join during the outage: %v", err)
	}
	if err := alice.Relay(protocol.TypeOffer, bob.ID(), []byte(`{}`)); !errors.Is(err, room.ErrUnavailable) {
		t.Fatalf("relay during the outage: %v", err)
	}

	tc.redis.Restart(t) // empty: an unpersisted Redis lost everything
	tc.waitHealthy(t)
	// The nodes put their participants back; a newcomer sees both.
	var carol room.Session
	testutil.Eventually(t, 10*time.Second, func() error {
		s, err := tc.nodes[1].Join(context.Background(), room.JoinRequest{Room: "demo", Name: "carol", Sink: &sink{}})
		if err != nil {
			return err
		}
		if len(s.Welcome().Others) != 2 {
			s.Leave(protocol.LeftReasonLeft)
			return fmt.Errorf("carol sees %+v", s.Welcome().Others)
		}
		carol = s
		return nil
	})
	if err := alice.Relay(protocol.TypeOffer, bob.ID(), []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	waitFrames(t, bobSink, "peer_joined", "offer")
	if err := carol.Relay(protocol.TypeOffer, alice.ID(), []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	waitFrames(t, aliceSink, "peer_joined", "peer_joined", "offer")
	for _, f := range slices.Concat(aliceSink.all(), bobSink.all()) {
		if strings.Contains(f, "peer_left") {
			t.Fatalf("someone was announced as left: %s", f)
		}
	}
}

func TestClusterANodeRestartedQuicklyUnderItsIDLetsItsOldParticipantsTimeOut(t *testing.T) {
	tc := newTestCluster(t, 2, nil)
	alice, aliceSink := join(t, tc.nodes[0], "demo", "alice")
	_, _ = join(t, tc.nodes[1], "demo", "bob")
	waitFrames(t, aliceSink, "peer_joined")
	tc.clients[1].Close() // node2 crashes…
	// …and comes back at once, before its heartbeat key expires, with
	// none of its old connections.
	again, err := room.NewCluster(room.ClusterOptions{
		LocalOptions: room.LocalOptions{MaxParticipants: 6, Grace: 3 * time.Second, SessionSecret: []byte("cluster secret")},
		Redis:        tc.redis.Client(t), NodeID: "node2", Heartbeat: 100 * time.Millisecond, NodeTTL: 600 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	waitFrames(t, aliceSink, "peer_joined", "peer_updated(reconnecting)", "peer_left(timeout)")
	if err := alice.Relay(protocol.TypeOffer, "x", []byte(`{}`)); !errors.Is(err, room.ErrUnknownPeer) {
		t.Fatal(err)
	}
}

func TestClusterANodeWithOtherSecretsIsReported(t *testing.T) {
	check := "a"
	tc := newTestCluster(t, 2, func(o *room.ClusterOptions) { o.ConfigCheck = check; check = "b" })
	testutil.Eventually(t, 5*time.Second, func() error {
		a, b := tc.nodes[0].ClusterStats().ConfigMismatch, tc.nodes[1].ClusterStats().ConfigMismatch
		if a == b {
			return fmt.Errorf("mismatch reported by node1 %v, node2 %v; want exactly one", a, b)
		}
		return nil
	})
}
