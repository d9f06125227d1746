package signal_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"

	"github.com/peercall/peercall/internal/auth"
	"github.com/peercall/peercall/internal/room"
	"github.com/peercall/peercall/internal/signal"
	"github.com/peercall/peercall/protocol"
)

// testGrace is the resume grace period of test servers.
const testGrace = 300 * time.Millisecond

type testServer struct {
	*signal.Server
	url string
}

func start(t *testing.T, opts signal.Options) *testServer {
	t.Helper()
	if opts.Backend == nil {
		opts.Backend = room.NewLocal(room.LocalOptions{Grace: testGrace})
		opts.MaxParticipants = 6
		opts.ResumeGrace = testGrace
	}
	s := signal.NewServer(opts)
	hs := httptest.NewServer(s)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		hs.Close()
	})
	return &testServer{Server: s, url: "ws" + strings.TrimPrefix(hs.URL, "http") + protocol.Path}
}

// wsClient is a raw protocol client for tests.
type wsClient struct {
	t  *testing.T
	ws *websocket.Conn
	id string
}

func dial(t *testing.T, url string) *wsClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	ws.SetReadLimit(1 << 20)
	t.Cleanup(func() { ws.CloseNow() })
	return &wsClient{t: t, ws: ws}
}

func (c *wsClient) sendRaw(s string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageText, []byte(s)); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func (c *wsClient) send(v any) {
	c.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		c.t.Fatal(err)
	}
	c.sendRaw(string(b))
}

// next reads the next frame, failing the test after 10 s.
func (c *wsClient) next() map[string]any {
	c.t.Helper()
	m, err := c.read(10 * time.Second)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return m
}

func (c *wsClient) read(timeout time.Duration) (map[string]any, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	_, data, err := c.ws.Read(ctx)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		c.t.Fatalf("server sent invalid JSON %q: %v", data, err)
	}
	return m, nil
}

// expect reads the next frame and checks its type.
func (c *wsClient) expect(typ string) map[string]any {
	c.t.Helper()
	m := c.next()
	if m["type"] != typ {
		c.t.Fatalf("got %v, want type %q", m, typ)
	}
	return m
}

func (c *wsClient) expectError(code protocol.Code) map[string]any {
	c.t.Helper()
	m := c.expect(protocol.TypeError)
	if m["code"] != string(code) {
		c.t.Fatalf("got error %v, want code %q", m, code)
	}
	if m["message"] == "" {
		c.t.Fatalf("error %v has no message", m)
	}
	return m
}

// expectClosed waits for the server to close the connection.
func (c *wsClient) expectClosed() websocket.StatusCode {
	c.t.Helper()
	for {
		m, err := c.read(10 * time.Second)
		if err != nil {
			return websocket.CloseStatus(err)
		}
		if m == nil {
			continue
		}
	}
}

func (c *wsClient) join(room, name string) map[string]any {
	c.t.Helper()
	c.send(protocol.Join{Type: protocol.TypeJoin, Version: protocol.Version, Room: room, Name: name})
	m := c.expect(protocol.TypeJoined)
	c.id = m["self"].(map[string]any)["id"].(string)
	return m
}

func joinPair(t *testing.T, url, roomName string) (a, b *wsClient) {
	a = dial(t, url)
	a.join(roomName, "alice")
	b = dial(t, url)
	b.join(roomName, "bob")
	pj := a.expect(protocol.TypePeerJoined)
	if pj["participant"].(map[string]any)["id"] != b.id {
		t.Fatalf("peer_joined %v is not bob %s", pj, b.id)
	}
	return a, b
}

