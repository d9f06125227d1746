package signal_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/peercall/peercall/internal/room"
	"github.com/peercall/peercall/internal/signal"
	"github.com/peercall/peercall/protocol"
)

// rawClient speaks WebSocket frame by frame, to test what a browser or a
// library would not send.
type rawClient struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
	id string
}

// dialRaw opens a WebSocket to url (ws://host/path) with a hand-written
// handshake; early is sent in the same write as the request.
func dialRaw(t *testing.T, url string, early []byte) *rawClient {
	t.Helper()
	hostPath := strings.TrimPrefix(url, "ws://")
	host, path, _ := strings.Cut(hostPath, "/")
	nc, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	req := "GET /" + path + " HTTP/1.1\r\nHost: " + host + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
		"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n"
	if _, err := nc.Write(append([]byte(req), early...)); err != nil {
		t.Fatal(err)
	}
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Sec-WebSocket-Accept") != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("handshake: %s %v", resp.Status, resp.Header)
	}
	if resp.Header.Get("Sec-WebSocket-Extensions") != "" {
		t.Fatalf("an extension was negotiated: %v", resp.Header)
	}
	return &rawClient{t: t, nc: nc, br: br}
}

// frame returns a masked client frame.
func frame(fin bool, op byte, payload []byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	b := []byte{b0}
	switch n := len(payload); {
	case n < 126:
		b = append(b, 0x80|byte(n))
	case n < 1<<16:
		b = append(b, 0x80|126, byte(n>>8), byte(n))
	default:
		b = binary.BigEndian.AppendUint64(append(b, 0x80|127), uint64(n))
	}
	key := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	b = append(b, key[:]...)
	for i, c := range payload {
		b = append(b, c^key[i%4])
	}
	return b
}

func text(s string) []byte { return frame(true, 0x1, []byte(s)) }

func (c *rawClient) write(frames ...[]byte) {
	c.t.Helper()
	if _, err := c.nc.Write(bytes.Join(frames, nil)); err != nil {
		c.t.Fatal(err)
	}
}

// next reads one server frame.
func (c *rawClient) next() (op byte, payload []byte) {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	var h [2]byte
	if _, err := io.ReadFull(c.br, h[:]); err != nil {
		c.t.Fatalf("read: %v", err)
	}
	if h[0]&0x80 == 0 || h[0]&0x70 != 0 || h[1]&0x80 != 0 {
		c.t.Fatalf("server frame header %x: want FIN, no RSV bits, no mask", h)
	}
	n := int(h[1] & 0x7f)
	switch n {
	case 126:
		var e [2]byte
		io.ReadFull(c.br, e[:])
		n = int(binary.BigEndian.Uint16(e[:]))
	case 127:
		var e [8]byte
		io.ReadFull(c.br, e[:])
		n = int(binary.BigEndian.Uint64(e[:]))
	}
	payload = make([]byte, n)
	if _, err := io.ReadFull(c.br, payload); err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return h[0] & 0x0f, payload
}

// expect reads the next text frame and checks its type.
func (c *rawClient) expect(typ string) map[string]any {
	c.t.Helper()
	op, p := c.next()
	var m map[string]any
	if op != 0x1 || json.Unmarshal(p, &m) != nil || m["type"] != typ {
		c.t.Fatalf("got opcode %d %q, want a %q text frame", op, p, typ)
	}
	return m
}

func (c *rawClient) expectError(code protocol.Code) {
	c.t.Helper()
	if m := c.expect(protocol.TypeError); m["code"] != string(code) {
		c.t.Fatalf("error %v, want %s", m, code)
	}
}

// expectClose reads frames until a close frame and returns its status.
func (c *rawClient) expectClose() (code int, reason string) {
	c.t.Helper()
	for {
		op, p := c.next()
		if op != 0x8 {
			continue
		}
		if len(p) == 0 {
			return 1005, ""
		}
		return int(binary.BigEndian.Uint16(p)), string(p[2:])
	}
}

func (c *rawClient) join(roomName string) {
	c.t.Helper()
	c.write(text(`{"type":"join","version":1,"room":"` + roomName + `","name":"raw"}`))
	m := c.expect(protocol.TypeJoined)
	c.id = m["self"].(map[string]any)["id"].(string)
}

