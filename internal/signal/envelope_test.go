package signal

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/peercall/peercall/protocol"
)

// FuzzDecodeEnvelope checks the fast envelope decoder against
// encoding/json: same fields, same success or failure.
func FuzzDecodeEnvelope(f *testing.F) {
	for _, s := range []string{
		`{"type":"offer","to":"ABC","payload":{"type":"offer","sdp":"v=0\r\n"}}`,
		`{"type":"candidate","id":"r1","to":"X","payload":{"candidate":"a \"b\" {c}","sdpMid":"0"}}`,
		` { "type" : "ping" } `, `{"TYPE":"offer"}`, `{"type":"of\u0066er"}`, `{"type":5}`, `{"to":null}`,
		`{"payload":[1,{"a":"]"}],"type":"answer"}`, `{"type":"offer","type":"answer"}`, `{}`, `[]`, `"x"`, `{"a":1e5,"b":true}`,
		`{"payload":null}`, `{"id":"\u00e9"}`, `{"Payload":{}}`, `{"type":"join","version":1,"room":"r"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var fast, slow protocol.Envelope
		errFast := decodeEnvelope(data, &fast)
		errSlow := json.Unmarshal(data, &slow)
		if (errFast == nil) != (errSlow == nil) {
			t.Fatalf("%q: fast error %v, encoding/json error %v", data, errFast, errSlow)
		}
		if errSlow != nil {
			return
		}
		if fast.Type != slow.Type || fast.ID != slow.ID || fast.To != slow.To || !bytes.Equal(fast.Payload, slow.Payload) {
			t.Fatalf("%q: fast %+v, encoding/json %+v", data, fast, slow)
		}
	})
}