func TestJoinAnnouncesParticipantsBothWays(t *testing.T) {
	s := start(t, signal.Options{})
	a := dial(t, s.url)
	ja := a.join("demo", "alice")
	if n := len(ja["participants"].([]any)); n != 0 {
		t.Fatalf("first joiner sees %d participants", n)
	}
	if len(a.id) < 26 {
		t.Fatalf("participant ID %q is too short to be unguessable", a.id)
	}
	b := dial(t, s.url)
	jb := b.join("demo", "  bob  ")
	others := jb["participants"].([]any)
	if len(others) != 1 || others[0].(map[string]any)["id"] != a.id || others[0].(map[string]any)["name"] != "alice" {
		t.Fatalf("second joiner sees %v, want alice", others)
	}
	if jb["self"].(map[string]any)["name"] != "bob" {
		t.Fatalf("name not trimmed: %v", jb["self"])
	}
	if jb["ping_interval_ms"].(float64) != 5000 || jb["max_participants"].(float64) != 6 {
		t.Fatalf("joined lacks keepalive or capacity: %v", jb)
	}
	pj := a.expect(protocol.TypePeerJoined)
	if pj["participant"].(map[string]any)["id"] != b.id {
		t.Fatalf("alice got %v", pj)
	}
}

func TestRelayStampsTheSenderAndKeepsThePayload(t *testing.T) {
	s := start(t, signal.Options{})
	a, b := joinPair(t, s.url, "demo")
	payload := `{"type":"offer","sdp":"v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n","x":[1,2,{"y":"\u00e9"}]}`
	a.sendRaw(`{"type":"offer","to":"` + b.id + `","from":"SPOOFED","payload":` + payload + `}`)
	_, data, err := b.ws.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := `{"type":"offer","from":"` + a.id + `","payload":` + payload + `}`
	if string(data) != want {
		t.Fatalf("bob got\n%s\nwant\n%s", data, want)
	}
	b.send(map[string]any{"type": "answer", "to": a.id, "payload": map[string]string{"type": "answer", "sdp": "v=0"}})
	if m := a.expect(protocol.TypeAnswer); m["from"] != b.id {
		t.Fatalf("answer from %v", m["from"])
	}
	b.send(map[string]any{"type": "candidate", "to": a.id, "payload": map[string]any{"candidate": "candidate:1 1 udp 1 127.0.0.1 5000 typ host", "sdpMid": "0"}})
	if m := a.expect(protocol.TypeCandidate); m["from"] != b.id {
		t.Fatalf("candidate from %v", m["from"])
	}
	// The counter is bumped just after delivery: poll.
	waitFor(t, func() bool { return s.Stats().MessagesRelayed == 3 })
}

func TestRelayNeverCrossesRooms(t *testing.T) {
	s := start(t, signal.Options{})
	a := dial(t, s.url)
	a.join("room-a", "alice")
	x := dial(t, s.url)
	x.join("room-b", "mallory")
	x.send(map[string]any{"type": "offer", "id": "r1", "to": a.id, "payload": map[string]string{"type": "offer", "sdp": "v=0"}})
	e := x.expectError(protocol.CodeUnknownPeer)
	if e["ref"] != "r1" || e["fatal"] == true {
		t.Fatalf("error %v: want ref r1, not fatal", e)
	}
	// Alice received nothing: her next frame is the pong to her own ping.
	a.send(map[string]string{"type": "ping"})
	a.expect(protocol.TypePong)
}

func TestBadInputGetsAClearErrorAndTheConnectionGoesOn(t *testing.T) {
	s := start(t, signal.Options{})
	c := dial(t, s.url)
	steps := []struct {
		name  string
		frame string
		code  protocol.Code
	}{
		{"malformed JSON is refused", `{"type":`, protocol.CodeBadRequest},
		{"a JSON array is refused", `[1,2]`, protocol.CodeBadRequest},
		{"a frame without type is refused", `{"to":"x"}`, protocol.CodeBadRequest},
		{"an unknown type is refused", `{"type":"launch_missiles"}`, protocol.CodeBadRequest},
		{"a relay before join is refused", `{"type":"offer","to":"x","payload":{}}`, protocol.CodeNotJoined},
		{"a wrongly typed field is refused", `{"type":"ping","id":7}`, protocol.CodeBadRequest},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			c.t = t
			c.sendRaw(st.frame)
			c.expectError(st.code)
		})
	}
	c.t = t
	c.join("demo", "alice")
	after := []struct {
		name  string
		frame string
		code  protocol.Code
	}{
		{"a relay without a recipient is refused", `{"type":"offer","payload":{}}`, protocol.CodeBadRequest},
		{"a relay without a payload is refused", `{"type":"offer","to":"x"}`, protocol.CodeBadRequest},
		{"a relay with a string payload is refused", `{"type":"offer","to":"x","payload":"sdp"}`, protocol.CodeBadRequest},
		{"a relay to nobody is refused", `{"type":"candidate","to":"nobody","payload":{}}`, protocol.CodeUnknownPeer},
		{"a relay to oneself is refused", `{"type":"candidate","to":"` + c.id + `","payload":{}}`, protocol.CodeUnknownPeer},
		{"a second join is refused", `{"type":"join","version":1,"room":"other","name":"x"}`, protocol.CodeAlreadyJoined},
		{"an update with a control character is refused", `{"type":"update","name":"a\u0007b","state":{}}`, protocol.CodeBadRequest},
		{"a binary-looking update is refused", `{"type":"update","name":"` + strings.Repeat("n", 65) + `"}`, protocol.CodeBadRequest},
	}
	for _, st := range after {
		t.Run(st.name, func(t *testing.T) {
			c.t = t
			c.sendRaw(st.frame)
			c.expectError(st.code)
		})
	}
	c.t = t
	c.send(map[string]string{"type": "ping"})
	c.expect(protocol.TypePong)
}

