package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"

	"github.com/peercall/peercall/client"
	"github.com/peercall/peercall/protocol"
)

// Join a room with a microphone-like Opus track, print what happens, and
// leave after a minute.
func ExampleJoin() {
	audio, err := webrtc.NewTrackLocalStaticSample(
		webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus}, "audio", "bot")
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	room, err := client.Join(ctx, client.Config{
		URL:    "http://127.0.0.1:8080",
		Room:   "standup",
		Name:   "bot",
		Tracks: []webrtc.TrackLocal{audio},
		OnPeerJoined: func(p *client.Peer) {
			fmt.Println("joined:", p.Name())
		},
		OnPeerLeft: func(p *client.Peer, reason string) {
			fmt.Println("left:", p.Name(), reason)
		},
		OnTrack: func(p *client.Peer, track *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
			fmt.Println("receiving", track.Kind(), "from", p.Name())
			for {
				if _, _, err := track.ReadRTP(); err != nil {
					return // the peer left or the room closed
				}
			}
		},
	})
	if client.IsCode(err, protocol.CodeRoomFull) {
		log.Fatal("the room is full")
	}
	if err != nil {
		log.Fatal(err)
	}
	defer room.Close()

	// Publish 20 ms Opus frames (from an encoder, not shown).
	go func() {
		for range time.Tick(20 * time.Millisecond) {
			frame := []byte{0xf8, 0xff, 0xfe} // Opus silence
			if err := audio.WriteSample(media.Sample{Data: frame, Duration: 20 * time.Millisecond}); err != nil {
				return
			}
		}
	}()

	select {
	case <-room.Done():
		log.Println("room ended:", room.Err())
	case <-time.After(time.Minute):
	}
}

