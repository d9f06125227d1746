package signal

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/peercall/peercall/internal/room"
)

// FuzzConnStream sends arbitrary client bytes to a connection and checks
// that the server never panics, writes only well-formed frames (text
// frames of valid JSON, pongs, one close frame at the end), and lets the
// connection end. Input is a sequence of frames, each [header byte 0]
// [payload length][payload], masked here, so that the fuzzer explores
// opcodes, fragmentation and control frames rather than masking; with
// raw, the bytes go as they are. With pipe, the connection is a net.Pipe,
// which takes the path of connections that are not sockets (TLS).
func FuzzConnStream(f *testing.F) {
	fr := func(b0 byte, p string) []byte { return append([]byte{b0, byte(len(p))}, p...) }
	join := `{"type":"join","version":1,"room":"r","name":"f"}`
	for _, seed := range [][]byte{
		fr(0x81, join),
		append(fr(0x81, join), fr(0x81, `{"type":"ping"}`)...),
		append(fr(0x81, join), fr(0x81, `{"type":"offer","to":"X","payload":{"sdp":"v=0"}}`)...),
		append(append(fr(0x01, `{"type":`), fr(0x89, "p")...), fr(0x80, `"ping"}`)...),
		fr(0x80, "x"), fr(0x82, "bin"), fr(0xc1, "{}"), fr(0x88, "\x03\xe8bye"), fr(0x88, ""), fr(0x8a, "pong"),
		append(fr(0x01, "a"), fr(0x01, "b")...),
	} {
		f.Add(seed, false, false)
		f.Add(seed, false, true)
	}
	f.Add([]byte{0x81, 0x7f, 0, 0, 0, 0, 0, 0, 0x10, 0}, true, false)
	// A fragment, then a continuation announcing 2^63-1 bytes.
	f.Add([]byte{0x01, 0x82, 1, 2, 3, 4, '{' ^ 1, '}' ^ 2, 0x80, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4}, true, false)
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"), true, false)
	f.Fuzz(func(t *testing.T, data []byte, raw, pipe bool) {
		in := data
		if !raw {
			in = nil
			for len(data) >= 2 {
				b0, n := data[0], int(data[1])
				data = data[2:]
				n = min(n, len(data))
				p := data[:n]
				data = data[n:]
				in = append(in, b0, 0x80|byte(n&0x7f))
				if n >= 126 {
					in[len(in)-1] = 0x80 | 126
					in = binary.BigEndian.AppendUint16(in, uint16(n))
				}
				in = append(in, 1, 2, 3, 4)
				for i, c := range p {
					in = append(in, c^byte(i%4+1))
				}
			}
		}
		srv := NewServer(Options{
			Backend:             room.NewLocal(room.LocalOptions{Grace: time.Millisecond}),
			MaxParticipants:     4,
			MaxMessageBytes:     200,
			WriteTimeout:        2 * time.Second,
			MaxConnsPerIP:       -1,
			JoinsPerIPPerMinute: -1,
		})
		server, client := connPair(t, pipe)
		c := newConn(srv, server, "192.0.2.1", "example.com")
		if !srv.track(c) {
			t.Fatal("track")
		}
		go c.run()
		out := make(chan []byte)
		go func() {
			client.SetReadDeadline(time.Now().Add(3 * time.Second))
			b, err := io.ReadAll(client)
			if errors.Is(err, os.ErrDeadlineExceeded) {
				t.Errorf("input %q: the server did not close the connection", in)
			}
			out <- b
		}()
		client.Write(in)
		if tc, ok := client.(*net.TCPConn); ok {
			tc.CloseWrite()
		} else {
			time.Sleep(20 * time.Millisecond)
			client.Close()
		}
		checkServerFrames(t, <-out, in)
		client.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Fatalf("input %q: the connection did not end: %v", in, err)
		}
	})
}

// checkServerFrames checks a stream of server frames.
func checkServerFrames(t *testing.T, out, in []byte) {
	t.Helper()
	closed := false
	for len(out) > 0 {
		if len(out) < 2 {
			return // cut by the client's close
		}
		b0, b1 := out[0], out[1]
		if b0&0x70 != 0 || b0&0x80 == 0 || b1&0x80 != 0 {
			t.Fatalf("input %q: bad server frame header %x", in, out[:2])
		}
		n, i := int(b1&0x7f), 2
		switch n {
		case 126:
			if len(out) < 4 {
				return
			}
			n, i = int(binary.BigEndian.Uint16(out[2:])), 4
		case 127:
			if len(out) < 10 {
				return
			}
			n, i = int(binary.BigEndian.Uint64(out[2:])), 10
		}
		if len(out) < i+n {
			return
		}
		p := out[i : i+n]
		out = out[i+n:]
		if closed {
			t.Fatalf("input %q: a frame after the close frame", in)
		}
		switch op := b0 & 0x0f; op {
		case opText:
			if !json.Valid(p) {
				t.Fatalf("input %q: invalid JSON %q", in, p)
			}
		case opPong:
		case opClose:
			closed = true
			if len(p) == 1 {
				t.Fatalf("input %q: close payload %x", in, p)
			}
		default:
			t.Fatalf("input %q: server sent opcode %d", in, op)
		}
	}
}

// connPair returns two connected ends: TCP on loopback, or a net.Pipe.
func connPair(t *testing.T, pipe bool) (server, client net.Conn) {
	if pipe {
		return net.Pipe()
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	return server, client
}

// TestFramesSplitAnywhereAreRead writes a stream of frames one byte at a
// time, so that every header and payload is split across reads.
func TestFramesSplitAnywhereAreRead(t *testing.T) {
	srv := NewServer(Options{Backend: room.NewLocal(room.LocalOptions{}), MaxConnsPerIP: -1})
	server, client := connPair(t, false)
	c := newConn(srv, server, "192.0.2.1", "example.com")
	srv.track(c)
	go c.run()
	var in []byte
	for range 20 {
		p := []byte(`{"type":"ping"}`)
		in = append(in, 0x81, 0x80|byte(len(p)), 9, 8, 7, 6)
		for i, b := range p {
			in = append(in, b^[]byte{9, 8, 7, 6}[i%4])
		}
	}
	go func() {
		for i := range in {
			client.Write(in[i : i+1])
			if i%7 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
	}()
	pong := appendFrame(nil, opText, pongFrame)
	want := bytes.Repeat(pong, 20)
	got := make([]byte, len(want))
	client.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(client, got); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("got %q, %v", got, err)
	}
	client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}