func TestJoinIsValidated(t *testing.T) {
	s := start(t, signal.Options{})
	cases := []struct {
		name string
		join string
		code protocol.Code
	}{
		{"an old protocol version is refused", `{"type":"join","version":0,"room":"demo"}`, protocol.CodeUnsupportedVersion},
		{"a room name with a slash is refused", `{"type":"join","version":1,"room":"a/b"}`, protocol.CodeBadRequest},
		{"an empty room name is refused", `{"type":"join","version":1,"room":""}`, protocol.CodeBadRequest},
		{"a name over 64 bytes is refused", `{"type":"join","version":1,"room":"demo","name":"` + strings.Repeat("é", 33) + `"}`, protocol.CodeBadRequest},
		{"a room name over 64 bytes is refused", `{"type":"join","version":1,"room":"` + strings.Repeat("r", 65) + `"}`, protocol.CodeBadRequest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, s.url)
			c.sendRaw(tc.join)
			e := c.expectError(tc.code)
			if e["fatal"] != true {
				t.Fatalf("a refused join must be fatal: %v", e)
			}
			c.expectClosed()
		})
	}
}

func TestTheSeventhJoinerOfASixRoomGetsRoomFull(t *testing.T) {
	s := start(t, signal.Options{})
	for i := range 6 {
		dial(t, s.url).join("demo", "p"+string(rune('0'+i)))
	}
	c := dial(t, s.url)
	c.sendRaw(`{"type":"join","id":"j7","version":1,"room":"demo","name":"seventh"}`)
	e := c.expectError(protocol.CodeRoomFull)
	if e["ref"] != "j7" || !strings.Contains(e["message"].(string), "full") {
		t.Fatalf("room_full error %v", e)
	}
	if st := c.expectClosed(); st != websocket.StatusPolicyViolation {
		t.Fatalf("close status %v", st)
	}
	// Another room is unaffected.
	dial(t, s.url).join("other", "x")
}

func TestLeavingIsAnnounced(t *testing.T) {
	s := start(t, signal.Options{})
	t.Run("a participant that sends leave is announced as left", func(t *testing.T) {
		a, b := joinPair(t, s.url, "leave")
		b.send(map[string]string{"type": "leave"})
		m := a.expect(protocol.TypePeerLeft)
		if m["id"] != b.id || m["reason"] != protocol.LeftReasonLeft {
			t.Fatalf("peer_left %v", m)
		}
		if st := b.expectClosed(); st != websocket.StatusNormalClosure {
			t.Fatalf("leave closed with %v", st)
		}
	})
	t.Run("a participant that closes its socket cleanly is announced as left", func(t *testing.T) {
		a, b := joinPair(t, s.url, "close")
		b.ws.Close(websocket.StatusGoingAway, "tab closed")
		m := a.expect(protocol.TypePeerLeft)
		if m["id"] != b.id || m["reason"] != protocol.LeftReasonLeft {
			t.Fatalf("peer_left %v", m)
		}
	})
	t.Run("a participant whose connection drops is reconnecting, then left after the grace period", func(t *testing.T) {
		a, b := joinPair(t, s.url, "drop")
		b.ws.CloseNow()
		a.expectReconnecting(b.id)
		m := a.expect(protocol.TypePeerLeft)
		if m["id"] != b.id || m["reason"] != protocol.LeftReasonTimeout {
			t.Fatalf("peer_left %v", m)
		}
	})
	// Every subtest's sockets are closed by its cleanup; none may linger.
	waitFor(t, func() bool { return s.Stats().Connections == 0 })
}

