// Package protocol defines peercall's signaling wire format, version 1.
//
// Signaling is JSON text frames over one WebSocket per participant, at
// GET /ws on the peercall server. Every frame is one JSON object with a
// "type" field. The flow:
//
//	client                               server
//	  |--- join {room,name,state} -------->|   first frame, within 10 s
//	  |<-- joined {self,participants,      |
//	  |           ice_servers,...} --------|
//	  |                                    |--> peer_joined to the others
//	  |--- offer/answer/candidate {to} --->|--> offer/answer/candidate {from}
//	  |--- update {name,state} ----------->|--> peer_updated to the others
//	  |--- ping -------------------------->|
//	  |<-- pong ---------------------------|
//	  |--- leave ------------------------->|--> peer_left to the others
//
// The server stamps "from" itself on relayed frames; a client-given "from" is
// ignored. Relay frames carry an opaque "payload" that the server forwards
// byte for byte after checking it is JSON; it is the W3C
// RTCSessionDescriptionInit for offer and answer, and RTCIceCandidateInit
// for candidate. docs/protocol.md documents each message with examples.
//
// Perfect negotiation: of two participants, the one whose ID sorts lower
// (byte-wise) is the polite one.
package protocol

import "encoding/json"

// Version is the protocol version this package describes. A client sends it
// in join; the server refuses versions it does not speak with
// CodeUnsupportedVersion.
const Version = 1

// Path is the HTTP path of the signaling WebSocket.
const Path = "/ws"

// MaxMessageBytes is the default largest frame the server accepts.
const MaxMessageBytes = 64 << 10

// Message types sent by clients.
const (
	TypeJoin   = "join"   // join a room; the first frame of a connection
	TypeUpdate = "update" // change own name or media state
	TypeLeave  = "leave"  // leave the room; the server then closes
	TypePing   = "ping"   // keepalive; the server answers pong
)

// Room control, sent by hosts.
const (
	TypeLock   = "lock"   // lock or unlock the room: new joiners wait in the lobby
	TypeAdmit  = "admit"  // let a participant in the lobby in
	TypeDeny   = "deny"   // turn a participant in the lobby away
	TypeRemove = "remove" // remove a participant from the room
	TypeMute   = "mute"   // ask one participant (id) or everyone (no id) to mute
)

// Relay message types: sent by a client with "to", delivered with "from".
const (
	TypeOffer     = "offer"
	TypeAnswer    = "answer"
	TypeCandidate = "candidate"
)

// Message types sent by the server.
const (
	TypeJoined      = "joined"
	TypePeerJoined  = "peer_joined"
	TypePeerLeft    = "peer_left"
	TypePeerUpdated = "peer_updated"
	TypePong        = "pong"
	TypeError       = "error"
	TypeRoomUpdated = "room_updated" // the room's lock changed
	TypeLobby       = "lobby"        // you are waiting for a host to admit you
	TypeKnock       = "knock"        // (to hosts) someone is waiting in the lobby
	TypeKnockEnded  = "knock_ended"  // (to hosts) a knock was answered or withdrawn
	TypeMuteRequest = "mute_request" // a host asks you to mute your microphone
)

// IsRelay reports whether t is a message type the server relays between
// participants.
func IsRelay(t string) bool {
	return t == TypeOffer || t == TypeAnswer || t == TypeCandidate
}

// Envelope is the part of every frame the server reads to route it. Payload
// stays undecoded so relayed payloads are forwarded as received.
type Envelope struct {
	Type string `json:"type"`
	// ID is an optional client-chosen request ID, echoed as Ref in an error
	// caused by this frame.
	ID string `json:"id,omitempty"`
	// To is the recipient participant of a relay frame.
	To string `json:"to,omitempty"`
	// Payload of a relay frame.
	Payload json.RawMessage `json:"payload,omitempty"`
}

// State is a participant's media state, shown to the others.
type State struct {
	AudioMuted    bool `json:"audio_muted"`
	VideoMuted    bool `json:"video_muted"`
	ScreenSharing bool `json:"screen_sharing"`
}

// Participant describes one member of a room.
type Participant struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	State    State  `json:"state"`
	JoinedAt int64  `json:"joined_at"` // Unix milliseconds
	// Host may lock the room, admit and deny knockers, remove
	// participants and ask them to mute: by token grant, or, in open mode,
	// the first joiner of a room (then the oldest member when hosts leave).
	Host bool `json:"host,omitempty"`
	// Reconnecting is true while the participant's signaling connection is
	// down and the server waits for it to resume. Its media may well still
	// flow: peer connections do not depend on the server.
	Reconnecting bool `json:"reconnecting,omitempty"`
}

