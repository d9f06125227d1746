package signal

import (
	"encoding/binary"
	"math/bits"
)

// A JSON validator that agrees with encoding/json's (json.Valid) on every
// input it accepts, and is several times faster on the long strings of SDP
// payloads: it skips eight plain string bytes at a time. It is iterative
// with a 64-level stack; deeper input is left to encoding/json (scanValue
// reports it as not ok, like invalid input). FuzzValidJSON checks it
// against json.Valid.

// maxScanDepth is the nesting the validator follows itself.
const maxScanDepth = 64

// scanValue returns the end of the JSON value that starts at data[i]
// (after optional white space), or ok false if the value is invalid or too
// deeply nested. ascii reports whether the value has only ASCII bytes (a
// non-ASCII byte can only be inside a string of a valid value).
func scanValue(data []byte, i int) (end int, ascii, ok bool) {
	var stack uint64 // bit d set: level d is an object; clear: an array
	depth := 0
	ascii = true
	for {
		// A value.
		i = skipSpace(data, i)
		if i >= len(data) {
			return 0, false, false
		}
		switch c := data[i]; {
		case c == '{':
			if depth == maxScanDepth {
				return 0, false, false
			}
			stack |= 1 << depth
			depth++
			i = skipSpace(data, i+1)
			if i < len(data) && data[i] == '}' {
				i++
				depth--
				break
			}
			var a bool
			if i, a, ok = scanKey(data, i); !ok {
				return 0, false, false
			}
			ascii = ascii && a
			continue
		case c == '[':
			if depth == maxScanDepth {
				return 0, false, false
			}
			stack &^= 1 << depth
			depth++
			j := skipSpace(data, i+1)
			if j < len(data) && data[j] == ']' {
				i = j + 1
				depth--
				break
			}
			i = j
			continue
		case c == '"':
			var a bool
			if i, a, ok = scanString(data, i); !ok {
				return 0, false, false
			}
			ascii = ascii && a
		case c == '-' || c >= '0' && c <= '9':
			if i, ok = scanNumber(data, i); !ok {
				return 0, false, false
			}
		case c == 't':
			if !hasPrefixAt(data, i, "true") {
				return 0, false, false
			}
			i += 4
		case c == 'f':
			if !hasPrefixAt(data, i, "false") {
				return 0, false, false
			}
			i += 5
		case c == 'n':
			if !hasPrefixAt(data, i, "null") {
				return 0, false, false
			}
			i += 4
		default:
			return 0, false, false
		}
		// After a value: close containers, or go on to the next element.
		for {
			if depth == 0 {
				return i, ascii, true
			}
			i = skipSpace(data, i)
			if i >= len(data) {
				return 0, false, false
			}
			inObject := stack&(1<<(depth-1)) != 0
			c := data[i]
			if c == ',' {
				i++
				if inObject {
					var a bool
					if i, a, ok = scanKey(data, skipSpace(data, i)); !ok {
						return 0, false, false
					}
					ascii = ascii && a
				}
				break
			}
			if inObject && c == '}' || !inObject && c == ']' {
				i++
				depth--
				continue
			}
			return 0, false, false
		}
	}
}

// scanKey scans an object key and its colon at data[i], returning the
// index after the colon.
func scanKey(data []byte, i int) (next int, ascii, ok bool) {
	if i >= len(data) || data[i] != '"' {
		return 0, false, false
	}
	if i, ascii, ok = scanString(data, i); !ok {
		return 0, false, false
	}
	i = skipSpace(data, i)
	if i >= len(data) || data[i] != ':' {
		return 0, false, false
	}
	return i + 1, ascii, true
}

func hasPrefixAt(data []byte, i int, lit string) bool {
	return len(data)-i >= len(lit) && string(data[i:i+len(lit)]) == lit
}

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// specialMask has the top bit of each byte of x set that is a quote, a
// backslash, a control character (below 0x20) or a non-ASCII byte; bits
// above the lowest set one may be spurious.
func specialMask(x uint64) uint64 {
	quote := x ^ (lsb * '"')
	backslash := x ^ (lsb * '\\')
	return ((quote-lsb)&^quote|(backslash-lsb)&^backslash|(x-lsb*0x20)) & ^x & msb | x&msb
}

// scanString returns the index after the JSON string starting at data[i]
// (a quote), whether it is all ASCII, and whether it is valid: control
// characters must be escaped, and escapes must be one of \" \\ \/ \b \f \n
// \r \t \uXXXX. Other bytes, including invalid UTF-8, are allowed, as
// encoding/json allows them.
func scanString(data []byte, i int) (end int, ascii, ok bool) {
	ascii = true
	j := i + 1
	for {
		for j+16 <= len(data) {
			w := data[j : j+16 : j+16]
			if m := specialMask(binary.LittleEndian.Uint64(w)); m != 0 {
				j += bits.TrailingZeros64(m) >> 3
				goto special
			}
			if m := specialMask(binary.LittleEndian.Uint64(w[8:])); m != 0 {
				j += 8 + bits.TrailingZeros64(m)>>3
				goto special
			}
			j += 16
		}
		if j+8 <= len(data) {
			if m := specialMask(binary.LittleEndian.Uint64(data[j:])); m != 0 {
				j += bits.TrailingZeros64(m) >> 3
			} else {
				j += 8
			}
		}
	special:
		if j >= len(data) {
			return 0, false, false
		}
		switch c := data[j]; {
		case c == '"':
			return j + 1, ascii, true
		case c == '\\':
			if j+1 >= len(data) {
				return 0, false, false
			}
			switch data[j+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				j += 2
			case 'u':
				if j+6 > len(data) {
					return 0, false, false
				}
				for _, h := range data[j+2 : j+6] {
					if !isHex(h) {
						return 0, false, false
					}
				}
				j += 6
			default:
				return 0, false, false
			}
		case c < 0x20:
			return 0, false, false
		case c >= 0x80:
			ascii = false
			j++
		default: // a plain byte in the tail, shorter than 8 bytes
			j++
		}
	}
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// scanNumber returns the index after the JSON number at data[i]:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func scanNumber(data []byte, i int) (end int, ok bool) {
	if data[i] == '-' {
		i++
	}
	switch {
	case i < len(data) && data[i] == '0':
		i++
	case i < len(data) && data[i] >= '1' && data[i] <= '9':
		i = skipDigits(data, i+1)
	default:
		return 0, false
	}
	if i < len(data) && data[i] == '.' {
		j := skipDigits(data, i+1)
		if j == i+1 {
			return 0, false
		}
		i = j
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		j := skipDigits(data, i)
		if j == i {
			return 0, false
		}
		i = j
	}
	return i, true
}

func skipDigits(data []byte, i int) int {
	for i < len(data) && data[i] >= '0' && data[i] <= '9' {
		i++
	}
	return i
}

// validJSON reports whether data is one valid JSON value, as json.Valid
// would; ascii whether it has only ASCII bytes.
func validJSON(data []byte) (valid, ascii bool) {
	end, ascii, ok := scanValue(data, 0)
	if ok && skipSpace(data, end) == len(data) {
		return true, ascii
	}
	return false, false
}
