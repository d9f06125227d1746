package signal

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/peercall/peercall/protocol"
)

// FuzzValidJSON checks the fast validator against json.Valid: it may only
// refuse valid input nested deeper than it follows (encoding/json decides
// those), and its ASCII report must be right.
func FuzzValidJSON(f *testing.F) {
	for _, s := range []string{
		`{}`, `[]`, `""`, `0`, `-0.5e+10`, `1E5`, `01`, `1.`, `.5`, `-`, `+1`, `true`, `tru`, `nul`, `null `,
		` {"a" : [1, 2, {"b": null}], "c": "d\"e\\f\/g\b\f\n\r\t\u00e9"} `, `{"a":1,}`, `[1,]`, `{"a"}`, `{,}`,
		"\"a\x01\"", "\"\xff\xfe\"", "\"é\"", `"\u12"`, `"\x"`, `{"a":1}x`, `[[[[[[]]]]]]`, `{"a":{"b":{"c":[]}}}`,
		"\"" + strings.Repeat("abcdefg\\n", 40) + "\"",
		strings.Repeat("[", 70) + strings.Repeat("]", 70),
		`{"type":"offer","to":"X","payload":{"type":"offer","sdp":"v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		valid, ascii := validJSON(data)
		want := json.Valid(data)
		if valid && !want {
			t.Fatalf("%q: fast validator accepts what json.Valid refuses", data)
		}
		if !valid && want && depth(data) <= maxScanDepth {
			t.Fatalf("%q: fast validator refuses valid JSON", data)
		}
		if valid && ascii != isASCII(data) {
			t.Fatalf("%q: ascii %v", data, ascii)
		}
	})
}

func TestValidJSONFollowsDeepNestingToEncodingJSON(t *testing.T) {
	deep := strings.Repeat("[", maxScanDepth+1) + strings.Repeat("]", maxScanDepth+1)
	if ok, _ := validJSON([]byte(deep)); ok {
		t.Fatal("the validator followed nesting deeper than its stack")
	}
	var env struct{ Payload json.RawMessage }
	frame := []byte(`{"type":"offer","to":"x","payload":` + deep + `}`)
	if err := decodeEnvelope(frame, new(protocol.Envelope)); err != nil || json.Unmarshal(frame, &env) != nil {
		t.Fatalf("deep but valid JSON refused: %v", err)
	}
}

// depth is the deepest nesting of brackets outside strings.
func depth(data []byte) int {
	d, m, inStr, esc := 0, 0, false, false
	for _, c := range data {
		switch {
		case esc:
			esc = false
		case inStr && c == '\\':
			esc = true
		case c == '"':
			inStr = !inStr
		case inStr:
		case c == '[' || c == '{':
			d++
			m = max(m, d)
		case c == ']' || c == '}':
			d--
		}
	}
	return m
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// BenchmarkValidJSON compares the validator with json.Valid on an
// SDP-like payload.
func BenchmarkValidJSON(b *testing.B) {
	offer := []byte(`{"type":"offer","sdp":"` + strings.Repeat(`a=candidate:1 1 udp 2122260223 192.0.2.1 54321 typ host\r\n`, 50) + `"}`)
	b.Run("fast", func(b *testing.B) {
		b.SetBytes(int64(len(offer)))
		for b.Loop() {
			validJSON(offer)
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.SetBytes(int64(len(offer)))
		for b.Loop() {
			json.Valid(offer)
		}
	})
}
