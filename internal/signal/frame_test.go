package signal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

func TestParseFrameHeader(t *testing.T) {
	mask := []byte{1, 2, 3, 4}
	hdr := func(b ...byte) []byte { return append(b, mask...) }
	long := func(n uint64) []byte {
		return append(binary.BigEndian.AppendUint64([]byte{0x82, 0x80 | 127}, n), mask...)
	}
	cases := []struct {
		name    string
		in      []byte
		ok      bool
		err     bool
		fin     bool
		op      byte
		length  int64
		hdrSize int
	}{
		{"a short masked text frame is parsed", hdr(0x81, 0x85), true, false, true, opText, 5, 6},
		{"a 16-bit length is parsed", append([]byte{0x81, 0xfe, 0x01, 0x00}, mask...), true, false, true, opText, 256, 8},
		{"a 64-bit length is parsed", long(70000), true, false, true, opBinary, 70000, 14},
		{"a fragment without FIN is parsed", hdr(0x01, 0x80), true, false, false, opText, 0, 6},
		{"a continuation is parsed", hdr(0x80, 0x81), true, false, true, opContinuation, 1, 6},
		{"a ping is parsed", hdr(0x89, 0x80|125), true, false, true, opPing, 125, 6},
		{"one byte is not enough", []byte{0x81}, false, false, false, 0, 0, 0},
		{"a missing mask key is not enough", []byte{0x81, 0x85, 1, 2}, false, false, false, 0, 0, 0},
		{"a missing 64-bit length is not enough", []byte{0x81, 0xff, 0, 0, 0}, false, false, false, 0, 0, 0},
		{"an unmasked frame is refused", []byte{0x81, 0x05}, false, true, false, 0, 0, 0},
		{"reserved bits are refused", hdr(0xc1, 0x80), false, true, false, 0, 0, 0},
		{"an unknown opcode is refused", hdr(0x83, 0x80), false, true, false, 0, 0, 0},
		{"a fragmented control frame is refused", hdr(0x09, 0x80), false, true, false, 0, 0, 0},
		{"a long control frame is refused", append([]byte{0x8a, 0xfe, 0, 126}, mask...), false, true, false, 0, 0, 0},
		{"a 64-bit length with the top bit is refused", long(1 << 63), false, true, false, 0, 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h, ok, err := parseFrameHeader(tc.in)
			if (err != nil) != tc.err || ok != tc.ok {
				t.Fatalf("ok %v err %v", ok, err)
			}
			if err != nil && !errors.Is(err, errProtocol) {
				t.Fatalf("error %v is not a protocol violation", err)
			}
			if ok && (h.fin != tc.fin || h.opcode != tc.op || h.length != tc.length || h.size != tc.hdrSize || !bytes.Equal(h.mask[:], mask)) {
				t.Fatalf("got %+v", h)
			}
		})
	}
}

func TestUnmaskMatchesTheDefinition(t *testing.T) {
	key := [4]byte{0xde, 0xad, 0xbe, 0xef}
	for n := range 100 {
		p := []byte(strings.Repeat("peercall", 13)[:n])
		want := append([]byte(nil), p...)
		for i := range want {
			want[i] ^= key[i%4]
		}
		unmask(p, key)
		if !bytes.Equal(p, want) {
			t.Fatalf("length %d: %x, want %x", n, p, want)
		}
	}
}

func TestServerFramesRoundTrip(t *testing.T) {
	for _, n := range []int{0, 125, 126, 65535, 65536} {
		f := appendFrame(nil, opText, bytes.Repeat([]byte("x"), n))
		if len(f) != frameLen(n) {
			t.Fatalf("%d: frame of %d bytes, frameLen %d", n, len(f), frameLen(n))
		}
		// Parse it as a client frame by setting the mask bit and a zero key.
		i := len(f) - n
		c := append(append(append([]byte{}, f[:i]...), 0, 0, 0, 0), f[i:]...)
		c[1] |= 0x80
		h, ok, err := parseFrameHeader(c)
		if !ok || err != nil || h.length != int64(n) || h.opcode != opText || !h.fin {
			t.Fatalf("%d: %+v %v %v", n, h, ok, err)
		}
	}
}

func TestClosePayloads(t *testing.T) {
	t.Run("a close frame's reason is truncated to fit, at a character boundary", func(t *testing.T) {
		f := appendCloseFrame(nil, statusPolicyViolation, strings.Repeat("é", 100))
		if len(f) > 2+maxControlPayload {
			t.Fatalf("close frame of %d bytes", len(f))
		}
		code, reason, err := parseClosePayload(f[2:])
		if err != nil || code != statusPolicyViolation || !strings.HasPrefix(strings.Repeat("é", 100), reason) {
			t.Fatalf("%d %q %v", code, reason, err)
		}
	})
	t.Run("codes that must not be sent are refused", func(t *testing.T) {
		for _, code := range []uint16{0, 999, 1004, 1005, 1006, 1015, 2000, 5000} {
			if _, _, err := parseClosePayload(binary.BigEndian.AppendUint16(nil, code)); err == nil {
				t.Errorf("code %d accepted", code)
			}
		}
		if _, _, err := parseClosePayload([]byte{3}); err == nil {
			t.Error("a 1-byte close payload accepted")
		}
	})
	t.Run("an empty close frame has no status", func(t *testing.T) {
		if code, _, err := parseClosePayload(nil); err != nil || code != statusNoStatus {
			t.Fatalf("%d %v", code, err)
		}
		if f := appendCloseFrame(nil, statusNoStatus, "x"); !bytes.Equal(f, []byte{0x88, 0}) {
			t.Fatalf("%x", f)
		}
	})
}