// Join is the first frame a client sends.
type Join struct {
	Type    string `json:"type"` // "join"
	ID      string `json:"id,omitempty"`
	Version int    `json:"version"`
	Room    string `json:"room"`
	Name    string `json:"name"`
	State   State  `json:"state"`
	// Token is an access token, required when the server runs in token mode.
	Token string `json:"token,omitempty"`
	// Resume is the resume_token of an earlier joined in this room. With a
	// valid one the server gives the participant back its ID: within the
	// grace period it re-attaches the session (the others saw only
	// "reconnecting"); after it, or on a restarted server sharing the
	// session secret, it re-creates the participant with the same ID.
	Resume string `json:"resume,omitempty"`
}

// ICEServer mirrors the W3C RTCIceServer dictionary.
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// Joined answers a successful join.
type Joined struct {
	Type    string `json:"type"` // "joined"
	Version int    `json:"version"`
	Room    string `json:"room"`
	// Self is the joining participant; Self.ID is unguessable and assigned
	// by the server.
	Self Participant `json:"self"`
	// Participants are the others already in the room, oldest first.
	Participants []Participant `json:"participants"`
	// ICEServers to configure the peer connections with, including
	// time-limited credentials for the embedded TURN server.
	ICEServers []ICEServer `json:"ice_servers"`
	// ICEServersExpireAt is when the TURN credentials expire (Unix ms).
	ICEServersExpireAt int64 `json:"ice_servers_expire_at,omitempty"`
	// PingIntervalMS is how often the client should send ping. The server
	// closes a connection it has not heard from for three intervals.
	PingIntervalMS int `json:"ping_interval_ms"`
	// MaxParticipants is the room's capacity.
	MaxParticipants int `json:"max_participants"`
	// ResumeToken lets the client rejoin as the same participant after its
	// connection drops (send it as join.resume). It is refreshed in every
	// joined.
	ResumeToken string `json:"resume_token"`
	// Resumed is true when join.resume was honoured: Self.ID is the earlier
	// ID and existing peer connections should be kept.
	Resumed bool `json:"resumed"`
	// ResumeGraceMS is how long the server keeps a dropped participant
	// before announcing it as left.
	ResumeGraceMS int `json:"resume_grace_ms"`
	// Locked is whether new joiners wait in the lobby.
	Locked bool `json:"locked"`
}

// Lock is a host's request to lock or unlock the room. Unlocking admits
// everyone waiting in the lobby.
type Lock struct {
	Type   string `json:"type"` // "lock"
	ID     string `json:"id,omitempty"`
	Locked bool   `json:"locked"`
}

// Target names the participant of admit, deny, remove and mute. An empty
// Participant in mute means everyone else.
type Target struct {
	Type        string `json:"type"`
	ID          string `json:"id,omitempty"`
	Participant string `json:"participant"`
}

// RoomUpdated tells the room its lock changed.
type RoomUpdated struct {
	Type   string `json:"type"` // "room_updated"
	Locked bool   `json:"locked"`
	By     string `json:"by"` // the host who changed it
}

// Lobby tells a joiner of a locked room to wait for a host.
type Lobby struct {
	Type    string `json:"type"` // "lobby"
	Message string `json:"message"`
}

// Knock tells hosts someone is waiting in the lobby.
type Knock struct {
	Type        string      `json:"type"` // "knock"
	Participant Participant `json:"participant"`
}

// Outcomes of a knock.
const (
	KnockAdmitted = "admitted"
	KnockDenied   = "denied"
	KnockLeft     = "left" // the knocker gave up or dropped
)

// KnockEnded tells hosts a knock is over.
type KnockEnded struct {
	Type    string `json:"type"` // "knock_ended"
	ID      string `json:"id"`
	Outcome string `json:"outcome"`
	By      string `json:"by,omitempty"`
}

// MuteRequest asks the recipient to mute its microphone. Clients obey; the
// user can unmute again.
type MuteRequest struct {
	Type string `json:"type"` // "mute_request"
	From string `json:"from"`
}

// Update changes the sender's name and state. Both fields are sent whole.
type Update struct {
	Type  string `json:"type"` // "update"
	ID    string `json:"id,omitempty"`
	Name  string `json:"name"`
	State State  `json:"state"`
}

