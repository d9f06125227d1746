package signal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf8"
)

// WebSocket framing, server side (RFC 6455 section 5). A frame is
//
//	byte 0: FIN (0x80), RSV1-3 (0x70, must be 0: no extension is
//	        negotiated, so no compression), opcode (0x0f)
//	byte 1: MASK (0x80, set on every client frame), payload length (0x7f):
//	        0-125 the length; 126: a 16-bit length follows; 127: a 64-bit one
//	then the 4-byte masking key if MASK, then the payload (XORed with the key).
//
// Server frames are never masked. Control frames (close, ping, pong) carry
// at most 125 bytes and are never fragmented; they may arrive between the
// fragments of a message.
const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xa

	maxControlPayload = 125
	maxHeaderLen      = 14 // 2 + 8 (64-bit length) + 4 (mask)
)

// Close status codes (RFC 6455 section 7.4).
const (
	statusNormalClosure   = 1000
	statusGoingAway       = 1001
	statusProtocolError   = 1002
	statusNoStatus        = 1005 // never on the wire: a close frame without a payload
	statusInvalidData     = 1007
	statusPolicyViolation = 1008
	statusMessageTooBig   = 1009
	statusInternalError   = 1011
	statusTryAgainLater   = 1013
)

// frameHeader is a parsed frame header.
type frameHeader struct {
	fin    bool
	opcode byte
	mask   [4]byte
	length int64 // payload bytes
	size   int   // header bytes
}

// errProtocol is a violation of RFC 6455 by the client; the connection is
// failed with close status 1002.
var errProtocol = errors.New("websocket protocol violation")

// parseFrameHeader parses the header at the start of b. ok is false if b
// holds only part of it. Every client frame must be masked; reserved bits,
// unknown opcodes, and oversized or fragmented control frames are errors.
func parseFrameHeader(b []byte) (h frameHeader, ok bool, err error) {
	if len(b) < 2 {
		return h, false, nil
	}
	b0, b1 := b[0], b[1]
	h.fin = b0&0x80 != 0
	h.opcode = b0 & 0x0f
	if b0&0x70 != 0 {
		return h, false, fmt.Errorf("%w: reserved bits set (no extension was negotiated)", errProtocol)
	}
	switch h.opcode {
	case opContinuation, opText, opBinary:
	case opClose, opPing, opPong:
		if !h.fin {
			return h, false, fmt.Errorf("%w: fragmented control frame", errProtocol)
		}
		if b1&0x7f > maxControlPayload {
			return h, false, fmt.Errorf("%w: control frame longer than 125 bytes", errProtocol)
		}
	default:
		return h, false, fmt.Errorf("%w: unknown opcode %d", errProtocol, h.opcode)
	}
	if b1&0x80 == 0 {
		return h, false, fmt.Errorf("%w: unmasked frame from a client", errProtocol)
	}
	n := int64(b1 & 0x7f)
	i := 2
	switch n {
	case 126:
		if len(b) < 4 {
			return h, false, nil
		}
		n = int64(binary.BigEndian.Uint16(b[2:]))
		i = 4
	case 127:
		if len(b) < 10 {
			return h, false, nil
		}
		u := binary.BigEndian.Uint64(b[2:])
		if u>>63 != 0 {
			return h, false, fmt.Errorf("%w: payload length with the most significant bit set", errProtocol)
		}
		n = int64(u)
		i = 10
	}
	if len(b) < i+4 {
		return h, false, nil
	}
	copy(h.mask[:], b[i:i+4])
	h.length, h.size = n, i+4
	return h, true, nil
}

// unmask XORs p with key, starting at the key's first byte.
func unmask(p []byte, key [4]byte) {
	k32 := binary.LittleEndian.Uint32(key[:])
	k := uint64(k32) | uint64(k32)<<32
	i := 0
	for ; i+32 <= len(p); i += 32 {
		q := p[i : i+32 : i+32]
		binary.LittleEndian.PutUint64(q[0:], binary.LittleEndian.Uint64(q[0:])^k)
		binary.LittleEndian.PutUint64(q[8:], binary.LittleEndian.Uint64(q[8:])^k)
		binary.LittleEndian.PutUint64(q[16:], binary.LittleEndian.Uint64(q[16:])^k)
		binary.LittleEndian.PutUint64(q[24:], binary.LittleEndian.Uint64(q[24:])^k)
	}
	for ; i+8 <= len(p); i += 8 {
		binary.LittleEndian.PutUint64(p[i:], binary.LittleEndian.Uint64(p[i:])^k)
	}
	for ; i < len(p); i++ {
		p[i] ^= key[i&3]
	}
}

// appendFrameHeader appends the header of an unmasked, unfragmented server
// frame of n payload bytes.
func appendFrameHeader(dst []byte, op byte, n int) []byte {
	switch {
	case n < 126:
		return append(dst, 0x80|op, byte(n))
	case n < 1<<16:
		return append(dst, 0x80|op, 126, byte(n>>8), byte(n))
	default:
		dst = append(dst, 0x80|op, 127)
		return binary.BigEndian.AppendUint64(dst, uint64(n))
	}
}

// frameLen is the size of a server frame of n payload bytes.
func frameLen(n int) int {
	switch {
	case n < 126:
		return 2 + n
	case n < 1<<16:
		return 4 + n
	default:
		return 10 + n
	}
}

// appendFrame appends an unmasked, unfragmented server frame.
func appendFrame(dst []byte, op byte, payload []byte) []byte {
	return append(appendFrameHeader(dst, op, len(payload)), payload...)
}

// appendCloseFrame appends a close frame with status code and reason
// (truncated to fit a control frame); statusNoStatus gives an empty one.
func appendCloseFrame(dst []byte, code uint16, reason string) []byte {
	if code == statusNoStatus || code == 0 {
		return append(dst, 0x80|opClose, 0)
	}
	if len(reason) > maxControlPayload-2 {
		reason = reason[:maxControlPayload-2]
		for len(reason) > 0 && !utf8.ValidString(reason) {
			reason = reason[:len(reason)-1]
		}
	}
	dst = append(dst, 0x80|opClose, byte(2+len(reason)))
	dst = binary.BigEndian.AppendUint16(dst, code)
	return append(dst, reason...)
}

// parseClosePayload reads a close frame's status code and reason;
// statusNoStatus if it has none. Codes that must not appear on the wire and
// a lone byte are protocol violations (RFC 6455 section 7.4).
func parseClosePayload(p []byte) (code uint16, reason string, err error) {
	switch {
	case len(p) == 0:
		return statusNoStatus, "", nil
	case len(p) == 1:
		return 0, "", fmt.Errorf("%w: close frame with a 1-byte payload", errProtocol)
	}
	code = binary.BigEndian.Uint16(p)
	if !validWireCloseCode(code) {
		return 0, "", fmt.Errorf("%w: close status %d is not allowed on the wire", errProtocol, code)
	}
	if !utf8.Valid(p[2:]) {
		return 0, "", fmt.Errorf("%w: close reason is not UTF-8", errProtocol)
	}
	return code, string(p[2:]), nil
}

func validWireCloseCode(code uint16) bool {
	switch code {
	case 1004, statusNoStatus, 1006, 1015:
		return false
	}
	return code >= statusNormalClosure && code <= 1014 || code >= 3000 && code <= 4999
}
