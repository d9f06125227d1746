// Package client is the Go SDK for peercall: it joins a room on a peercall
// server, runs the signaling protocol (package protocol) over one WebSocket,
// and keeps one pion/webrtc PeerConnection to every other participant (a full
// mesh), negotiated with the W3C "perfect negotiation" pattern and trickle
// ICE.
//
// A minimal participant:
//
//	room, err := client.Join(ctx, client.Config{
//		URL:  "http://127.0.0.1:8080",
//		Room: "standup",
//		Name: "bot",
//		OnData: func(p *client.Peer, data []byte) {
//			log.Printf("%s: %s", p.Name(), data)
//		},
//	})
//	if err != nil {
//		return err
//	}
//	defer room.Close()
//	<-room.Done()
//
// # Goroutines and callbacks
//
// Join starts a reader and a writer goroutine for the WebSocket (the reader
// also supervises the connection and, with Config.Reconnect, resumes the
// session after a drop), one goroutine that delivers room events, and one
// goroutine per remote peer that serializes its negotiation. Room.Close
// waits for all of them.
//
// OnPeerJoined, OnPeerLeft, OnPeerUpdated, OnPeerConnectionState,
// OnDisconnect, OnError and the room-control callbacks (OnKnock,
// OnKnockEnded, OnRoomUpdated, OnMuteRequest) are called one at a time, in
// order, from the event goroutine. OnLobby is called during Join, on the
// goroutine that called it.
// OnTrack runs on its own goroutine (pion's) and may read the track until it
// ends; OnData runs on the data channel's read goroutine. OnTrack and OnData
// for a peer are only called after OnPeerJoined for that peer has returned.
// No callback may call Room.Close directly, because Close waits for the
// goroutine running the callback; use go room.Close() or watch Room.Done.
//
// # Hosts and the lobby
//
// A host (the first joiner of a room in open mode, or by token grant) may
// lock the room, admit or deny those waiting in its lobby, remove
// participants and ask them to mute: Room.Lock, Room.Admit, Room.Deny,
// Room.Remove and Room.Mute. The server acknowledges none of these; the SDK
// follows each with a ping, so a call returns nil once the server has
// carried the request out, or the server's refusal as an *Error (for
// example protocol.CodeForbidden for a non-host). Joining a locked room
// waits in the lobby inside Join (Config.OnLobby) until a host decides; a
// refusal ends Join with protocol.CodeDenied, and a removal ends the room
// with protocol.CodeRemoved. The SDK cannot mute the application's tracks:
// Config.OnMuteRequest lets the application obey a host's request.
//
// # Data channels
//
// Each peer connection carries the message channel (DataChannelLabel,
// stream 0; Peer.Send, Room.Broadcast, Room.SendChat) and, for browsers'
// file transfers, a "file" channel (stream 1). This SDK does not receive
// files: it answers every file offered with a reject (code "unsupported"),
// so the sender fails at once.
//
// # Negotiation
//
// The participant that joins later makes the first offer to each participant
// already in the room (the other side offers itself if no offer arrived
// within a second, for clients with the opposite convention); later
// renegotiations are driven by pion's negotiation-needed event. Offers that
// cross are resolved as in the W3C pattern: of two participants the one
// whose ID sorts lower is polite (protocol.Polite) and yields; the other
// ignores the incoming offer and the candidates that fail meanwhile.
//
// pion v4.2 has no working rollback (it rejects have-local-offer -> stable),
// so the polite side yields in one of two ways. If nothing has been
// negotiated yet, it replaces its PeerConnection with a fresh one and
// answers the remote offer with it; Peer.PeerConnection may therefore change
// once before the first negotiation completes. Otherwise it completes its own
// pending offer with the remote's current description as the answer ("the
// remote accepted and changed nothing"), then answers the remote offer;
// anything its discarded offer added is offered again afterwards.
package client
