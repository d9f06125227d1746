package client_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/peercall/peercall/client"
	"github.com/peercall/peercall/internal/testutil"
	"github.com/peercall/peercall/protocol"
)

func resumable(pingMS, graceMS int, token string, resumed bool) protocol.Joined {
	j := joined(pingMS)
	j.ResumeToken, j.ResumeGraceMS, j.Resumed = token, graceMS, resumed
	return j
}

func TestReconnectResumesTheSession(t *testing.T) {
	client.LeakCheck(t)
	var conns atomic.Int32
	resumedWith := make(chan string, 1)
	var fs *fakeServer
	fs = startFake(t, func(ctx context.Context, c *websocket.Conn, join protocol.Join) {
		if conns.Add(1) == 1 {
			send(ctx, c, resumable(1000, 5000, "t1", false))
			return // drop the connection
		}
		resumedWith <- join.Resume
		send(ctx, c, resumable(1000, 5000, "t2", true))
		fs.record(ctx, c)
	})
	r, err := client.Join(context.Background(), client.Config{URL: fs.URL, Room: "r", Reconnect: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := <-resumedWith; got != "t1" {
		t.Errorf("resumed with token %q, want t1", got)
	}
	if err := r.Update("after", protocol.State{}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, wait, func() error {
		if fs.received(protocol.TypeUpdate) != 1 {
			return errors.New("update not sent on the resumed connection")
		}
		return nil
	})
	select {
	case <-r.Done():
		t.Fatalf("room ended: %v", r.Err())
	default:
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, wait, func() error {
		if fs.received(protocol.TypeLeave) != 1 {
			return errors.New("no leave on the resumed connection")
		}
		return nil
	})
}

func TestReconnectGivesUpAfterTheGracePeriod(t *testing.T) {
	client.LeakCheck(t)
	var conns atomic.Int32
	fs := startFake(t, func(ctx context.Context, c *websocket.Conn, _ protocol.Join) {
		if conns.Add(1) == 1 {
			send(ctx, c, resumable(1000, 300, "t1", false))
			return
		}
		// Later joins are dropped unanswered.
	})
	disconnected := make(chan error, 1)
	r, err := client.Join(context.Background(), client.Config{
		URL: fs.URL, Room: "r", Reconnect: true,
		OnDisconnect: func(err error) { disconnected <- err },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	waitDone(t, r)
	if !errors.Is(r.Err(), client.ErrDisconnected) {
		t.Errorf("Err = %v, want ErrDisconnected", r.Err())
	}
	if err := <-disconnected; err == nil {
		t.Error("OnDisconnect(nil)")
	}
	if n := conns.Load(); n < 2 {
		t.Errorf("%d connections, want the first and resume attempts", n)
	}
}

func TestReconnectStopsWhenTheServerRefuses(t *testing.T) {
	client.LeakCheck(t)
	var conns atomic.Int32
	fs := startFake(t, func(ctx context.Context, c *websocket.Conn, _ protocol.Join) {
		if conns.Add(1) == 1 {
			send(ctx, c, resumable(1000, 5000, "t1", false))
			return
		}
		send(ctx, c, protocol.Error{Type: protocol.TypeError, Code: protocol.CodeUnauthorized, Message: "no", Fatal: true})
	})
	r, err := client.Join(context.Background(), client.Config{URL: fs.URL, Room: "r", Reconnect: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	waitDone(t, r)
	if !client.IsCode(r.Err(), protocol.CodeUnauthorized) {
		t.Errorf("Err = %v, want unauthorized", r.Err())
	}
}

func TestReconnectEndsTheRoomIfTheSessionWasNotResumed(t *testing.T) {
	client.LeakCheck(t)
	var conns atomic.Int32
	fs := startFake(t, func(ctx context.Context, c *websocket.Conn, _ protocol.Join) {
		if conns.Add(1) == 1 {
			send(ctx, c, resumable(1000, 5000, "t1", false))
			return
		}
		j := resumable(1000, 5000, "t2", false)
		j.Self.ID = "someone-new"
		send(ctx, c, j)
		_, _, _ = c.Read(ctx) // until the client hangs up
	})
	r, err := client.Join(context.Background(), client.Config{URL: fs.URL, Room: "r", Reconnect: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	waitDone(t, r)
	if !errors.Is(r.Err(), client.ErrDisconnected) {
		t.Errorf("Err = %v, want ErrDisconnected", r.Err())
	}
}

func TestWithoutReconnectADroppedConnectionEndsTheRoom(t *testing.T) {
	client.LeakCheck(t)
	fs := startFake(t, func(ctx context.Context, c *websocket.Conn, _ protocol.Join) {
		send(ctx, c, resumable(1000, 5000, "t1", false))
	})
	r, err := client.Join(context.Background(), client.Config{URL: fs.URL, Room: "r"})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	waitDone(t, r)
	if !errors.Is(r.Err(), client.ErrDisconnected) {
		t.Errorf("Err = %v, want ErrDisconnected", r.Err())
	}
}

func TestCloseWhileReconnectingReturnsAtOnce(t *testing.T) {
	client.LeakCheck(t)
	var conns atomic.Int32
	fs := startFake(t, func(ctx context.Context, c *websocket.Conn, _ protocol.Join) {
		if conns.Add(1) == 1 {
			send(ctx, c, resumable(1000, 60000, "t1", false))
		}
		// Drop the first connection after joined, and later joins unanswered.
	})
	r, err := client.Join(context.Background(), client.Config{URL: fs.URL, Room: "r", Reconnect: true})
	if err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, wait, func() error {
		if conns.Load() < 3 {
			return errors.New("not reconnecting yet")
		}
		return nil
	})
	start := time.Now()
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Close took %v", d)
	}
	if err := r.Err(); err != nil {
		t.Errorf("Err after Close = %v", err)
	}
}