func TestTheWireProtocol(t *testing.T) {
	s := start(t, signal.Options{MaxMessageBytes: 4096})
	t.Run("frames sent with the handshake are read", func(t *testing.T) {
		c := dialRaw(t, s.url, append(text(`{"type":"ping","id":"early"}`), text(`{"type":"ping"}`)...))
		c.expect(protocol.TypePong)
		c.expect(protocol.TypePong)
	})
	t.Run("a fragmented message with a ping between fragments is reassembled", func(t *testing.T) {
		a := dialRaw(t, s.url, nil)
		a.join("frag")
		b := dialRaw(t, s.url, nil)
		b.join("frag")
		a.expect(protocol.TypePeerJoined)
		msg := `{"type":"offer","to":"` + a.id + `","payload":{"sdp":"` + strings.Repeat("v", 3000) + `"}}`
		b.write(frame(false, 0x1, []byte(msg[:10])), frame(false, 0x0, []byte(msg[10:2000])), frame(true, 0x9, []byte("hi")), frame(true, 0x0, []byte(msg[2000:])))
		if op, p := b.next(); op != 0xa || string(p) != "hi" {
			t.Fatalf("ping answered with %d %q", op, p)
		}
		if m := a.expect(protocol.TypeOffer); m["from"] != b.id || len(m["payload"].(map[string]any)["sdp"].(string)) != 3000 {
			t.Fatalf("got %v", m)
		}
	})
	t.Run("messages pipelined in one write are all handled in order", func(t *testing.T) {
		c := dialRaw(t, s.url, nil)
		var frames [][]byte
		for i := range 50 {
			frames = append(frames, text(fmt.Sprintf(`{"type":"ping","id":"%d"}`, i)))
		}
		c.write(frames...)
		for range 50 {
			c.expect(protocol.TypePong)
		}
	})
	t.Run("a binary message is refused and the connection goes on", func(t *testing.T) {
		c := dialRaw(t, s.url, nil)
		c.write(frame(true, 0x2, []byte(`{"type":"ping"}`)), text(`{"type":"ping"}`))
		c.expectError(protocol.CodeBadRequest)
		c.expect(protocol.TypePong)
	})
	t.Run("a fragmented message over the limit is refused and the connection goes on", func(t *testing.T) {
		c := dialRaw(t, s.url, nil)
		part := []byte(strings.Repeat("x", 3000))
		c.write(frame(false, 0x1, part), frame(false, 0x0, part), frame(true, 0x0, part), text(`{"type":"ping"}`))
		c.expectError(protocol.CodeTooLarge)
		c.expect(protocol.TypePong)
	})
	t.Run("a relayed payload that is not UTF-8 is refused", func(t *testing.T) {
		a := dialRaw(t, s.url, nil)
		a.join("utf8")
		b := dialRaw(t, s.url, nil)
		b.join("utf8")
		a.expect(protocol.TypePeerJoined)
		b.write(text("{\"type\":\"offer\",\"to\":\"" + a.id + "\",\"payload\":{\"sdp\":\"\xff\xfe\"}}"))
		b.expectError(protocol.CodeBadRequest)
		b.write(text(`{"type":"offer","to":"` + a.id + `","payload":{"sdp":"é"}}`))
		if m := a.expect(protocol.TypeOffer); m["payload"].(map[string]any)["sdp"] != "é" {
			t.Fatalf("got %v", m)
		}
	})
	violations := []struct {
		name  string
		frame []byte
	}{
		{"an unmasked frame", []byte{0x81, 0x02, '{', '}'}},
		{"reserved bits (compression was not negotiated)", append([]byte{0xc1}, frame(true, 0x1, []byte("{}"))[1:]...)},
		{"an unknown opcode", frame(true, 0x3, nil)},
		{"a continuation without a message", frame(true, 0x0, []byte("{}"))},
		{"a new message inside a fragmented one", append(frame(false, 0x1, []byte("{")), text("{}")...)},
		{"a close frame with a forbidden code", frame(true, 0x8, []byte{0x03, 0xed})},
	}
	for _, v := range violations {
		t.Run(v.name+" fails the connection with 1002", func(t *testing.T) {
			c := dialRaw(t, s.url, nil)
			c.write(v.frame)
			if code, _ := c.expectClose(); code != 1002 {
				t.Fatalf("close status %d", code)
			}
			c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, err := c.br.ReadByte(); err == nil {
				t.Fatal("the connection stayed open")
			}
		})
	}
	t.Run("a close frame is echoed and the room told the participant left", func(t *testing.T) {
		a := dialRaw(t, s.url, nil)
		a.join("bye")
		b := dialRaw(t, s.url, nil)
		b.join("bye")
		a.expect(protocol.TypePeerJoined)
		b.write(frame(true, 0x8, append([]byte{0x0f, 0xa0}, "see you"...)))
		if code, reason := b.expectClose(); code != 4000 || reason != "see you" {
			t.Fatalf("echo %d %q", code, reason)
		}
		if m := a.expect(protocol.TypePeerLeft); m["reason"] != protocol.LeftReasonLeft {
			t.Fatalf("%v", m)
		}
	})
	t.Run("an empty close frame is echoed empty", func(t *testing.T) {
		c := dialRaw(t, s.url, nil)
		c.write(frame(true, 0x8, nil))
		if code, _ := c.expectClose(); code != 1005 {
			t.Fatalf("echo %d", code)
		}
	})
	t.Run("a continuation announcing 2^63-1 bytes closes with 1009", func(t *testing.T) {
		c := dialRaw(t, s.url, nil)
		c.write(frame(false, 0x1, []byte("{}")), binary.BigEndian.AppendUint64([]byte{0x80, 0xff}, 1<<63-1), []byte{1, 2, 3, 4})
		c.expectError(protocol.CodeTooLarge)
		if code, _ := c.expectClose(); code != 1009 {
			t.Fatalf("close status %d", code)
		}
	})
	t.Run("a frame past the hard limit closes with 1009 without reading it", func(t *testing.T) {
		c := dialRaw(t, s.url, nil)
		// Only the header: the server must not wait for the payload.
		c.write(binary.BigEndian.AppendUint64([]byte{0x81, 0xff}, 1<<40)[:10], []byte{1, 2, 3, 4})
		c.expectError(protocol.CodeTooLarge)
		if code, _ := c.expectClose(); code != 1009 {
			t.Fatalf("close status %d", code)
		}
	})
}

