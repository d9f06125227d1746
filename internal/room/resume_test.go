package room_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/peercall/peercall/internal/room"
	"github.com/peercall/peercall/protocol"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func frameTypes(s *sink) []string {
	var out []string
	for _, f := range s.all() {
		var m struct {
			Type        string
			Reason      string
			Participant protocol.Participant
		}
		json.Unmarshal([]byte(f), &m)
		t := m.Type
		if m.Participant.Reconnecting {
			t += "(reconnecting)"
		}
		if m.Reason != "" {
			t += "(" + m.Reason + ")"
		}
		out = append(out, t)
	}
	return out
}

func TestADroppedParticipantResumesWithinTheGracePeriodAsItself(t *testing.T) {
	b := room.NewLocal(room.LocalOptions{Grace: time.Hour})
	alice, aliceSink := join(t, b, "demo", "alice")
	bob, _ := join(t, b, "demo", "bob")
	bob.Detach()
	// Alice relays to Bob while he is away: the frame is held for him.
	if err := alice.Relay(protocol.TypeOffer, bob.ID(), json.RawMessage(`{"sdp":"restart"}`)); err != nil {
		t.Fatal(err)
	}
	newSink := &sink{}
	again, err := b.Join(context.Background(), room.JoinRequest{Room: "demo", Name: "bob", Sink: newSink, ResumeToken: bob.Welcome().ResumeToken})
	if err != nil {
		t.Fatal(err)
	}
	if again.ID() != bob.ID() || !again.Welcome().Resumed {
		t.Fatalf("resumed as %q (resumed=%v), want %q", again.ID(), again.Welcome().Resumed, bob.ID())
	}
	if got := newSink.all(); len(got) != 1 || !strings.Contains(got[0], "restart") {
		t.Fatalf("held frames delivered on resume: %q", got)
	}
	if got := strings.Join(frameTypes(aliceSink), " "); got != "peer_joined peer_updated(reconnecting) peer_updated" {
		t.Fatalf("alice saw %q; she must never see bob leave", got)
	}
	// The stale attachment is inert: its late Leave must not remove Bob.
	bob.Leave(protocol.LeftReasonLeft)
	if st := b.Stats(); st.Participants != 2 {
		t.Fatalf("stale attachment removed the participant: %+v", st)
	}
	if again.Welcome().ResumeToken == "" {
		t.Fatal("no fresh resume token")
	}
}

func TestAResumeOnANewConnectionClosesTheOldOne(t *testing.T) {
	b := room.NewLocal(room.LocalOptions{})
	bob, bobSink := join(t, b, "demo", "bob")
	if _, err := b.Join(context.Background(), room.JoinRequest{Room: "demo", Sink: &sink{}, ResumeToken: bob.Welcome().ResumeToken}); err != nil {
		t.Fatal(err)
	}
	bobSink.mu.Lock()
	defer bobSink.mu.Unlock()
	if !bobSink.closed {
		t.Fatal("the replaced connection was not closed")
	}
}

func TestAfterTheGracePeriodTheParticipantIsAnnouncedAsLeft(t *testing.T) {
	b := room.NewLocal(room.LocalOptions{Grace: 50 * time.Millisecond})
	_, aliceSink := join(t, b, "demo", "alice")
	bob, _ := join(t, b, "demo", "bob")
	bob.Detach()
	waitFor(t, func() bool { return b.Stats().Participants == 1 })
	if got := strings.Join(frameTypes(aliceSink), " "); got != "peer_joined peer_updated(reconnecting) peer_left(timeout)" {
		t.Fatalf("alice saw %q", got)
	}
}

func TestAResumeAfterARestartRecreatesTheParticipantWithItsID(t *testing.T) {
	secret := []byte("shared session secret")
	first := room.NewLocal(room.LocalOptions{SessionSecret: secret})
	bob, _ := join(t, first, "demo", "bob")
	restarted := room.NewLocal(room.LocalOptions{SessionSecret: secret})
	_, aliceSink := join(t, restarted, "demo", "alice")
	s, err := restarted.Join(context.Background(), room.JoinRequest{Room: "demo", Name: "bob", Sink: &sink{}, ResumeToken: bob.Welcome().ResumeToken})
	if err != nil {
		t.Fatal(err)
	}
	if s.ID() != bob.ID() || !s.Welcome().Resumed {
		t.Fatalf("got %q resumed=%v", s.ID(), s.Welcome().Resumed)
	}
	if got := strings.Join(frameTypes(aliceSink), " "); got != "peer_joined" {
		t.Fatalf("alice saw %q", got)
	}
}

func TestABadResumeTokenJoinsAsANewParticipant(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	b := room.NewLocal(room.LocalOptions{Now: clock.now})
	bob, _ := join(t, b, "demo", "bob")
	other := room.NewLocal(room.LocalOptions{})
	otherRoom, _ := join(t, b, "elsewhere", "x")
	cases := []struct{ name, token, room string }{
		{"a token signed by another secret is ignored", mustToken(t, other, "demo"), "demo"},
		{"a token for another room is ignored", otherRoom.Welcome().ResumeToken, "demo"},
		{"garbage is ignored", "v1.!!!.???", "demo"},
		{"a tampered token is ignored", tamper(bob.Welcome().ResumeToken), "demo"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := b.Join(context.Background(), room.JoinRequest{Room: tc.room, Sink: &sink{}, ResumeToken: tc.token})
			if err != nil {
				t.Fatal(err)
			}
			if s.Welcome().Resumed || s.ID() == bob.ID() {
				t.Fatalf("resumed with a bad token")
			}
			s.Leave(protocol.LeftReasonLeft)
		})
	}
	t.Run("an expired token is ignored", func(t *testing.T) {
		clock.add(25 * time.Hour)
		s, _ := b.Join(context.Background(), room.JoinRequest{Room: "demo", Sink: &sink{}, ResumeToken: bob.Welcome().ResumeToken})
		if s.Welcome().Resumed {
			t.Fatal("resumed with an expired token")
		}
	})
}

func mustToken(t *testing.T, b *room.Local, roomName string) string {
	s, _ := join(t, b, roomName, "x")
	return s.Welcome().ResumeToken
}

func tamper(tok string) string {
	b := []byte(tok)
	b[5] ^= 1
	return string(b)
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 20s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
