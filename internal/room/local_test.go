package room_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/peercall/peercall/internal/room"
	"github.com/peercall/peercall/protocol"
)

// sink records frames.
type sink struct {
	mu        sync.Mutex
	frames    []string
	closed    bool
	closeCode protocol.Code
	admitted  *room.Welcome
}

func (s *sink) Send(f []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.frames = append(s.frames, string(f))
}

func (s *sink) Close(e protocol.Error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.closeCode = e.Code
}

func (s *sink) Admit(w room.Welcome) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.admitted = &w
}

func (s *sink) all() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.frames...)
}

func join(t *testing.T, b room.Backend, roomName, name string) (room.Session, *sink) {
	t.Helper()
	s := &sink{}
	sess, err := b.Join(context.Background(), room.JoinRequest{Room: roomName, Name: name, Sink: s})
	if err != nil {
		t.Fatal(err)
	}
	return sess, s
}

func TestConcurrentJoinsForTheLastPlacesAdmitExactlyTheCapacity(t *testing.T) {
	b := room.NewLocal(room.LocalOptions{MaxParticipants: 6})
	join(t, b, "demo", "early-1")
	join(t, b, "demo", "early-2")
	var admitted, full atomic.Int32
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := b.Join(context.Background(), room.JoinRequest{Room: "demo", Name: "racer", Sink: &sink{}})
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
	wg.Wait()
	if admitted.Load() != 4 || full.Load() != 16 {
		t.Fatalf("admitted %d, refused %d; want 4 and 16", admitted.Load(), full.Load())
	}
	if st := b.Stats(); st.Participants != 6 || st.Rooms != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestParticipantIDsAreUniqueAndUnguessable(t *testing.T) {
	b := room.NewLocal(room.LocalOptions{MaxParticipants: 50})
	seen := map[string]bool{}
	for range 50 {
		s, _ := join(t, b, "ids", "x")
		id := s.ID()
		if len(id) != 26 || seen[id] {
			t.Fatalf("bad or repeated ID %q", id)
		}
		seen[id] = true
	}
}

func TestRelayReachesOnlyTheNamedMemberOfTheSameRoom(t *testing.T) {
	b := room.NewLocal(room.LocalOptions{MaxParticipants: 6})
	alice, _ := join(t, b, "a", "alice")
	bob, bobSink := join(t, b, "a", "bob")
	_, eveSink := join(t, b, "b", "eve")
	if err := alice.Relay(protocol.TypeOffer, bob.ID(), json.RawMessage(`{"sdp":"x"}`)); err != nil {
		t.Fatal(err)
	}
	got := bobSink.all()
	want := `{"type":"offer","from":"` + alice.ID() + `","payload":{"sdp":"x"}}`
	if len(got) != 1 || got[0] != want {
		t.Fatalf("bob got %q", got)
	}
	eve, _ := join(t, b, "b", "eve2")
	if err := eve.Relay(protocol.TypeOffer, bob.ID(), json.RawMessage(`{}`)); !errors.Is(err, room.ErrUnknownPeer) {
		t.Fatalf("cross-room relay: %v", err)
	}
	if err := alice.Relay("join", bob.ID(), json.RawMessage(`{}`)); !errors.Is(err, room.ErrBadRelay) {
		t.Fatalf("non-relay type: %v", err)
	}
	if n := len(eveSink.all()); n != 1 { // only eve2's peer_joined
		t.Fatalf("eve got %d frames", n)
	}
}

func TestLeaveAnnouncesOnceAndEmptiesTheRoom(t *testing.T) {
	b := room.NewLocal(room.LocalOptions{MaxParticipants: 6})
	alice, aliceSink := join(t, b, "demo", "alice")
	bob, _ := join(t, b, "demo", "bob")
	bob.Leave(protocol.LeftReasonTimeout)
	bob.Leave(protocol.LeftReasonLeft)
	frames := aliceSink.all()
	if len(frames) != 2 {
		t.Fatalf("alice got %q", frames)
	}
	var left protocol.PeerLeft
	json.Unmarshal([]byte(frames[1]), &left)
	if left.ID != bob.ID() || left.Reason != protocol.LeftReasonTimeout {
		t.Fatalf("peer_left %+v", left)
	}
	if err := bob.Relay(protocol.TypeOffer, alice.ID(), json.RawMessage(`{}`)); !errors.Is(err, room.ErrLeft) {
		t.Fatalf("relay after leave: %v", err)
	}
	alice.Leave(protocol.LeftReasonLeft)
	if st := b.Stats(); st.Rooms != 0 || st.Participants != 0 {
		t.Fatalf("stats after everyone left: %+v", st)
	}
}

func TestOthersAreListedOldestFirst(t *testing.T) {
	b := room.NewLocal(room.LocalOptions{MaxParticipants: 6})
	a, _ := join(t, b, "demo", "a")
	c, _ := join(t, b, "demo", "c")
	d, _ := join(t, b, "demo", "d")
	o := d.Welcome().Others
	if len(o) != 2 || o[0].ID != a.ID() || o[1].ID != c.ID() {
		t.Fatalf("others %+v", o)
	}
}

func BenchmarkRelay(b *testing.B) {
	be := room.NewLocal(room.LocalOptions{MaxParticipants: 6})
	alice, _ := be.Join(context.Background(), room.JoinRequest{Room: "r", Sink: discard{}})
	bob, _ := be.Join(context.Background(), room.JoinRequest{Room: "r", Sink: discard{}})
	payload := json.RawMessage(`{"candidate":"candidate:842163049 1 udp 1677729535 203.0.113.7 46154 typ srflx raddr 0.0.0.0 rport 0 generation 0 ufrag sXJ3 network-cost 999","sdpMid":"0","sdpMLineIndex":0}`)
	to := bob.ID()
	b.ReportAllocs()
	for b.Loop() {
		alice.Relay(protocol.TypeCandidate, to, payload)
	}
}

type discard struct{}

func (discard) Send([]byte)          {}
func (discard) Close(protocol.Error) {}
func (discard) Admit(room.Welcome)   {}

func TestServerWideLimitsRefuseNewRoomsAndParticipants(t *testing.T) {
	b := room.NewLocal(room.LocalOptions{MaxRooms: 2, MaxTotalParticipants: 3})
	join(t, b, "a", "1")
	join(t, b, "b", "2")
	if _, err := b.Join(context.Background(), room.JoinRequest{Room: "c", Sink: &sink{}}); !errors.Is(err, room.ErrServerFull) {
		t.Fatalf("third room: %v", err)
	}
	join(t, b, "a", "3")
	if _, err := b.Join(context.Background(), room.JoinRequest{Room: "b", Sink: &sink{}}); !errors.Is(err, room.ErrServerFull) {
		t.Fatalf("fourth participant: %v", err)
	}
	if st := b.Stats(); st.Rooms != 2 || st.Participants != 3 {
		t.Fatalf("%+v", st)
	}
}
