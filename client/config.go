package client

import (
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"

	"github.com/peercall/peercall/protocol"
)

// Config configures Join. URL and Room are required; everything else has a
// usable zero value.
type Config struct {
	// URL is the server's base URL, http(s)://host:port (ws:// and wss://
	// are accepted too). The SDK dials the WebSocket at protocol.Path below
	// it: http://host:8080 becomes ws://host:8080/ws.
	URL string
	// Room to join; see protocol.ValidRoomName.
	Room string
	// Name is the display name shown to the others.
	Name string
	// State is the initial media state shown to the others.
	State protocol.State
	// Token is an access token, sent in join. Optional; required only by
	// servers in token mode.
	Token string

	// Tracks are published to every peer, e.g. *webrtc.TrackLocalStaticSample.
	// A track may be shared: pion writes each sample to every connection it
	// is bound to.
	Tracks []webrtc.TrackLocal

	// RelayOnly restricts ICE to relay candidates (TURN), like
	// ICETransportPolicy "relay". The relay acceptance wait is set to zero
	// so a relay-only call connects as soon as a relay pair works.
	RelayOnly bool
	// ICEServers, when non-nil, replace the ICE servers the server sends in
	// joined (an empty non-nil slice means no STUN/TURN at all).
	ICEServers []webrtc.ICEServer
	// SettingEngine holds pion settings to start from (for example a vnet
	// via SetNet in tests). It is copied, never modified. When nil and the
	// server URL's host is loopback ("localhost", 127.0.0.0/8, ::1), the SDK
	// pins ICE to the loopback interface: an interface filter keeping only
	// "lo" (or another interface flagged loopback), loopback candidates
	// included and mDNS disabled. When non-nil it is used as
	// given: the caller owns the network settings (mDNS included; pion's
	// default is query-only, which never advertises .local names).
	// RelayOnly still sets the relay acceptance wait on the copy.
	SettingEngine *webrtc.SettingEngine
	// RestartGrace is how long a peer connection may stay ICE-disconnected
	// (a broken path) before the SDK restarts ICE. Default
	// DefaultRestartGrace; negative disables automatic restarts.
	RestartGrace time.Duration

	// Reconnect keeps the session through a dropped signaling connection
	// (network error, keepalive timeout, server restart): the SDK dials
	// again with backoff and resumes with the server's resume token for up
	// to the server's resume grace period (joined.resume_grace_ms), while
	// the PeerConnections stay up; the others see this participant as
	// reconnecting meanwhile. The room ends only when resuming fails. Off,
	// a dropped connection ends the room at once.
	Reconnect bool

	// Logger receives the SDK's log and pion's warnings and errors (pion's
	// info messages at debug level). Nil discards everything, unless
	// SettingEngine carries its own LoggerFactory for pion.
	Logger *slog.Logger

	// Event callbacks, all optional; set them before Join. See the package
	// documentation for which goroutine calls each. They must not block for
	// long and must not call Room.Close.

	// OnPeerJoined is called for each participant already in the room when
	// Join succeeds and for every later joiner.
	OnPeerJoined func(*Peer)
	// OnPeerLeft is called when a participant leaves; reason is one of
	// protocol.LeftReason*. Its PeerConnection is closed by then. It is not
	// called for the peers still present when the room itself ends.
	OnPeerLeft func(p *Peer, reason string)
	// OnPeerUpdated is called when a participant changes name or state.
	OnPeerUpdated func(*Peer)
	// OnTrack is called for each remote track, on its own goroutine.
	OnTrack func(p *Peer, track *webrtc.TrackRemote, recv *webrtc.RTPReceiver)
	// OnData is called for each message on a peer's "peercall" data channel.
	// data is owned by the callee.
	OnData func(p *Peer, data []byte)
	// OnChat is called for each chat message (from a browser's chat or
	// Room.SendChat), besides OnData.
	OnChat func(p *Peer, text string)
	// OnPeerConnectionState reports a peer's PeerConnection state. Quick
	// successive changes may be coalesced: the state reported is the one
	// current when the event is delivered, and repeats are suppressed.
	OnPeerConnectionState func(p *Peer, s webrtc.PeerConnectionState)
	// OnDisconnect is called once when the room ends for a reason other
	// than Room.Close: the signaling connection ended (server shutdown,
	// network error, fatal error frame, keepalive timeout, removed by a
	// host) and, with Reconnect, could not be resumed. err is the same as
	// Room.Err.
	OnDisconnect func(err error)
	// OnError is called for a non-fatal error frame from the server that
	// no method call returns (the host controls return theirs), for
	// example protocol.CodeRateLimited, or protocol.CodeUnknownPeer for a
	// relay to a participant that just left. The room carries on.
	OnError func(err *Error)

	// Room control (docs/protocol.md, "Room control (hosts)"). Hosts lock
	// the room, admit or deny those waiting in its lobby, remove
	// participants and ask them to mute: see Room.Lock.

	// OnLobby is called when the room is locked and the server puts this
	// participant in its lobby instead of letting it in: Join keeps
	// waiting for a host (see Join). It runs on the goroutine that called
	// Join, before Join returns; the SDK keeps pinging the server
	// meanwhile.
	OnLobby func()
	// OnKnock is called on hosts when someone starts waiting in the lobby
	// (and, on joining or becoming host, for everyone already waiting).
	// Answer with Room.Admit or Room.Deny; Room.Knocks lists who waits.
	OnKnock func(p protocol.Participant)
	// OnKnockEnded is called on hosts when a knock is over; outcome is one
	// of protocol.KnockAdmitted, KnockDenied or KnockLeft (the knocker gave
	// up).
	OnKnockEnded func(id, outcome string)
	// OnRoomUpdated is called when a host locks or unlocks the room; by is
	// the host's ID (possibly this participant's own).
	OnRoomUpdated func(locked bool, by string)
	// OnMuteRequest is called when a host asks this participant to mute
	// its microphone; from is that host, or nil if it is not (or no
	// longer) known. The SDK cannot mute the application's tracks: obey by
	// no longer writing audio samples (or writing silence) and telling the
	// others with Room.Update and State.AudioMuted set, as browsers do.
	OnMuteRequest func(from *Peer)
}