func TestASilentConnectionIsDetectedAsDead(t *testing.T) {
	s := start(t, signal.Options{PingInterval: 200 * time.Millisecond})
	a, b := joinPair(t, s.url, "demo")
	// Alice keeps pinging; Bob goes silent.
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				a.ws.Write(context.Background(), websocket.MessageText, []byte(`{"type":"ping"}`))
			}
		}
	}()
	for {
		m := a.next()
		if m["type"] == protocol.TypePong {
			continue
		}
		if m["type"] == protocol.TypePeerUpdated && isReconnecting(m, b.id) {
			continue
		}
		if m["type"] != protocol.TypePeerLeft || m["id"] != b.id || m["reason"] != protocol.LeftReasonTimeout {
			t.Fatalf("got %v, want peer_updated reconnecting then peer_left timeout for bob", m)
		}
		break
	}
	e := b.expectError(protocol.CodeTimeout)
	if e["fatal"] != true {
		t.Fatalf("timeout must be fatal: %v", e)
	}
	if got := s.Stats().KeepaliveExpired; got != 1 {
		t.Fatalf("keepalive expired %d", got)
	}
}

func TestAnOversizedMessageIsRefusedAndTheConnectionGoesOn(t *testing.T) {
	s := start(t, signal.Options{MaxMessageBytes: 4096})
	a, b := joinPair(t, s.url, "demo")
	b.sendRaw(`{"type":"offer","id":"big","to":"` + a.id + `","payload":{"sdp":"` + strings.Repeat("x", 5000) + `"}}`)
	b.expectError(protocol.CodeTooLarge)
	b.send(map[string]any{"type": "offer", "to": a.id, "payload": map[string]string{"sdp": "small"}})
	if m := a.expect(protocol.TypeOffer); m["payload"].(map[string]any)["sdp"] != "small" {
		t.Fatalf("alice got %v", m)
	}
}

func TestAHugeMessageClosesOnlyItsConnection(t *testing.T) {
	s := start(t, signal.Options{MaxMessageBytes: 4096})
	a, b := joinPair(t, s.url, "demo")
	b.sendRaw(`{"type":"offer","to":"` + a.id + `","payload":{"sdp":"` + strings.Repeat("x", 4096*17) + `"}}`)
	if st := b.expectClosed(); st != websocket.StatusMessageTooBig {
		t.Fatalf("close status %v, want 1009", st)
	}
	a.expectReconnecting(b.id)
	a.send(map[string]string{"type": "ping"})
	a.expect(protocol.TypePong)
}

func TestUpdateIsBroadcast(t *testing.T) {
	s := start(t, signal.Options{})
	a, b := joinPair(t, s.url, "demo")
	b.send(protocol.Update{Type: protocol.TypeUpdate, Name: "Bobby", State: protocol.State{AudioMuted: true}})
	m := a.expect(protocol.TypePeerUpdated)
	p := m["participant"].(map[string]any)
	if p["id"] != b.id || p["name"] != "Bobby" || p["state"].(map[string]any)["audio_muted"] != true {
		t.Fatalf("peer_updated %v", m)
	}
}

