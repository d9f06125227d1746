// Package attack tries what an attacker would against a peercall server in
// token mode while a normal call runs on it, and checks that each attempt is
// refused cleanly and the call never notices.
package attack

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"
	"github.com/pion/turn/v5"

	"github.com/peercall/peercall/internal/auth"
	"github.com/peercall/peercall/internal/config"
	"github.com/peercall/peercall/internal/joincmd"
	"github.com/peercall/peercall/internal/servertest"
	"github.com/peercall/peercall/internal/testutil"
	"github.com/peercall/peercall/protocol"
)

func TestMain(m *testing.M) { testutil.MainInLoopbackNamespace(m) }

const key, secret = "app", "0123456789abcdef0123456789abcdef"

func token(t *testing.T, room string, ttl time.Duration, sec string) string {
	t.Helper()
	tok, err := auth.Mint(key, []byte(sec), auth.Claims{
		RegisteredClaims: jwt.RegisteredClaims{Subject: "u-" + room, ExpiresAt: jwt.NewNumericDate(time.Now().Add(ttl))},
		Room:             room,
	})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

type wsc struct {
	t  *testing.T
	ws *websocket.Conn
}

func dial(t *testing.T, url string) *wsc {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(url, "http")+protocol.Path, nil)
	if err != nil {
		t.Fatal(err)
	}
	ws.SetReadLimit(1 << 22)
	t.Cleanup(func() { ws.CloseNow() })
	return &wsc{t: t, ws: ws}
}

func (c *wsc) send(s string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c.ws.Write(ctx, websocket.MessageText, []byte(s))
}

// next returns the next frame, or nil when the connection closed.
func (c *wsc) next() map[string]any {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	_, b, err := c.ws.Read(ctx)
	if err != nil {
		return nil
	}
	var m map[string]any
	json.Unmarshal(b, &m)
	return m
}

func (c *wsc) expectError(code protocol.Code) {
	c.t.Helper()
	for {
		m := c.next()
		if m == nil {
			c.t.Fatalf("connection closed before error %s", code)
		}
		if m["type"] == protocol.TypeError {
			if m["code"] != string(code) {
				c.t.Fatalf("got %v, want %s", m, code)
			}
			return
		}
	}
}

func (c *wsc) join(room, tok string) map[string]any {
	c.t.Helper()
	c.send(fmt.Sprintf(`{"type":"join","version":1,"room":%q,"token":%q}`, room, tok))
	m := c.next()
	if m == nil || m["type"] != protocol.TypeJoined {
		c.t.Fatalf("join: %v", m)
	}
	return m
}