// signalingURL turns the configured base URL into the WebSocket URL and
// reports whether its host is a loopback address.
func signalingURL(base string) (string, bool, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", false, fmt.Errorf("%w: URL: %w", ErrInvalidConfig, err)
	}
	switch u.Scheme {
	case "http", "ws":
		u.Scheme = "ws"
	case "https", "wss":
		u.Scheme = "wss"
	default:
		return "", false, fmt.Errorf("%w: URL %q: scheme must be http, https, ws or wss", ErrInvalidConfig, base)
	}
	if u.Host == "" {
		return "", false, fmt.Errorf("%w: URL %q has no host", ErrInvalidConfig, base)
	}
	if !strings.HasSuffix(u.Path, protocol.Path) {
		u.Path = strings.TrimSuffix(u.Path, "/") + protocol.Path
	}
	u.RawPath, u.RawQuery, u.Fragment = "", "", ""
	return u.String(), isLoopbackHost(u.Hostname()), nil
}

func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// isLoopbackInterface keeps "lo" (Linux) and any other interface flagged as
// loopback ("lo0" on macOS and the BSDs).
func isLoopbackInterface(name string) bool {
	if name == "lo" {
		return true
	}
	ifi, err := net.InterfaceByName(name)
	return err == nil && ifi.Flags&net.FlagLoopback != 0
}

func (c *Config) validate() error {
	if c.URL == "" {
		return fmt.Errorf("%w: URL is required", ErrInvalidConfig)
	}
	if !protocol.ValidRoomName(c.Room) {
		return fmt.Errorf("%w: room name %q (1-%d characters of A-Z a-z 0-9 . _ ~ -)",
			ErrInvalidConfig, c.Room, protocol.MaxRoomNameLen)
	}
	if len(c.Name) > protocol.MaxDisplayNameLen {
		return fmt.Errorf("%w: name longer than %d bytes", ErrInvalidConfig, protocol.MaxDisplayNameLen)
	}
	return nil
}

// settingEngine returns the pion settings for a room: a copy of the given
// engine, or loopback pinning when the server is on loopback.
func (c *Config) settingEngine(loopback bool, log *slog.Logger) webrtc.SettingEngine {
	var se webrtc.SettingEngine
	if c.SettingEngine != nil {
		se = *c.SettingEngine
	} else if loopback {
		se.SetInterfaceFilter(isLoopbackInterface)
		se.SetIncludeLoopbackCandidate(true)
		se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	}
	if se.LoggerFactory == nil {
		if log == nil {
			log = slog.New(slog.DiscardHandler)
		}
		se.LoggerFactory = pionLoggerFactory{log: log}
	}
	if c.SettingEngine == nil {
		// pion waits this long before accepting a pair of each kind, in
		// case a better one turns up; its defaults (srflx 500 ms, prflx
		// 1 s, relay 2 s) hold every call behind a NAT or a relay back by
		// as much. Checks on a usable direct path succeed within a few
		// round trips, so shorter waits still prefer it.
		se.SetSrflxAcceptanceMinWait(DefaultSrflxAcceptanceWait)
		se.SetPrflxAcceptanceMinWait(DefaultPrflxAcceptanceWait)
		se.SetRelayAcceptanceMinWait(DefaultRelayAcceptanceWait)
	}
	if c.RelayOnly {
		// With relay-only there is nothing better to wait for.
		se.SetRelayAcceptanceMinWait(0)
	}
	return se
}

func (c *Config) restartGrace() time.Duration {
	if c.RestartGrace == 0 {
		return DefaultRestartGrace
	}
	return c.RestartGrace
}

// Candidate-pair acceptance waits the SDK uses unless Config.SettingEngine
// is given (pion's own defaults: 500 ms, 1 s and 2 s).
const (
	DefaultSrflxAcceptanceWait = 100 * time.Millisecond
	DefaultPrflxAcceptanceWait = 250 * time.Millisecond
	DefaultRelayAcceptanceWait = 600 * time.Millisecond
)

// rtcConfiguration is the per-PeerConnection configuration.
func (c *Config) rtcConfiguration(fromServer []protocol.ICEServer) webrtc.Configuration {
	rc := webrtc.Configuration{SDPSemantics: webrtc.SDPSemanticsUnifiedPlan}
	if c.ICEServers != nil {
		rc.ICEServers = append([]webrtc.ICEServer(nil), c.ICEServers...)
	} else {
		for _, s := range fromServer {
			is := webrtc.ICEServer{URLs: append([]string(nil), s.URLs...)}
			if s.Username != "" || s.Credential != "" {
				is.Username = s.Username
				is.Credential = s.Credential
				is.CredentialType = webrtc.ICECredentialTypePassword
			}
			rc.ICEServers = append(rc.ICEServers, is)
		}
	}
	if c.RelayOnly {
		rc.ICETransportPolicy = webrtc.ICETransportPolicyRelay
	}
	return rc
}