func TestShutdownTellsClients(t *testing.T) {
	s := start(t, signal.Options{})
	a := dial(t, s.url)
	a.join("demo", "alice")
	done := make(chan error)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- s.Shutdown(ctx)
	}()
	a.expectError(protocol.CodeServerShutdown)
	if st := a.expectClosed(); st != websocket.StatusGoingAway {
		t.Fatalf("close status %v", st)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestASlowReaderIsDroppedWithoutHurtingOthers(t *testing.T) {
	s := start(t, signal.Options{QueueLen: 8, WriteTimeout: time.Second, MessageRate: 1e6, MessageBurst: 1e6})
	a, b := joinPair(t, s.url, "demo")
	// Bob never reads; Alice floods him with large candidates until the
	// server gives up on him.
	payload := `{"candidate":"` + strings.Repeat("c", 30000) + `"}`
	for i := 0; i < 2000 && s.Stats().SlowConsumers == 0; i++ {
		a.sendRaw(`{"type":"candidate","to":"` + b.id + `","payload":` + payload + `}`)
	}
	waitFor(t, func() bool { return s.Stats().SlowConsumers >= 1 })
	for {
		m := a.next()
		if m["type"] == protocol.TypePeerLeft && m["id"] == b.id {
			break
		}
		if m["type"] == protocol.TypePeerUpdated && isReconnecting(m, b.id) {
			continue
		}
		t.Fatalf("alice got %v", m)
	}
	a.send(map[string]string{"type": "ping"})
	for m := a.next(); m["type"] != protocol.TypePong; m = a.next() {
	}
}

func isReconnecting(m map[string]any, id string) bool {
	p, _ := m["participant"].(map[string]any)
	return p != nil && p["id"] == id && p["reconnecting"] == true
}

func (c *wsClient) expectReconnecting(id string) {
	c.t.Helper()
	m := c.expect(protocol.TypePeerUpdated)
	if !isReconnecting(m, id) {
		c.t.Fatalf("got %v, want %s reconnecting", m, id)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 20s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestADroppedClientResumesItsSessionWithoutTheOthersSeeingItLeave(t *testing.T) {
	s := start(t, signal.Options{Backend: room.NewLocal(room.LocalOptions{Grace: time.Minute}), ResumeGrace: time.Minute})
	a := dial(t, s.url)
	a.join("demo", "alice")
	b := dial(t, s.url)
	jb := b.join("demo", "bob")
	a.expect(protocol.TypePeerJoined)
	token, _ := jb["resume_token"].(string)
	if token == "" || jb["resumed"] != false || jb["resume_grace_ms"].(float64) != 60000 {
		t.Fatalf("joined lacks resume fields: %v", jb)
	}
	b.ws.CloseNow()
	a.expectReconnecting(b.id)
	// An ICE restart offer sent while Bob is away is held for him.
	a.send(map[string]any{"type": "offer", "to": b.id, "payload": map[string]string{"type": "offer", "sdp": "restart"}})

	b2 := dial(t, s.url)
	b2.send(protocol.Join{Type: protocol.TypeJoin, Version: protocol.Version, Room: "demo", Name: "bob", Resume: token})
	j := b2.expect(protocol.TypeJoined)
	if j["self"].(map[string]any)["id"] != b.id || j["resumed"] != true {
		t.Fatalf("resume gave %v", j)
	}
	if ps := j["participants"].([]any); len(ps) != 1 || ps[0].(map[string]any)["name"] != "alice" {
		t.Fatalf("participants %v", ps)
	}
	if m := b2.expect(protocol.TypeOffer); m["from"] != a.id {
		t.Fatalf("held offer %v", m)
	}
	m := a.expect(protocol.TypePeerUpdated)
	if p := m["participant"].(map[string]any); p["id"] != b.id || p["reconnecting"] == true {
		t.Fatalf("alice got %v, want bob back", m)
	}
	// Bob can be reached again.
	a.send(map[string]any{"type": "candidate", "to": b.id, "payload": map[string]string{"candidate": ""}})
	b2.expect(protocol.TypeCandidate)
}

func TestResumingOnASecondConnectionClosesTheFirst(t *testing.T) {
	s := start(t, signal.Options{})
	a := dial(t, s.url)
	ja := a.join("demo", "alice")
	a2 := dial(t, s.url)
	a2.send(protocol.Join{Type: protocol.TypeJoin, Version: protocol.Version, Room: "demo", Name: "alice", Resume: ja["resume_token"].(string)})
	if j := a2.expect(protocol.TypeJoined); j["resumed"] != true {
		t.Fatalf("%v", j)
	}
	a.expectError(protocol.CodeReplaced)
	a.expectClosed()
	if st := s.Stats(); st.Connections != 1 {
		waitFor(t, func() bool { return s.Stats().Connections == 1 })
	}
}

func TestPerAddressLimitsRefuseClearly(t *testing.T) {
	t.Run("connections beyond the per-address limit are refused", func(t *testing.T) {
		s := start(t, signal.Options{MaxConnsPerIP: 2})
		dial(t, s.url).join("a", "1")
		dial(t, s.url).join("a", "2")
		c := dial(t, s.url)
		c.expectError(protocol.CodeRateLimited)
		c.expectClosed()
	})
	t.Run("joins beyond the per-address rate are refused", func(t *testing.T) {
		s := start(t, signal.Options{JoinsPerIPPerMinute: 8}) // burst 2
		dial(t, s.url).join("a", "1")
		dial(t, s.url).join("a", "2")
		c := dial(t, s.url)
		c.send(protocol.Join{Type: protocol.TypeJoin, Version: protocol.Version, Room: "a"})
		c.expectError(protocol.CodeRateLimited)
		if s.Stats().RateLimited != 1 {
			t.Fatalf("stats %+v", s.Stats())
		}
	})
	t.Run("a flood of frames is rate limited and the connection goes on", func(t *testing.T) {
		s := start(t, signal.Options{MessageRate: 1, MessageBurst: 5})
		c := dial(t, s.url)
		for range 10 {
			c.send(map[string]string{"type": "ping"})
		}
		pongs, limited := 0, 0
		for range 10 {
			switch m := c.next(); m["type"] {
			case protocol.TypePong:
				pongs++
			case protocol.TypeError:
				limited++
			}
		}
		if pongs != 5 || limited != 5 {
			t.Fatalf("%d pongs, %d rate_limited", pongs, limited)
		}
	})
	t.Run("a page on another site cannot open a socket", func(t *testing.T) {
		s := start(t, signal.Options{})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, resp, err := websocket.Dial(ctx, s.url, &websocket.DialOptions{HTTPHeader: map[string][]string{"Origin": {"https://evil.example"}}})
		if err == nil || resp == nil || resp.StatusCode != 403 {
			t.Fatalf("cross-origin dial: %v %v", err, resp)
		}
	})
	t.Run("an allowed origin can", func(t *testing.T) {
		s := start(t, signal.Options{OriginPatterns: []string{"app.example.com"}})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ws, _, err := websocket.Dial(ctx, s.url, &websocket.DialOptions{HTTPHeader: map[string][]string{"Origin": {"https://app.example.com"}}})
		if err != nil {
			t.Fatal(err)
		}
		ws.CloseNow()
	})
}

func TestTokenModeAdmitsOnlyValidTokensForTheRoom(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	s := start(t, signal.Options{Tokens: &auth.Verifier{Keys: auth.Keys{"app": secret}}})
	mint := func(key string, sec []byte, roomName string, ttl time.Duration) string {
		tok, err := auth.Mint(key, sec, auth.Claims{
			RegisteredClaims: jwt.RegisteredClaims{Subject: "user-1", ExpiresAt: jwt.NewNumericDate(time.Now().Add(ttl))},
			Room:             roomName, Name: "Dr. Who",
		})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	refused := []struct{ name, token string }{
		{"a join without a token is refused", ""},
		{"an expired token is refused", mint("app", secret, "clinic", -time.Hour)},
		{"a token for another room is refused", mint("app", secret, "other", time.Hour)},
		{"a token signed with another secret is refused", mint("app", []byte("ffffffffffffffffffffffffffffffff"), "clinic", time.Hour)},
		{"a token of an unknown key is refused", mint("nope", secret, "clinic", time.Hour)},
		{"garbage is refused", "not.a.token"},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, s.url)
			c.send(protocol.Join{Type: protocol.TypeJoin, Version: protocol.Version, Room: "clinic", Token: tc.token})
			e := c.expectError(protocol.CodeUnauthorized)
			if e["fatal"] != true {
				t.Fatalf("%v", e)
			}
			c.expectClosed()
		})
	}
	t.Run("a valid token admits, and its name wins", func(t *testing.T) {
		c := dial(t, s.url)
		c.send(protocol.Join{Type: protocol.TypeJoin, Version: protocol.Version, Room: "clinic", Name: "mallory", Token: mint("app", secret, "clinic", time.Hour)})
		j := c.expect(protocol.TypeJoined)
		if j["self"].(map[string]any)["name"] != "Dr. Who" {
			t.Fatalf("%v", j["self"])
		}
	})
}

func TestAHostRunsTheLobbyOverTheProtocol(t *testing.T) {
	s := start(t, signal.Options{Backend: room.NewLocal(room.LocalOptions{OpenRooms: true, Grace: testGrace})})
	host := dial(t, s.url)
	jh := host.join("demo", "host")
	if jh["self"].(map[string]any)["host"] != true {
		t.Fatalf("first joiner is not host: %v", jh["self"])
	}
	guest := dial(t, s.url)
	guest.join("demo", "guest")
	host.expect(protocol.TypePeerJoined)

	guest.send(protocol.Lock{Type: protocol.TypeLock, ID: "g1", Locked: true})
	if e := guest.expectError(protocol.CodeForbidden); e["ref"] != "g1" {
		t.Fatalf("%v", e)
	}
	host.send(protocol.Lock{Type: protocol.TypeLock, Locked: true})
	host.expect(protocol.TypeRoomUpdated)
	if m := guest.expect(protocol.TypeRoomUpdated); m["locked"] != true {
		t.Fatalf("%v", m)
	}

	knocker := dial(t, s.url)
	knocker.send(protocol.Join{Type: protocol.TypeJoin, Version: protocol.Version, Room: "demo", Name: "knocker"})
	knocker.expect(protocol.TypeLobby)
	k := host.expect(protocol.TypeKnock)
	kid := k["participant"].(map[string]any)["id"].(string)
	knocker.send(map[string]any{"type": "offer", "to": jh["self"].(map[string]any)["id"], "payload": map[string]string{}})
	knocker.expectError(protocol.CodeNotJoined)

	host.send(protocol.Target{Type: protocol.TypeAdmit, Participant: kid})
	j := knocker.expect(protocol.TypeJoined)
	if j["self"].(map[string]any)["id"] != kid || len(j["participants"].([]any)) != 2 || j["locked"] != true {
		t.Fatalf("admitted joined %v", j)
	}
	if m := host.expect(protocol.TypeKnockEnded); m["outcome"] != protocol.KnockAdmitted {
		t.Fatalf("%v", m)
	}
	host.expect(protocol.TypePeerJoined)
	guest.expect(protocol.TypePeerJoined)

	host.send(protocol.Target{Type: protocol.TypeMute, Participant: kid})
	if m := knocker.expect(protocol.TypeMuteRequest); m["from"] != host.id {
		t.Fatalf("%v", m)
	}
	host.send(protocol.Target{Type: protocol.TypeRemove, Participant: kid})
	knocker.expectError(protocol.CodeRemoved)
	knocker.expectClosed()
	for _, c := range []*wsClient{host, guest} {
		if m := c.expect(protocol.TypePeerLeft); m["reason"] != protocol.LeftReasonRemoved {
			t.Fatalf("%v", m)
		}
	}

	denied := dial(t, s.url)
	denied.send(protocol.Join{Type: protocol.TypeJoin, Version: protocol.Version, Room: "demo"})
	denied.expect(protocol.TypeLobby)
	k = host.expect(protocol.TypeKnock)
	host.send(protocol.Target{Type: protocol.TypeDeny, Participant: k["participant"].(map[string]any)["id"].(string)})
	denied.expectError(protocol.CodeDenied)
	denied.expectClosed()
}

// A server that shuts down (a rolling upgrade) detaches its participants
// rather than saying they left, even though clients answer its close frame:
// they resume through another server, and the others never see them leave.
func TestShutdownDetachesSoParticipantsResumeElsewhere(t *testing.T) {
	backend := room.NewLocal(room.LocalOptions{Grace: time.Minute})
	old := start(t, signal.Options{Backend: backend, ResumeGrace: time.Minute})
	next := start(t, signal.Options{Backend: backend, ResumeGrace: time.Minute})
	a := dial(t, next.url)
	a.join("demo", "alice")
	b := dial(t, old.url)
	jb := b.join("demo", "bob")
	a.expect(protocol.TypePeerJoined)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- old.Shutdown(ctx) }()
	b.expectError(protocol.CodeServerShutdown)
	if st := b.expectClosed(); st != websocket.StatusGoingAway {
		t.Fatalf("close status %v", st)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	m := a.next()
	if !isReconnecting(m, b.id) {
		t.Fatalf("alice got %v, want bob reconnecting", m)
	}
	b2 := dial(t, next.url)
	b2.send(protocol.Join{Type: protocol.TypeJoin, Version: protocol.Version, Room: "demo", Name: "bob", Resume: jb["resume_token"].(string)})
	if j := b2.expect(protocol.TypeJoined); j["resumed"] != true || j["self"].(map[string]any)["id"] != b.id {
		t.Fatalf("resume gave %v", j)
	}
}

// dialForwarded opens a socket whose request says, in X-Forwarded-For, that
// a proxy forwarded it for xff.
func dialForwarded(t *testing.T, url, xff string) *wsClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: http.Header{"X-Forwarded-For": {xff}}})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	ws.SetReadLimit(1 << 20)
	t.Cleanup(func() { ws.CloseNow() })
	return &wsClient{t: t, ws: ws}
}

