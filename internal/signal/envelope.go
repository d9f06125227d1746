package signal

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"

	"github.com/peercall/peercall/protocol"
)

// decodeEnvelope reads the routing fields of a frame. Its fast path scans
// the frame once, validating it and reading "type", "id", "to" and
// "payload" without reflection and without copying the payload (which then
// points into data: it must not be kept after data is reused). Frames the
// fast path does not handle exactly like encoding/json (invalid JSON,
// escaped or differently-cased keys, non-string routing fields, nesting
// deeper than 64) go through encoding/json, so the result and the errors
// are the same either way; the differential fuzz test checks it.
func decodeEnvelope(data []byte, env *protocol.Envelope) error {
	_, err := decodeEnvelopeASCII(data, env)
	return err
}

// decodeEnvelopeASCII is decodeEnvelope that also reports whether the fast
// path saw only ASCII bytes (false when it does not know).
func decodeEnvelopeASCII(data []byte, env *protocol.Envelope) (ascii bool, err error) {
	if ascii, ok := scanEnvelope(data, env); ok {
		return ascii, nil
	}
	*env = protocol.Envelope{}
	return false, json.Unmarshal(data, env)
}

// scanEnvelope fills env from data if data is a valid JSON object the fast
// path handles, or reports false to defer to encoding/json (which then
// also finds any syntax error).
func scanEnvelope(data []byte, env *protocol.Envelope) (ascii, ok bool) {
	ascii = true
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return false, false
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return true, skipSpace(data, i+1) == len(data)
	}
	for i < len(data) {
		if data[i] != '"' {
			return false, false
		}
		end := bytes.IndexByte(data[i+1:], '"')
		if end < 0 {
			return false, false
		}
		key := data[i+1 : i+1+end]
		for _, c := range key {
			if c == '\\' || c < 0x20 || c >= 0x80 {
				return false, false // escapes, control and non-ASCII keys: encoding/json's
			}
		}
		i = skipSpace(data, i+2+end)
		if i >= len(data) || data[i] != ':' {
			return false, false
		}
		i = skipSpace(data, i+1)
		vEnd, a, valid := scanValue(data, i)
		if !valid {
			return false, false
		}
		ascii = ascii && a
		value := data[i:vEnd]
		switch string(key) {
		case "type", "id", "to":
			s, ok := plainString(value)
			if !ok {
				return false, false
			}
			switch string(key) {
			case "type":
				env.Type = internType(s)
			case "id":
				env.ID = string(s)
			case "to":
				env.To = string(s)
			}
		case "payload":
			env.Payload = value
		default:
			for _, k := range [...]string{"type", "id", "to", "payload"} {
				if bytes.EqualFold(key, []byte(k)) {
					return false, false // encoding/json matches keys case-insensitively
				}
			}
		}
		i = skipSpace(data, vEnd)
		if i >= len(data) {
			return false, false
		}
		if data[i] == '}' {
			return ascii, skipSpace(data, i+1) == len(data)
		}
		if data[i] != ',' {
			return false, false
		}
		i = skipSpace(data, i+1)
	}
	return false, false
}

// plainString returns the contents of a JSON string without escapes.
func plainString(v []byte) ([]byte, bool) {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return nil, false
	}
	s := v[1 : len(v)-1]
	if bytes.IndexByte(s, '\\') >= 0 || !utf8.Valid(s) {
		return nil, false // escapes and invalid UTF-8 are encoding/json's to decode
	}
	return s, true
}

// internType returns the protocol constant equal to s without allocating,
// or a copy of s.
func internType(s []byte) string {
	switch string(s) {
	case protocol.TypeOffer:
		return protocol.TypeOffer
	case protocol.TypeAnswer:
		return protocol.TypeAnswer
	case protocol.TypeCandidate:
		return protocol.TypeCandidate
	case protocol.TypePing:
		return protocol.TypePing
	case protocol.TypeJoin:
		return protocol.TypeJoin
	case protocol.TypeUpdate:
		return protocol.TypeUpdate
	case protocol.TypeLeave:
		return protocol.TypeLeave
	}
	return string(s)
}

func skipSpace(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}