// TestIdleConnectionsHoldNoGoroutine checks the point of the poller: idle
// connections park without a goroutine, and wake for data, for a close by
// the server, and when the client goes away.
func TestIdleConnectionsHoldNoGoroutine(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the poller is Linux-only")
	}
	s := start(t, signal.Options{PingInterval: 400 * time.Millisecond, MaxConnsPerIP: -1, JoinsPerIPPerMinute: -1})
	before := runtime.NumGoroutine()
	var cs []*rawClient
	for i := range 100 {
		c := dialRaw(t, s.url, nil)
		c.join(fmt.Sprint("idle", i))
		cs = append(cs, c)
	}
	waitFor(t, func() bool { return runtime.NumGoroutine() < before+20 })
	// Half a frame (a slow client, or a slowloris) holds a buffer, not a
	// goroutine.
	ping := text(`{"type":"ping"}`)
	for _, c := range cs {
		c.write(ping[:9])
	}
	time.Sleep(50 * time.Millisecond)
	waitFor(t, func() bool { return runtime.NumGoroutine() < before+20 })
	// Every connection still answers.
	for _, c := range cs {
		c.write(ping[9:])
	}
	for _, c := range cs {
		c.expect(protocol.TypePong)
	}
	// Half leave abruptly.
	for _, c := range cs[:50] {
		c.nc.Close()
	}
	// The other half go silent: the server closes them while they are
	// parked.
	for _, c := range cs[50:] {
		c.expectError(protocol.CodeTimeout)
		c.expectClose()
		c.nc.Close()
	}
	waitFor(t, func() bool { return s.Stats().Connections == 0 })
	waitFor(t, func() bool { return runtime.NumGoroutine() <= before })
}

func TestAConnectionOverTLSWorks(t *testing.T) {
	s := signal.NewServer(signal.Options{Backend: room.NewLocal(room.LocalOptions{}), MaxParticipants: 2})
	hs := httptest.NewTLSServer(s)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Shutdown(ctx)
		hs.Close()
	})
	dialTLS := func() *wsClient {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
		ws, _, err := websocket.Dial(ctx, "wss"+strings.TrimPrefix(hs.URL, "https")+protocol.Path, &websocket.DialOptions{HTTPClient: client})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ws.CloseNow() })
		return &wsClient{t: t, ws: ws}
	}
	a := dialTLS()
	a.join("tls", "a")
	b := dialTLS()
	b.join("tls", "b")
	a.expect(protocol.TypePeerJoined)
	b.send(map[string]any{"type": "offer", "to": a.id, "payload": map[string]string{"sdp": strings.Repeat("s", 5000)}})
	a.expect(protocol.TypeOffer)
	b.ws.Close(websocket.StatusNormalClosure, "")
	if m := a.expect(protocol.TypePeerLeft); m["reason"] != protocol.LeftReasonLeft {
		t.Fatalf("%v", m)
	}
}
