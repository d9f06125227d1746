package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/peercall/peercall/client"
	"github.com/peercall/peercall/internal/testutil"
	"github.com/peercall/peercall/protocol"
)

// fakeServer is a scripted signaling server for protocol edge cases the real
// server does not produce on demand.
type fakeServer struct {
	*httptest.Server
	script func(ctx context.Context, c *websocket.Conn, join protocol.Join)

	mu     sync.Mutex
	frames []string // types of frames received after join
}

func startFake(t *testing.T, script func(ctx context.Context, c *websocket.Conn, join protocol.Join)) *fakeServer {
	t.Helper()
	fs := &fakeServer{script: script}
	fs.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != protocol.Path {
			http.NotFound(w, r)
			return
		}
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		_, b, err := c.Read(r.Context())
		if err != nil {
			return
		}
		var join protocol.Join
		if err := json.Unmarshal(b, &join); err != nil {
			return
		}
		fs.script(r.Context(), c, join)
	}))
	t.Cleanup(fs.Close)
	return fs
}

func send(ctx context.Context, c *websocket.Conn, v any) {
	b, _ := json.Marshal(v)
	_ = c.Write(ctx, websocket.MessageText, b)
}

func joined(pingMS int) protocol.Joined {
	return protocol.Joined{
		Type: protocol.TypeJoined, Version: protocol.Version, Room: "r",
		Self: protocol.Participant{ID: "me"}, PingIntervalMS: pingMS, MaxParticipants: 6,
		ICEServers: []protocol.ICEServer{},
	}
}

// record reads frames until the connection ends, remembering their types.
func (fs *fakeServer) record(ctx context.Context, c *websocket.Conn) {
	for {
		_, b, err := c.Read(ctx)
		if err != nil {
			return
		}
		var env protocol.Envelope
		_ = json.Unmarshal(b, &env)
		fs.mu.Lock()
		fs.frames = append(fs.frames, env.Type)
		fs.mu.Unlock()
	}
}

func (fs *fakeServer) received(typ string) int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	n := 0
	for _, f := range fs.frames {
		if f == typ {
			n++
		}
	}
	return n
}

func waitDone(t *testing.T, r *client.Room) {
	t.Helper()
	select {
	case <-r.Done():
	case <-time.After(wait):
		t.Fatal("room did not end")
	}
}

func TestJoinSendsVersionNameAndToken(t *testing.T) {
	client.LeakCheck(t)
	got := make(chan protocol.Join, 1)
	fs := startFake(t, func(ctx context.Context, c *websocket.Conn, join protocol.Join) {
		got <- join
		send(ctx, c, protocol.Error{Type: protocol.TypeError, Code: protocol.CodeUnauthorized, Message: "bad token", Fatal: true})
	})
	_, err := client.Join(context.Background(), client.Config{
		URL: fs.URL, Room: "r", Name: "n", Token: "tok", State: protocol.State{VideoMuted: true},
	})
	if !client.IsCode(err, protocol.CodeUnauthorized) {
		t.Fatalf("Join error = %v, want unauthorized", err)
	}
	j := <-got
	if j.Type != protocol.TypeJoin || j.Version != protocol.Version || j.Room != "r" || j.Name != "n" || j.Token != "tok" || !j.State.VideoMuted {
		t.Errorf("join frame = %+v", j)
	}
}

func TestSilentServerTimesOut(t *testing.T) {
	client.LeakCheck(t)
	fs := startFake(t, func(ctx context.Context, c *websocket.Conn, _ protocol.Join) {
		send(ctx, c, joined(50))
		for { // read pings, never answer
			if _, _, err := c.Read(ctx); err != nil {
				return
			}
		}
	})
	disconnected := make(chan error, 1)
	r, err := client.Join(context.Background(), client.Config{
		URL: fs.URL, Room: "r", OnDisconnect: func(err error) { disconnected <- err },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	waitDone(t, r)
	if !errors.Is(r.Err(), client.ErrServerTimeout) {
		t.Errorf("Err = %v, want ErrServerTimeout", r.Err())
	}
	if err := <-disconnected; !errors.Is(err, client.ErrServerTimeout) {
		t.Errorf("OnDisconnect(%v)", err)
	}
}

func TestFatalErrorFrameEndsTheRoom(t *testing.T) {
	client.LeakCheck(t)
	fs := startFake(t, func(ctx context.Context, c *websocket.Conn, _ protocol.Join) {
		send(ctx, c, joined(1000))
		send(ctx, c, protocol.Error{Type: protocol.TypeError, Code: protocol.CodeBadRequest, Message: "meh"})
		send(ctx, c, protocol.Error{Type: protocol.TypeError, Code: protocol.CodeSlowConsumer, Message: "too slow", Fatal: true})
		_, _, _ = c.Read(ctx)
	})
	r, err := client.Join(context.Background(), client.Config{URL: fs.URL, Room: "r"})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	waitDone(t, r)
	var ce *client.Error
	if !errors.As(r.Err(), &ce) || ce.Code != protocol.CodeSlowConsumer || !ce.Fatal {
		t.Errorf("Err = %#v, want fatal slow_consumer", r.Err())
	}
}

func TestCloseSendsLeaveAndPings(t *testing.T) {
	client.LeakCheck(t)
	var fs *fakeServer
	recorded := make(chan struct{})
	fs = startFake(t, func(ctx context.Context, c *websocket.Conn, _ protocol.Join) {
		send(ctx, c, joined(100))
		// Answer pings so the client keeps the room open.
		go func() {
			for {
				select {
				case <-ctx.Done():
					return
				case <-time.After(10 * time.Millisecond):
					send(ctx, c, protocol.Envelope{Type: protocol.TypePong})
				}
			}
		}()
		fs.record(ctx, c)
		close(recorded)
	})
	r, err := client.Join(context.Background(), client.Config{URL: fs.URL, Room: "r", Name: "n"})
	if err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, wait, func() error {
		if n := fs.received(protocol.TypePing); n < 3 {
			return fmt.Errorf("%d pings", n)
		}
		return nil
	})
	if err := r.Update("m", protocol.State{}); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	<-recorded
	if fs.received(protocol.TypeUpdate) != 1 || fs.received(protocol.TypeLeave) != 1 {
		t.Errorf("frames = %v, want an update and a leave", fs.frames)
	}
	if err := r.Update("x", protocol.State{}); !errors.Is(err, client.ErrClosed) {
		t.Errorf("Update after Close = %v", err)
	}
}
