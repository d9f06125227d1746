package client

import (
	"errors"
	"reflect"
	"testing"

	"github.com/pion/webrtc/v4"

	"github.com/peercall/peercall/protocol"
)

func TestSignalingURL(t *testing.T) {
	tests := []struct {
		base, want string
		loopback   bool
	}{
		{"http://127.0.0.1:8080", "ws://127.0.0.1:8080/ws", true},
		{"https://call.example.org", "wss://call.example.org/ws", false},
		{"http://localhost:80/", "ws://localhost:80/ws", true},
		{"http://[::1]:9000/peercall/", "ws://[::1]:9000/peercall/ws", true},
		{"ws://10.0.0.1:8080/ws", "ws://10.0.0.1:8080/ws", false},
		{"http://127.0.0.1:8080/?x=1#y", "ws://127.0.0.1:8080/ws", true},
	}
	for _, tt := range tests {
		t.Run(tt.base+" dials "+tt.want, func(t *testing.T) {
			got, loopback, err := signalingURL(tt.base)
			if err != nil || got != tt.want || loopback != tt.loopback {
				t.Errorf("signalingURL = %q, %v, %v", got, loopback, err)
			}
		})
	}
	for _, bad := range []string{"ftp://x", "127.0.0.1:8080", "http://", "::"} {
		if _, _, err := signalingURL(bad); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("signalingURL(%q) err = %v", bad, err)
		}
	}
}

func TestSettingEngineIsCopiedNotModified(t *testing.T) {
	var given webrtc.SettingEngine
	cfg := Config{SettingEngine: &given, RelayOnly: true}
	se := cfg.settingEngine(true, nil)
	if !reflect.DeepEqual(given, webrtc.SettingEngine{}) {
		t.Error("the given SettingEngine was modified")
	}
	if reflect.DeepEqual(se, webrtc.SettingEngine{}) {
		t.Error("RelayOnly did not change the copy")
	}
}

func TestRTCConfiguration(t *testing.T) {
	fromServer := []protocol.ICEServer{
		{URLs: []string{"stun:127.0.0.1:3478"}},
		{URLs: []string{"turn:127.0.0.1:3478?transport=udp"}, Username: "u", Credential: "p"},
	}
	rc := (&Config{RelayOnly: true}).rtcConfiguration(fromServer)
	if rc.ICETransportPolicy != webrtc.ICETransportPolicyRelay || len(rc.ICEServers) != 2 ||
		rc.ICEServers[1].Username != "u" || rc.ICEServers[1].Credential != "p" {
		t.Errorf("from server: %+v", rc)
	}
	own := []webrtc.ICEServer{{URLs: []string{"stun:stun.example.org"}}}
	rc = (&Config{ICEServers: own}).rtcConfiguration(fromServer)
	if len(rc.ICEServers) != 1 || rc.ICEServers[0].URLs[0] != "stun:stun.example.org" ||
		rc.ICETransportPolicy != webrtc.ICETransportPolicyAll {
		t.Errorf("own servers: %+v", rc)
	}
}

func TestErrorIsCode(t *testing.T) {
	err := error(&Error{Code: protocol.CodeRoomFull, Message: "room is full"})
	wrapped := errors.Join(errors.New("join"), err)
	if !IsCode(wrapped, protocol.CodeRoomFull) || IsCode(wrapped, protocol.CodeUnauthorized) || IsCode(nil, protocol.CodeRoomFull) {
		t.Error("IsCode")
	}
	if got := err.Error(); got != "peercall: server error: room_full: room is full" {
		t.Errorf("Error() = %q", got)
	}
}

func TestLoopbackInterfaceFilterKeepsOnlyLoopback(t *testing.T) {
	if !isLoopbackInterface("lo") {
		t.Error("lo dropped")
	}
	if isLoopbackInterface("eth0") {
		t.Error("eth0 kept")
	}
}