// PeerJoined tells the room about a new participant.
type PeerJoined struct {
	Type        string      `json:"type"` // "peer_joined"
	Participant Participant `json:"participant"`
}

// PeerUpdated tells the room a participant changed name or state.
type PeerUpdated struct {
	Type        string      `json:"type"` // "peer_updated"
	Participant Participant `json:"participant"`
}

// Reasons a participant left.
const (
	LeftReasonLeft     = "left"     // sent leave or closed the socket
	LeftReasonTimeout  = "timeout"  // keepalive expired
	LeftReasonShutdown = "shutdown" // the server is shutting down
	LeftReasonRemoved  = "removed"  // removed by the server or a host
)

// PeerLeft tells the room a participant is gone.
type PeerLeft struct {
	Type   string `json:"type"` // "peer_left"
	ID     string `json:"id"`
	Reason string `json:"reason"`
}

// Relay is a relayed frame as the recipient sees it.
type Relay struct {
	Type    string          `json:"type"` // offer, answer or candidate
	From    string          `json:"from"`
	Payload json.RawMessage `json:"payload"`
}

// Error is the server's answer to anything it refuses. When Fatal is true the
// server closes the connection after sending it.
type Error struct {
	Type    string `json:"type"` // "error"
	Code    Code   `json:"code"`
	Message string `json:"message"`
	Ref     string `json:"ref,omitempty"`
	Fatal   bool   `json:"fatal,omitempty"`
}

// Code is a machine-readable error code.
type Code string

// Error codes. Message texts are for humans and may change; codes do not.
const (
	CodeBadRequest         Code = "bad_request"         // malformed or invalid frame
	CodeUnsupportedVersion Code = "unsupported_version" // join.version not spoken
	CodeNotJoined          Code = "not_joined"          // frame before join
	CodeAlreadyJoined      Code = "already_joined"      // second join on one socket
	CodeRoomFull           Code = "room_full"           // room at capacity
	CodeServerFull         Code = "server_full"         // server at its room or participant limit
	CodeUnknownPeer        Code = "unknown_peer"        // relay to someone not in the room
	CodeUnauthorized       Code = "unauthorized"        // missing or bad token
	CodeRateLimited        Code = "rate_limited"        // too many frames or joins
	CodeTooLarge           Code = "too_large"           // frame over the size limit
	CodeTimeout            Code = "timeout"             // no join or keepalive in time
	CodeSlowConsumer       Code = "slow_consumer"       // client does not read its frames
	CodeServerShutdown     Code = "server_shutdown"     // server going away
	CodeReplaced           Code = "replaced"            // session resumed on another connection
	CodeForbidden          Code = "forbidden"           // a host-only action by a non-host
	CodeDenied             Code = "denied"              // a host turned you away from the lobby
	CodeRemoved            Code = "removed"             // a host removed you from the room
	CodeUnavailable        Code = "unavailable"         // backend (e.g. room store) unavailable
	CodeInternal           Code = "internal"            // server bug; please report
)

// Limits on fields, enforced by the server with CodeBadRequest.
const (
	MaxRoomNameLen    = 64 // bytes; see ValidRoomName
	MaxDisplayNameLen = 64 // bytes of UTF-8
	MaxRequestIDLen   = 64 // bytes
	MaxTokenLen       = 4096
)

// ValidRoomName reports whether s is an acceptable room name: 1 to
// MaxRoomNameLen characters from [A-Za-z0-9._~-]. Room names appear in URLs
// (/r/<room>), so they are restricted to URL-safe characters.
func ValidRoomName(s string) bool {
	if len(s) == 0 || len(s) > MaxRoomNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-' || c == '_' || c == '.' || c == '~':
		default:
			return false
		}
	}
	return true
}

// Polite reports whether the participant self is the polite side of the
// perfect-negotiation pair (self, other).
func Polite(self, other string) bool { return self < other }

// AppendRelay appends the relay frame {"type":msgType,"from":from,"payload":payload}
// to dst without re-encoding payload, which must be valid JSON. msgType must
// satisfy IsRelay and from must be a server-issued participant ID; neither
// needs JSON escaping.
func AppendRelay(dst []byte, msgType, from string, payload []byte) []byte {
	dst = append(dst, `{"type":"`...)
	dst = append(dst, msgType...)
	dst = append(dst, `","from":"`...)
	dst = append(dst, from...)
	dst = append(dst, `","payload":`...)
	if len(payload) == 0 {
		payload = []byte("null")
	}
	dst = append(dst, payload...)
	return append(dst, '}')
}
