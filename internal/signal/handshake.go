package signal

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"path"
	"strings"
)

// The opening handshake (RFC 6455 section 4.2). It makes the checks that
// coder/websocket's Accept makes, with the same status codes: HTTP/1.1,
// "Connection: Upgrade", "Upgrade: websocket", GET, version 13 and one
// 16-byte Sec-WebSocket-Key; the Origin must be the request's host or match
// one of OriginPatterns; no subprotocol and no extension (so no
// compression) is negotiated. TestHandshakeRefusesLikeCoderWebsocket
// compares the refusals with coder/websocket's.

// upgrade answers the handshake with 101 Switching Protocols and hijacks
// the connection. It returns the connection and any bytes the client sent
// after its request (they belong to the first frames). On failure it has
// answered with an error status and returns an error.
func upgrade(w http.ResponseWriter, r *http.Request, originPatterns []string) (net.Conn, []byte, error) {
	if code, err := verifyClientRequest(w, r); err != nil {
		http.Error(w, err.Error(), code)
		return nil, nil, err
	}
	if err := authenticateOrigin(r, originPatterns); err != nil {
		if errors.Is(err, path.ErrBadPattern) {
			err = errors.New(http.StatusText(http.StatusForbidden))
		}
		http.Error(w, err.Error(), http.StatusForbidden)
		return nil, nil, err
	}
	hj, ok := hijacker(w)
	if !ok {
		http.Error(w, http.StatusText(http.StatusNotImplemented), http.StatusNotImplemented)
		return nil, nil, errors.New("http.ResponseWriter does not implement http.Hijacker")
	}
	h := w.Header()
	h.Set("Upgrade", "websocket")
	h.Set("Connection", "Upgrade")
	h.Set("Sec-WebSocket-Accept", secWebSocketAccept(strings.TrimSpace(r.Header.Get("Sec-WebSocket-Key"))))
	// net/http writes this header when the connection is hijacked.
	w.WriteHeader(http.StatusSwitchingProtocols)
	nc, brw, err := hj.Hijack()
	if err != nil {
		http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		return nil, nil, fmt.Errorf("hijack: %w", err)
	}
	return nc, buffered(brw), nil
}

// buffered copies what the client sent after its request out of net/http's
// reader, which is then dropped.
func buffered(brw *bufio.ReadWriter) []byte {
	n := brw.Reader.Buffered()
	if n == 0 {
		return nil
	}
	b, _ := brw.Reader.Peek(n)
	return append([]byte(nil), b...)
}

// hijacker finds the http.Hijacker, following Unwrap like
// http.ResponseController.
func hijacker(w http.ResponseWriter) (http.Hijacker, bool) {
	for {
		switch t := w.(type) {
		case http.Hijacker:
			return t, true
		case interface{ Unwrap() http.ResponseWriter }:
			w = t.Unwrap()
		default:
			return nil, false
		}
	}
}

func verifyClientRequest(w http.ResponseWriter, r *http.Request) (code int, err error) {
	if !r.ProtoAtLeast(1, 1) {
		return http.StatusUpgradeRequired, fmt.Errorf("a WebSocket upgrade needs HTTP/1.1 or later, not %s", r.Proto)
	}
	if !headerHasToken(r.Header, "Connection", "Upgrade") {
		w.Header().Set("Connection", "Upgrade")
		w.Header().Set("Upgrade", "websocket")
		return http.StatusUpgradeRequired, fmt.Errorf("a WebSocket upgrade needs \"Connection: Upgrade\" (got %q)", r.Header.Get("Connection"))
	}
	if !headerHasToken(r.Header, "Upgrade", "websocket") {
		w.Header().Set("Connection", "Upgrade")
		w.Header().Set("Upgrade", "websocket")
		return http.StatusUpgradeRequired, fmt.Errorf("a WebSocket upgrade needs \"Upgrade: websocket\" (got %q)", r.Header.Get("Upgrade"))
	}
	if r.Method != http.MethodGet {
		return http.StatusMethodNotAllowed, fmt.Errorf("a WebSocket upgrade is a GET request, not %s", r.Method)
	}
	if r.Header.Get("Sec-WebSocket-Version") != "13" {
		w.Header().Set("Sec-WebSocket-Version", "13")
		return http.StatusBadRequest, fmt.Errorf("Sec-WebSocket-Version %q is not supported; this server speaks version 13", r.Header.Get("Sec-WebSocket-Version"))
	}
	keys := r.Header.Values("Sec-WebSocket-Key")
	switch {
	case len(keys) == 0:
		return http.StatusBadRequest, errors.New("the WebSocket upgrade has no Sec-WebSocket-Key")
	case len(keys) > 1:
		return http.StatusBadRequest, errors.New("the WebSocket upgrade has more than one Sec-WebSocket-Key")
	}
	key := strings.TrimSpace(keys[0])
	if v, err := base64.StdEncoding.DecodeString(key); err != nil || len(v) != 16 {
		return http.StatusBadRequest, fmt.Errorf("Sec-WebSocket-Key %q is not 16 bytes in base64", key)
	}
	return 0, nil
}

// authenticateOrigin allows requests without an Origin (not browsers),
// same-origin requests, and origins whose host (or scheme://host, for
// patterns with a scheme) matches a pattern, case-insensitively, with
// path.Match.
func authenticateOrigin(r *http.Request, patterns []string) error {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return nil
	}
	u, err := url.Parse(origin)
	if err != nil {
		return fmt.Errorf("Origin %q is not a URL: %w", origin, err)
	}
	if strings.EqualFold(r.Host, u.Host) {
		return nil
	}
	for _, p := range patterns {
		target := u.Host
		if strings.Contains(p, "://") {
			target = u.Scheme + "://" + u.Host
		}
		ok, err := path.Match(strings.ToLower(p), strings.ToLower(target))
		if err != nil {
			return fmt.Errorf("origin pattern %q: %w", p, err)
		}
		if ok {
			return nil
		}
	}
	if u.Host == "" {
		return fmt.Errorf("Origin %q has no host", origin)
	}
	return fmt.Errorf("origin %s may not connect to %s; add it to the allowed origins", u.Host, r.Host)
}

func headerHasToken(h http.Header, key, token string) bool {
	for _, v := range h[textproto.CanonicalMIMEHeaderKey(key)] {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

const keyGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

func secWebSocketAccept(key string) string {
	h := sha1.Sum([]byte(key + keyGUID))
	return base64.StdEncoding.EncodeToString(h[:])
}