// Relay-only calls go through the TURN server the peercall server hands out,
// hiding each participant's address from the others.
func ExampleConfig_relayOnly() {
	room, err := client.Join(context.Background(), client.Config{
		URL:       "https://call.example.org",
		Room:      "private",
		Name:      "carol",
		RelayOnly: true,
		OnPeerConnectionState: func(p *client.Peer, s webrtc.PeerConnectionState) {
			if s == webrtc.PeerConnectionStateConnected {
				fmt.Println(p.Name(), "connected via", p.SelectedCandidateType()) // "relay"
			}
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer room.Close()
}

// Broadcast a chat message to everyone in the room over the data channels.
func ExampleRoom_Broadcast() {
	room, err := client.Join(context.Background(), client.Config{
		URL: "http://127.0.0.1:8080", Room: "standup", Name: "bot",
		OnData: func(p *client.Peer, data []byte) {
			fmt.Printf("%s says %s\n", p.Name(), data)
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer room.Close()
	if err := room.Broadcast([]byte("hello, everyone")); errors.Is(err, client.ErrDataChannelNotOpen) {
		log.Println("some peers are still connecting:", err)
	}
}

// Send a message to one participant.
func ExamplePeer_Send() {
	room, err := client.Join(context.Background(), client.Config{
		URL: "http://127.0.0.1:8080", Room: "standup", Name: "bot",
	})
	if err != nil {
		log.Fatal(err)
	}
	defer room.Close()
	for _, p := range room.Peers() {
		if p.Name() == "alice" {
			if err := p.Send([]byte("hi alice")); err != nil {
				log.Println(err)
			}
		}
	}
}

// List the participants and how each connection is doing.
func ExampleRoom_Peers() {
	room, err := client.Join(context.Background(), client.Config{
		URL: "http://127.0.0.1:8080", Room: "standup", Name: "monitor",
	})
	if err != nil {
		log.Fatal(err)
	}
	defer room.Close()
	fmt.Println("I am", room.Self().ID, "in", room.Name())
	for _, p := range room.Peers() {
		fmt.Println(p.ID(), p.Name(), p.ConnectionState(), p.SelectedCandidateType())
	}
}

// Mute: tell the others about it.
func ExampleRoom_Update() {
	room, err := client.Join(context.Background(), client.Config{
		URL: "http://127.0.0.1:8080", Room: "standup", Name: "bot",
	})
	if err != nil {
		log.Fatal(err)
	}
	defer room.Close()
	st := room.Self().State
	st.AudioMuted = true
	if err := room.Update(room.Self().Name, st); err != nil {
		log.Fatal(err)
	}
}

// Leave cleanly: Close sends leave, closes every connection and waits for
// the SDK's goroutines. Call it from your own goroutine, not from a callback.
func ExampleRoom_Close() {
	room, err := client.Join(context.Background(), client.Config{
		URL: "http://127.0.0.1:8080", Room: "standup", Name: "bot",
	})
	if err != nil {
		log.Fatal(err)
	}
	time.Sleep(time.Second)
	if err := room.Close(); err != nil {
		log.Fatal(err)
	}
	fmt.Println(room.Err()) // <nil>: Close is not an error
}

// Tell a server-side end of the room from a local Close.
func ExampleRoom_Done() {
	room, err := client.Join(context.Background(), client.Config{
		URL: "http://127.0.0.1:8080", Room: "standup", Name: "bot",
	})
	if err != nil {
		log.Fatal(err)
	}
	defer room.Close()
	<-room.Done()
	var se *client.Error
	switch err := room.Err(); {
	case errors.As(err, &se):
		fmt.Println("server ended the session:", se.Code, se.Message)
	case errors.Is(err, client.ErrServerTimeout):
		fmt.Println("server unreachable")
	case err != nil:
		fmt.Println("disconnected:", err)
	}
}

// Check why a join was refused.
func ExampleIsCode() {
	_, err := client.Join(context.Background(), client.Config{
		URL: "http://127.0.0.1:8080", Room: "standup", Name: "late",
	})
	switch {
	case client.IsCode(err, protocol.CodeRoomFull):
		fmt.Println("room is full, try later")
	case client.IsCode(err, protocol.CodeUnauthorized):
		fmt.Println("need a valid token")
	case err != nil:
		fmt.Println(err)
	}
}

// A host bot: lock the room, let in only the expected guests, and turn
// everyone else away. The host controls may be called from a callback:
// they wait for the server, not for the event goroutine.
func ExampleRoom_Lock() {
	guests := map[string]bool{"alice": true, "bob": true}
	var room *client.Room
	ready := make(chan struct{})
	room, err := client.Join(context.Background(), client.Config{
		URL: "http://127.0.0.1:8080", Room: "standup", Name: "doorman",
		OnKnock: func(p protocol.Participant) {
			<-ready
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			var err error
			if guests[p.Name] {
				err = room.Admit(ctx, p.ID)
			} else {
				err = room.Deny(ctx, p.ID)
			}
			if err != nil {
				log.Println(err)
			}
		},
		OnKnockEnded: func(id, outcome string) {
			fmt.Println("knock", id, outcome) // admitted, denied or left
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer room.Close()
	close(ready)
	if !room.Self().Host {
		log.Fatal("not a host of the room")
	}
	if err := room.Lock(context.Background(), true); client.IsCode(err, protocol.CodeForbidden) {
		log.Fatal("only hosts may lock the room")
	} else if err != nil {
		log.Fatal(err)
	}
	<-room.Done()
}

// Join a locked room: Join waits in the lobby until a host decides, for as
// long as its context allows.
func ExampleConfig_onLobby() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	room, err := client.Join(ctx, client.Config{
		URL: "http://127.0.0.1:8080", Room: "standup", Name: "late",
		OnLobby: func() { fmt.Println("the room is locked; waiting for a host") },
	})
	switch {
	case client.IsCode(err, protocol.CodeDenied):
		log.Fatal("a host turned us away")
	case errors.Is(err, context.DeadlineExceeded):
		log.Fatal("nobody let us in")
	case err != nil:
		log.Fatal(err)
	}
	defer room.Close()
	fmt.Println("admitted; locked:", room.Locked())
}

// Remove a participant; the others see it leave with reason "removed", and
// its own room ends with code protocol.CodeRemoved.
func ExampleRoom_Remove() {
	room, err := client.Join(context.Background(), client.Config{
		URL: "http://127.0.0.1:8080", Room: "standup", Name: "moderator",
	})
	if err != nil {
		log.Fatal(err)
	}
	defer room.Close()
	for _, p := range room.Peers() {
		if p.Name() == "spammer" {
			if err := room.Remove(context.Background(), p.ID()); err != nil {
				log.Println("remove:", err)
			}
		}
	}
}

// Ask everyone else to mute, and obey when a host asks us: the SDK cannot
// mute our tracks, so stop writing audio and tell the others.
func ExampleRoom_Mute() {
	var muted atomic.Bool // checked by the code writing audio samples
	var room *client.Room
	ready := make(chan struct{}) // room is set
	room, err := client.Join(context.Background(), client.Config{
		URL: "http://127.0.0.1:8080", Room: "standup", Name: "bot",
		OnMuteRequest: func(from *client.Peer) {
			<-ready
			muted.Store(true)
			st := room.Self().State
			st.AudioMuted = true
			_ = room.Update(room.Self().Name, st)
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer room.Close()
	close(ready)
	if err := room.Mute(context.Background(), ""); err != nil {
		log.Println("mute everyone:", err)
	}
}

// Let in everyone waiting in the lobby, one by one (Lock(ctx, false) would
// let them all in and unlock the room).
func ExampleRoom_Admit() {
	room, err := client.Join(context.Background(), client.Config{
		URL: "http://127.0.0.1:8080", Room: "standup", Name: "host",
	})
	if err != nil {
		log.Fatal(err)
	}
	defer room.Close()
	for _, k := range room.Knocks() {
		if err := room.Admit(context.Background(), k.ID); err != nil {
			log.Printf("admit %s: %v", k.Name, err) // e.g. unknown_peer: gave up meanwhile
		}
	}
}

// Turn away everyone waiting in the lobby: their Join fails with code
// protocol.CodeDenied.
func ExampleRoom_Deny() {
	room, err := client.Join(context.Background(), client.Config{
		URL: "http://127.0.0.1:8080", Room: "standup", Name: "host",
	})
	if err != nil {
		log.Fatal(err)
	}
	defer room.Close()
	for _, k := range room.Knocks() {
		if err := room.Deny(context.Background(), k.ID); err != nil {
			log.Printf("deny %s: %v", k.Name, err)
		}
	}
}
