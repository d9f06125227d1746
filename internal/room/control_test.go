package room_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/peercall/peercall/internal/room"
	"github.com/peercall/peercall/protocol"
)

func openBackend() *room.Local { return room.NewLocal(room.LocalOptions{OpenRooms: true}) }

func TestTheFirstJoinerOfAnOpenRoomIsItsHost(t *testing.T) {
	b := openBackend()
	alice, _ := join(t, b, "demo", "alice")
	bob, _ := join(t, b, "demo", "bob")
	if !alice.Welcome().Self.Host || bob.Welcome().Self.Host {
		t.Fatalf("alice host=%v bob host=%v", alice.Welcome().Self.Host, bob.Welcome().Self.Host)
	}
	for name, err := range map[string]error{
		"lock": bob.Lock(true), "admit": bob.Admit("x"), "deny": bob.Deny("x"), "remove": bob.Remove(alice.ID()), "mute": bob.Mute(""),
	} {
		if !errors.Is(err, room.ErrForbidden) {
			t.Errorf("non-host %s: %v", name, err)
		}
	}
}

func TestALockedRoomKeepsNewJoinersInTheLobbyUntilAHostAdmitsThem(t *testing.T) {
	b := openBackend()
	host, hostSink := join(t, b, "demo", "host")
	member, memberSink := join(t, b, "demo", "member")
	if err := host.Lock(true); err != nil {
		t.Fatal(err)
	}
	knockerSink := &sink{}
	knocker, err := b.Join(context.Background(), room.JoinRequest{Room: "demo", Name: "knocker", Sink: knockerSink})
	if err != nil {
		t.Fatal(err)
	}
	if !knocker.Waiting() {
		t.Fatal("a joiner of a locked room must wait")
	}
	if err := knocker.Relay(protocol.TypeOffer, host.ID(), []byte(`{}`)); !errors.Is(err, room.ErrWaiting) {
		t.Fatalf("relay from the lobby: %v", err)
	}
	if got := strings.Join(frameTypes(hostSink), " "); got != "peer_joined room_updated knock" {
		t.Fatalf("host saw %q", got)
	}
	if got := strings.Join(frameTypes(memberSink), " "); got != "room_updated" {
		t.Fatalf("a non-host member saw %q; knocks go to hosts only", got)
	}
	if err := host.Admit(knocker.ID()); err != nil {
		t.Fatal(err)
	}
	knockerSink.mu.Lock()
	w := knockerSink.admitted
	knockerSink.mu.Unlock()
	if w == nil || len(w.Others) != 2 || !w.Locked || w.ResumeToken == "" {
		t.Fatalf("admission welcome %+v", w)
	}
	if got := strings.Join(frameTypes(memberSink), " "); got != "room_updated peer_joined" {
		t.Fatalf("member saw %q", got)
	}
	if err := knocker.Relay(protocol.TypeOffer, member.ID(), []byte(`{}`)); err != nil {
		t.Fatalf("relay after admission: %v", err)
	}
}

func TestAHostCanDenyAKnocker(t *testing.T) {
	b := openBackend()
	host, hostSink := join(t, b, "demo", "host")
	host.Lock(true)
	knockerSink := &sink{}
	knocker, _ := b.Join(context.Background(), room.JoinRequest{Room: "demo", Sink: knockerSink})
	if err := host.Deny(knocker.ID()); err != nil {
		t.Fatal(err)
	}
	if knockerSink.closeCode != protocol.CodeDenied {
		t.Fatalf("knocker closed with %q", knockerSink.closeCode)
	}
	if got := strings.Join(frameTypes(hostSink), " "); got != "room_updated knock knock_ended" {
		t.Fatalf("host saw %q", got)
	}
	if st := b.Stats(); st.Participants != 1 {
		t.Fatalf("%+v", st)
	}
}

func TestAHostWithATokenGrantSkipsTheLobby(t *testing.T) {
	b := room.NewLocal(room.LocalOptions{}) // token mode: no automatic hosts
	first, err := b.Join(context.Background(), room.JoinRequest{Room: "clinic", Sink: &sink{}, Host: true})
	if err != nil {
		t.Fatal(err)
	}
	first.Lock(true)
	patient, _ := b.Join(context.Background(), room.JoinRequest{Room: "clinic", Sink: &sink{}})
	doctor, _ := b.Join(context.Background(), room.JoinRequest{Room: "clinic", Sink: &sink{}, Host: true})
	if !patient.Waiting() || doctor.Waiting() || !doctor.Welcome().Self.Host {
		t.Fatalf("patient waiting=%v, doctor waiting=%v", patient.Waiting(), doctor.Waiting())
	}
}

func TestUnlockingAdmitsTheLobby(t *testing.T) {
	b := openBackend()
	host, _ := join(t, b, "demo", "host")
	host.Lock(true)
	s := &sink{}
	k, _ := b.Join(context.Background(), room.JoinRequest{Room: "demo", Sink: s})
	host.Lock(false)
	if k.Waiting() || s.admitted == nil {
		t.Fatal("unlocking did not admit the knocker")
	}
}

func TestARemovedParticipantIsGoneAndCannotResume(t *testing.T) {
	b := openBackend()
	host, _ := join(t, b, "demo", "host")
	other, otherSink := join(t, b, "demo", "other")
	mallory, mallorySink := join(t, b, "demo", "mallory")
	if err := host.Remove(mallory.ID()); err != nil {
		t.Fatal(err)
	}
	if mallorySink.closeCode != protocol.CodeRemoved {
		t.Fatalf("removed participant closed with %q", mallorySink.closeCode)
	}
	if got := frameTypes(otherSink); got[len(got)-1] != "peer_left(removed)" {
		t.Fatalf("other saw %q", got)
	}
	back, err := b.Join(context.Background(), room.JoinRequest{Room: "demo", Sink: &sink{}, ResumeToken: mallory.Welcome().ResumeToken})
	if err != nil {
		t.Fatal(err)
	}
	if back.ID() == mallory.ID() || back.Welcome().Resumed {
		t.Fatal("a removed participant resumed its session")
	}
	_ = other
}

func TestAHostCanAskOneOrEveryoneToMute(t *testing.T) {
	b := openBackend()
	host, hostSink := join(t, b, "demo", "host")
	a, aSink := join(t, b, "demo", "a")
	_, cSink := join(t, b, "demo", "c")
	host.Mute(a.ID())
	host.Mute("")
	count := func(s *sink) (n int) {
		for _, f := range frameTypes(s) {
			if f == protocol.TypeMuteRequest {
				n++
			}
		}
		return n
	}
	if count(aSink) != 2 || count(cSink) != 1 || count(hostSink) != 0 {
		t.Fatalf("mute requests: a %d, c %d, host %d", count(aSink), count(cSink), count(hostSink))
	}
}

func TestWhenTheHostLeavesTheOldestMemberBecomesHost(t *testing.T) {
	b := openBackend()
	host, _ := join(t, b, "demo", "host")
	next, nextSink := join(t, b, "demo", "next")
	join(t, b, "demo", "last")
	host.Leave(protocol.LeftReasonLeft)
	if err := next.Lock(true); err != nil {
		t.Fatalf("the promoted host cannot lock: %v", err)
	}
	if got := strings.Join(frameTypes(nextSink), " "); !strings.Contains(got, "peer_left(left) peer_updated") {
		t.Fatalf("next saw %q", got)
	}
}
