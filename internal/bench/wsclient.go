package bench

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"time"
)

// wsConn is a minimal WebSocket client for the load generator: text frames
// only, no extensions, no fragmentation on send. It is far cheaper per
// connection and per frame than a general client, so that the load generator
// (which shares the machine's cores with the server under test) stays out of
// the way. Reads belong to one goroutine; writes are serialised by wmu.
type wsConn struct {
	nc   net.Conn
	br   *bufio.Reader
	rbuf []byte // reused frame buffer; a returned frame is valid until the next read

	wmu  sync.Mutex // guards wbuf and writes to nc
	wbuf []byte
	mask [4]byte
}

var errClosed = errors.New("websocket closed by server")

// dialWS opens a WebSocket to ws://addr+path (addr is host:port).
func dialWS(ctx context.Context, addr, path string, seed uint32) (*wsConn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		nc.SetDeadline(dl)
	}
	req := "GET " + path + " HTTP/1.1\r\nHost: " + addr +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := io.WriteString(nc, req); err != nil {
		nc.Close()
		return nil, err
	}
	br := bufio.NewReaderSize(nc, 4096)
	status, err := br.ReadString('\n')
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("websocket handshake: %w", err)
	}
	if !strings.HasPrefix(status, "HTTP/1.1 101") {
		nc.Close()
		return nil, fmt.Errorf("websocket handshake: %s", strings.TrimSpace(status))
	}
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			nc.Close()
			return nil, fmt.Errorf("websocket handshake: %w", err)
		}
		if line == "\r\n" {
			break
		}
	}
	nc.SetDeadline(time.Time{})
	c := &wsConn{nc: nc, br: br}
	// A per-connection mask key; servers must unmask every client frame, so
	// both servers under test do the same work.
	binary.LittleEndian.PutUint32(c.mask[:], seed*2654435761+0x9e3779b9)
	return c, nil
}

// write sends one text frame.
func (c *wsConn) write(payload []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	b := c.wbuf[:0]
	b = append(b, 0x81) // FIN, text
	n := len(payload)
	switch {
	case n < 126:
		b = append(b, 0x80|byte(n))
	case n < 1<<16:
		b = append(b, 0x80|126, byte(n>>8), byte(n))
	default:
		b = append(b, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	b = append(b, c.mask[:]...)
	start := len(b)
	b = append(b, payload...)
	maskBytes(b[start:], c.mask)
	c.wbuf = b
	_, err := c.nc.Write(b)
	return err
}

func maskBytes(p []byte, key [4]byte) {
	k := uint64(binary.LittleEndian.Uint32(key[:]))
	k |= k << 32
	i := 0
	for ; i+8 <= len(p); i += 8 {
		binary.LittleEndian.PutUint64(p[i:], binary.LittleEndian.Uint64(p[i:])^k)
	}
	for ; i < len(p); i++ {
		p[i] ^= key[i&3]
	}
}

// read returns the next text or binary message. Pings are answered, pongs
// skipped; a close frame is errClosed.
func (c *wsConn) read() ([]byte, error) {
	msg := c.rbuf[:0]
	for {
		var h [2]byte
		if _, err := io.ReadFull(c.br, h[:]); err != nil {
			return nil, err
		}
		fin, op := h[0]&0x80 != 0, h[0]&0x0f
		masked := h[1]&0x80 != 0
		n := uint64(h[1] & 0x7f)
		switch n {
		case 126:
			var e [2]byte
			if _, err := io.ReadFull(c.br, e[:]); err != nil {
				return nil, err
			}
			n = uint64(binary.BigEndian.Uint16(e[:]))
		case 127:
			var e [8]byte
			if _, err := io.ReadFull(c.br, e[:]); err != nil {
				return nil, err
			}
			n = binary.BigEndian.Uint64(e[:])
		}
		if n > 16<<20 {
			return nil, fmt.Errorf("websocket frame of %d bytes", n)
		}
		var key [4]byte
		if masked {
			if _, err := io.ReadFull(c.br, key[:]); err != nil {
				return nil, err
			}
		}
		start := len(msg)
		msg = slices.Grow(msg, int(n))[:start+int(n)]
		if _, err := io.ReadFull(c.br, msg[start:]); err != nil {
			return nil, err
		}
		if masked {
			maskBytes(msg[start:], key)
		}
		switch op {
		case 0x8:
			return nil, errClosed
		case 0x9:
			if err := c.control(0xA, msg[start:]); err != nil {
				return nil, err
			}
			msg = msg[:start]
			continue
		case 0xA:
			msg = msg[:start]
			continue
		}
		if fin {
			c.rbuf = msg
			return msg, nil
		}
	}
}

func (c *wsConn) control(op byte, payload []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	b := append(c.wbuf[:0], 0x80|op, 0x80|byte(len(payload)))
	b = append(b, c.mask[:]...)
	start := len(b)
	b = append(b, payload...)
	maskBytes(b[start:], c.mask)
	c.wbuf = b
	_, err := c.nc.Write(b)
	return err
}

func (c *wsConn) close() error { return c.nc.Close() }

var zeroTime time.Time
