package signal

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"

	"github.com/peercall/peercall/protocol"
)

// decodeEnvelope reads the routing fields of a frame. Its fast path scans
// the frame once for "type", "id", "to" and "payload" without reflection and
// without copying the payload (which then points into data: it must not be
// kept after data is reused). Frames the fast path does not handle exactly
// like encoding/json (escaped or differently-cased keys, non-string routing
// fields) go through encoding/json, so the result and the errors are the
// same either way; the differential fuzz test checks it.
func decodeEnvelope(data []byte, env *protocol.Envelope) error {
	if !json.Valid(data) {
		return json.Unmarshal(data, env) // for its error
	}
	if scanEnvelope(data, env) {
		return nil
	}
	*env = protocol.Envelope{}
	return json.Unmarshal(data, env)
}

// scanEnvelope fills env from valid JSON data, or reports false to defer to
// encoding/json.
func scanEnvelope(data []byte, env *protocol.Envelope) bool {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return false
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return true
	}
	for i < len(data) {
		if data[i] != '"' {
			return false
		}
		end := bytes.IndexByte(data[i+1:], '"')
		if end < 0 {
			return false
		}
		key := data[i+1 : i+1+end]
		if bytes.IndexByte(key, '\\') >= 0 {
			return false
		}
		i = skipSpace(data, i+2+end)
		if i >= len(data) || data[i] != ':' {
			return false
		}
		i = skipSpace(data, i+1)
		vEnd := skipValue(data, i)
		if vEnd < 0 {
			return false
		}
		value := data[i:vEnd]
		switch string(key) {
		case "type", "id", "to":
			s, ok := plainString(value)
			if !ok {
				return false
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
					return false // encoding/json matches keys case-insensitively
				}
			}
		}
		i = skipSpace(data, vEnd)
		if i >= len(data) {
			return false
		}
		if data[i] == '}' {
			return true
		}
		if data[i] != ',' {
			return false
		}
		i = skipSpace(data, i+1)
	}
	return false
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

// skipValue returns the end of the JSON value starting at i in valid JSON,
// or -1.
func skipValue(data []byte, i int) int {
	if i >= len(data) {
		return -1
	}
	switch data[i] {
	case '"':
		return skipString(data, i)
	case '{', '[':
		depth := 0
		for i < len(data) {
			switch data[i] {
			case '"':
				i = skipString(data, i)
				if i < 0 {
					return -1
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return -1
	default: // number, true, false, null
		for i < len(data) {
			switch data[i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return i
			}
			i++
		}
		return i
	}
}

// skipString returns the index after the string starting at i.
func skipString(data []byte, i int) int {
	for j := i + 1; j < len(data); j++ {
		switch data[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return -1
}
