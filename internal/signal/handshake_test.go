package signal

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/coder/websocket"
)

// TestHandshakeRefusesLikeCoderWebsocket compares the handshake's
// refusals with coder/websocket's Accept, which the server used before it
// framed WebSocket itself. A recorder cannot be hijacked, so requests both
// accept end in 501 for both.
func TestHandshakeRefusesLikeCoderWebsocket(t *testing.T) {
	valid := func() *http.Request {
		r := httptest.NewRequest(http.MethodGet, "http://example.com/ws", nil)
		r.Header.Set("Connection", "keep-alive, Upgrade")
		r.Header.Set("Upgrade", "WebSocket")
		r.Header.Set("Sec-WebSocket-Version", "13")
		r.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
		return r
	}
	cases := []struct {
		name     string
		change   func(r *http.Request)
		patterns []string
	}{
		{"a valid request", func(*http.Request) {}, nil},
		{"HTTP/1.0", func(r *http.Request) { r.ProtoMajor, r.ProtoMinor, r.Proto = 1, 0, "HTTP/1.0" }, nil},
		{"no Connection: Upgrade", func(r *http.Request) { r.Header.Set("Connection", "keep-alive") }, nil},
		{"no Upgrade: websocket", func(r *http.Request) { r.Header.Set("Upgrade", "h2c") }, nil},
		{"POST", func(r *http.Request) { r.Method = http.MethodPost }, nil},
		{"version 8", func(r *http.Request) { r.Header.Set("Sec-WebSocket-Version", "8") }, nil},
		{"no key", func(r *http.Request) { r.Header.Del("Sec-WebSocket-Key") }, nil},
		{"two keys", func(r *http.Request) { r.Header.Add("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==") }, nil},
		{"a short key", func(r *http.Request) { r.Header.Set("Sec-WebSocket-Key", "c2hvcnQ=") }, nil},
		{"a same-origin page", func(r *http.Request) { r.Header.Set("Origin", "https://EXAMPLE.com") }, nil},
		{"a page on another site", func(r *http.Request) { r.Header.Set("Origin", "https://evil.example") }, nil},
		{"an allowed origin", func(r *http.Request) { r.Header.Set("Origin", "https://app.example.org") }, []string{"*.example.org"}},
		{"an allowed scheme and origin", func(r *http.Request) { r.Header.Set("Origin", "https://app.example.org") }, []string{"https://app.example.org"}},
		{"a wrong scheme", func(r *http.Request) { r.Header.Set("Origin", "http://app.example.org") }, []string{"https://app.example.org"}},
		{"an origin that is not a URL", func(r *http.Request) { r.Header.Set("Origin", "::") }, nil},
		{"an origin without a host", func(r *http.Request) { r.Header.Set("Origin", "null") }, nil},
		{"a bad pattern", func(r *http.Request) { r.Header.Set("Origin", "https://x.org") }, []string{"["}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want := httptest.NewRecorder()
			r := valid()
			tc.change(r)
			websocket.Accept(want, r, &websocket.AcceptOptions{OriginPatterns: tc.patterns})
			got := httptest.NewRecorder()
			r = valid()
			tc.change(r)
			upgrade(got, r, tc.patterns)
			if got.Code != want.Code {
				t.Fatalf("status %d, coder/websocket %d (%s)", got.Code, want.Code, want.Body)
			}
			for _, h := range []string{"Connection", "Upgrade", "Sec-WebSocket-Version"} {
				if got.Header().Get(h) != want.Header().Get(h) {
					t.Errorf("%s: %q, coder/websocket %q", h, got.Header().Get(h), want.Header().Get(h))
				}
			}
		})
	}
}
