package signal

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/peercall/peercall/internal/room"
	"github.com/peercall/peercall/protocol"
)

// FuzzHandle feeds arbitrary frames to the message handler of a connection
// (joined or not) and checks that the server never panics and only ever
// answers with valid JSON frames. The seeds in testdata/fuzz run in CI.
func FuzzHandle(f *testing.F) {
	seeds := []string{
		`{"type":"join","version":1,"room":"demo","name":"alice"}`,
		`{"type":"join","version":1,"room":"demo","name":"bob","state":{"audio_muted":true}}`,
		`{"type":"offer","to":"X","payload":{"type":"offer","sdp":"v=0"}}`,
		`{"type":"candidate","to":"X","payload":{"candidate":"candidate:1 1 udp 1 127.0.0.1 9 typ host"}}`,
		`{"type":"update","name":"Al","state":{"video_muted":true}}`,
		`{"type":"ping","id":"1"}`, `{"type":"leave"}`, `{"type":`, `[]`, `null`, `"x"`, `{"type":{}}`,
		`{"type":"join","version":1,"room":"a/b"}`,
		`{"type":"lock","locked":true}`, `{"type":"admit","participant":"X"}`, `{"type":"deny","participant":"X"}`,
		`{"type":"remove","participant":"X"}`, `{"type":"mute"}`, `{"type":"mute","participant":"X"}`, `{"type":"lock","locked":"yes"}`, `{"type":"join","version":2}`, "{\"type\":\"update\",\"name\":\"\u202e\"}",
	}
	for _, s := range seeds {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, data []byte, joinFirst bool) {
		srv := NewServer(Options{Backend: room.NewLocal(room.LocalOptions{OpenRooms: true}), MaxParticipants: 6})
		peer := newTestConn(srv)
		peer.handle([]byte(`{"type":"join","version":1,"room":"demo","name":"peer"}`))
		c := newTestConn(srv)
		if joinFirst {
			c.handle([]byte(`{"type":"join","version":1,"room":"demo","name":"fuzz"}`))
		}
		// Let the fuzzer address the real peer.
		if c.session != nil {
			data = []byte(strings.ReplaceAll(string(data), "X", peer.session.ID()))
		}
		c.handle(data)
		for _, q := range []*conn{c, peer} {
			q.mu.Lock()
			frames := append(q.queue, q.early...)
			q.mu.Unlock()
			for _, frame := range frames {
				if !json.Valid(frame) {
					t.Fatalf("server produced invalid JSON %q for input %q", frame, data)
				}
			}
		}
		if c.session != nil {
			c.session.Leave(protocol.LeftReasonLeft)
		}
		peer.session.Leave(protocol.LeftReasonLeft)
	})
}

// newTestConn is a conn without a socket or writer: frames stay queued.
func newTestConn(s *Server) *conn {
	// flushing is set so that no flush goroutine starts: frames stay in
	// c.queue for the test to read.
	return &conn{s: s, flushing: true}
}
