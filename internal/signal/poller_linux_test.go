package signal

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/peercall/peercall/internal/room"
	"github.com/peercall/peercall/protocol"
)

// TestConnectionsOutliveAFailedPoller checks the fallback: if the poller's
// loop ever ends while connections are parked, they are woken and go on
// reading in their own goroutines.
func TestConnectionsOutliveAFailedPoller(t *testing.T) {
	s := NewServer(Options{Backend: room.NewLocal(room.LocalOptions{}), MaxParticipants: 4})
	hs := httptest.NewServer(s)
	defer hs.Close()
	url := "ws" + strings.TrimPrefix(hs.URL, "http") + protocol.Path
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var wss []*websocket.Conn
	for range 3 {
		ws, _, err := websocket.Dial(ctx, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer ws.CloseNow()
		ws.Write(ctx, websocket.MessageText, []byte(`{"type":"ping"}`))
		if _, b, err := ws.Read(ctx); err != nil || !strings.Contains(string(b), "pong") {
			t.Fatalf("%s %v", b, err)
		}
		wss = append(wss, ws)
	}
	s.mu.Lock()
	p := s.poller
	s.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for parked := 0; parked < 3; {
		if time.Now().After(deadline) {
			t.Fatal("the connections did not park")
		}
		parked = 0
		p.mu.RLock()
		for _, c := range p.conns {
			if c.state.Load() == connParked {
				parked++
			}
		}
		p.mu.RUnlock()
		time.Sleep(5 * time.Millisecond)
	}
	p.fail()
	for _, ws := range wss {
		ws.Write(ctx, websocket.MessageText, []byte(`{"type":"ping"}`))
		if _, b, err := ws.Read(ctx); err != nil || !strings.Contains(string(b), "pong") {
			t.Fatalf("after the poller failed: %s %v", b, err)
		}
	}
	for _, ws := range wss {
		ws.CloseNow()
	}
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}