func TestAttacksAreRefusedWhileACallGoesOn(t *testing.T) {
	srv := servertest.Start(t, func(c *config.Config) {
		c.APIKeys = []string{key + ":" + secret}
		c.TURNAllowLoopback = false
		c.MaxConnsPerIP = 60
	})

	// The normal call: two peercall join participants in "clinic".
	type result struct {
		code   int
		stdout string
		stderr string
	}
	results := make(chan result, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	for _, name := range []string{"doctor", "patient"} {
		go func() {
			var out, errb bytes.Buffer
			code := joincmd.Run(ctx, []string{"--url", srv.URL, "--room", "clinic", "--name", name,
				"--token", token(t, "clinic", time.Hour, secret), "--duration", "20s", "--expect-peers", "1", "--json"}, &out, &errb)
			results <- result{code, out.String(), errb.String()}
		}()
	}
	// Wait until both are in the room, so the attacks run during the call.
	testutil.Eventually(t, 30*time.Second, func() error {
		select {
		case r := <-results:
			t.Fatalf("a participant of the normal call ended early: exit %d: %s", r.code, r.stderr)
		default:
		}
		if n := metric(t, srv.URL, "peercall_participants"); n < 2 {
			return fmt.Errorf("call not up yet: %v participants", n)
		}
		return nil
	})

	t.Run("malformed JSON, oversized frames and unknown types get errors", func(t *testing.T) {
		c := dial(t, srv.URL)
		c.send(`{"type":`)
		c.expectError(protocol.CodeBadRequest)
		c.send(`{"type":"detonate"}`)
		c.expectError(protocol.CodeBadRequest)
		c.send(`{"type":"ping","pad":"` + strings.Repeat("x", 70<<10) + `"}`)
		c.expectError(protocol.CodeTooLarge)
		c.send(strings.Repeat("[", 2<<20)) // far past the limit: the socket is closed
		if m := c.next(); m != nil && m["type"] != protocol.TypeError {
			t.Fatalf("huge frame: %v", m)
		}
	})

	t.Run("forged, expired and wrong-room tokens are refused", func(t *testing.T) {
		for _, tok := range []string{
			token(t, "clinic", time.Hour, "ffffffffffffffffffffffffffffffff"),
			token(t, "clinic", -time.Minute, secret),
			token(t, "other", time.Hour, secret),
			"",
		} {
			c := dial(t, srv.URL)
			c.send(fmt.Sprintf(`{"type":"join","version":1,"room":"clinic","token":%q}`, tok))
			c.expectError(protocol.CodeUnauthorized)
		}
	})

	t.Run("relays to another room and spoofed senders go nowhere", func(t *testing.T) {
		// The attacker, in its own room, addresses a participant ID (128
		// random bits it can only guess) and sets its own "from".
		c := dial(t, srv.URL)
		c.join("evil", token(t, "evil", time.Hour, secret))
		c.send(`{"type":"offer","to":"AAAAAAAAAAAAAAAAAAAAAAAAAA","from":"spoofed","payload":{"type":"offer","sdp":"v=0"}}`)
		c.expectError(protocol.CodeUnknownPeer)
	})

	t.Run("TURN refuses allocations without credentials and relays to private targets", func(t *testing.T) {
		addr := srv.TURN().UDPAddr().String()
		conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		anon, err := turn.NewClient(&turn.ClientConfig{STUNServerAddr: addr, TURNServerAddr: addr, Conn: conn, Username: "x", Password: "y"})
		if err != nil {
			t.Fatal(err)
		}
		defer anon.Close()
		anon.Listen()
		if _, err := anon.Allocate(); err == nil {
			t.Fatal("an allocation with made-up credentials succeeded")
		}

		// A participant's real credentials, relaying to forbidden peers.
		c := dial(t, srv.URL)
		j := c.join("evil2", token(t, "evil2", time.Hour, secret))

		var user, pass string
		for _, s := range j["ice_servers"].([]any) {
			m := s.(map[string]any)
			if u, ok := m["username"].(string); ok && u != "" {
				user, pass = u, m["credential"].(string)
			}
		}
		conn2, _ := net.ListenPacket("udp4", "127.0.0.1:0")
		defer conn2.Close()
		cl, err := turn.NewClient(&turn.ClientConfig{STUNServerAddr: addr, TURNServerAddr: addr, Conn: conn2, Username: user, Password: pass, Realm: "peercall"})
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		cl.Listen()
		relay, err := cl.Allocate()
		if err != nil {
			t.Fatalf("allocate with real credentials: %v", err)
		}
		defer relay.Close()
		for _, target := range []string{"127.0.0.1:22", "10.0.0.5:5432", "192.168.1.1:80", "169.254.169.254:80"} {
			to, _ := net.ResolveUDPAddr("udp4", target)
			if _, err := relay.WriteTo([]byte("GET / HTTP/1.0\r\n\r\n"), to); err == nil {
				t.Errorf("relay to %s was allowed", target)
			}
		}
	})

	t.Run("a slow reader that never reads is dropped", func(t *testing.T) {
		victim := dial(t, srv.URL)
		vj := victim.join("slow", token(t, "slow", time.Hour, secret))
		vid := vj["self"].(map[string]any)["id"].(string)
		flooder := dial(t, srv.URL)
		flooder.join("slow", token(t, "slow", time.Hour, secret))
		big := `{"type":"candidate","to":"` + vid + `","payload":{"candidate":"` + strings.Repeat("c", 60000) + `"}}`
		testutil.Eventually(t, 60*time.Second, func() error {
			for range 20 {
				flooder.send(big)
			}
			if metric(t, srv.URL, "peercall_signal_slow_consumers_total") == 0 {
				return fmt.Errorf("slow reader not dropped yet")
			}
			return nil
		})
	})

	t.Run("a join flood is rate limited", func(t *testing.T) {
		limited := false
		for i := 0; i < 40 && !limited; i++ {
			c := dial(t, srv.URL)
			c.send(fmt.Sprintf(`{"type":"join","version":1,"room":"flood%d","token":%q}`, i, token(t, fmt.Sprint("flood", i), time.Hour, secret)))
			if m := c.next(); m != nil && m["type"] == protocol.TypeError && m["code"] == string(protocol.CodeRateLimited) {
				limited = true
			}
			c.ws.CloseNow()
		}
		if !limited {
			t.Fatal("40 joins from one address were never rate limited")
		}
	})

	// The call ran through all of it.
	for range 2 {
		r := <-results
		if r.code != 0 {
			t.Fatalf("the normal call failed: exit %d: %s", r.code, r.stderr)
		}
		var rep struct {
			Peers []struct {
				Video, Audio struct {
					Packets  int   `json:"packets"`
					MaxGapMS int64 `json:"max_gap_ms"`
				}
			} `json:"peers"`
		}
		json.Unmarshal([]byte(r.stdout), &rep)
		if len(rep.Peers) != 1 || rep.Peers[0].Video.Packets == 0 || rep.Peers[0].Audio.Packets == 0 {
			t.Fatalf("the normal call's report: %s", r.stdout)
		}
		if gap := rep.Peers[0].Video.MaxGapMS; gap > 2000 {
			t.Errorf("the normal call's video stopped for %d ms during the attacks", gap)
		}
	}
}

// metric reads one value from /metrics.
func metric(t *testing.T, url, name string) float64 {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}