// lockedBuffer is a log destination safe for concurrent writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestPerAddressLimitsCountForwardedClientsBehindATrustedProxy(t *testing.T) {
	loopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	t.Run("connections from a trusted proxy count per forwarded address", func(t *testing.T) {
		var logs lockedBuffer
		s := start(t, signal.Options{MaxConnsPerIP: 2, TrustedProxies: loopback,
			Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
		dialForwarded(t, s.url, "203.0.113.7").join("a", "1")
		// A client may put anything on the left; the proxy appends the
		// address it saw on the right, and that is the one counted.
		dialForwarded(t, s.url, "203.0.113.8, 203.0.113.7").join("a", "2")
		c := dialForwarded(t, s.url, "203.0.113.7")
		c.expectError(protocol.CodeRateLimited)
		c.expectClosed()
		dialForwarded(t, s.url, "203.0.113.8").join("a", "3")
		// Without the header, the proxy's own address counts.
		dial(t, s.url).join("a", "4")
		if s.Stats().RateLimited != 1 {
			t.Fatalf("stats %+v", s.Stats())
		}
		if l := logs.String(); !strings.Contains(l, `too many from this address" remote=203.0.113.7 peer=127.0.0.1:`) {
			t.Fatalf("the refusal is not logged with the forwarded address:\n%s", l)
		}
	})
	t.Run("joins from a trusted proxy are rate limited per forwarded address", func(t *testing.T) {
		s := start(t, signal.Options{JoinsPerIPPerMinute: 8, TrustedProxies: loopback}) // burst 2
		dialForwarded(t, s.url, "203.0.113.7").join("a", "1")
		dialForwarded(t, s.url, "203.0.113.7").join("a", "2")
		c := dialForwarded(t, s.url, "203.0.113.7")
		c.send(protocol.Join{Type: protocol.TypeJoin, Version: protocol.Version, Room: "a"})
		c.expectError(protocol.CodeRateLimited)
		dialForwarded(t, s.url, "203.0.113.8").join("a", "3")
	})
	for _, tc := range []struct {
		name    string
		trusted []netip.Prefix
	}{
		{"without trusted proxies the header is ignored", nil},
		{"the header of a peer that is not a trusted proxy is ignored", []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := start(t, signal.Options{MaxConnsPerIP: 2, TrustedProxies: tc.trusted})
			dialForwarded(t, s.url, "203.0.113.7").join("a", "1")
			dialForwarded(t, s.url, "203.0.113.8").join("a", "2")
			c := dialForwarded(t, s.url, "203.0.113.9") // still 127.0.0.1
			c.expectError(protocol.CodeRateLimited)
			c.expectClosed()
		})
	}
}
