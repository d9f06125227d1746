package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
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
