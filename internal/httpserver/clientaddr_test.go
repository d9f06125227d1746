package httpserver_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/peercall/peercall/internal/config"
	"github.com/peercall/peercall/internal/httpserver"
	"github.com/peercall/peercall/internal/servertest"
	"github.com/peercall/peercall/protocol"
)

// firstFrame opens the signaling socket, claiming in X-Forwarded-For to be
// forwarded for xff, sends join and returns the first frame's type and
// error code. The socket stays open until the test ends.
func firstFrame(t *testing.T, baseURL, xff string) (typ, code string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(baseURL, "http")+protocol.Path,
		&websocket.DialOptions{HTTPHeader: http.Header{"X-Forwarded-For": {xff}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.CloseNow() })
	ws.Write(ctx, websocket.MessageText, []byte(`{"type":"join","version":1,"room":"proxied"}`))
	_, data, err := ws.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var m struct{ Type, Code string }
	json.Unmarshal(data, &m)
	return m.Type, m.Code
}

func TestTrustedProxiesMakeThePerAddressLimitsCountForwardedClients(t *testing.T) {
	t.Run("behind a trusted proxy", func(t *testing.T) {
		srv := servertest.Start(t, func(c *config.Config) {
			c.MaxConnsPerIP = 2
			c.TrustedProxies = []string{"127.0.0.1"}
		})
		for i, want := range []struct{ xff, typ string }{
			{"203.0.113.7", protocol.TypeJoined},
			{"203.0.113.7", protocol.TypeJoined},
			{"203.0.113.7", protocol.TypeError},
			{"203.0.113.8", protocol.TypeJoined},
		} {
			typ, code := firstFrame(t, srv.URL, want.xff)
			if typ != want.typ || typ == protocol.TypeError && code != string(protocol.CodeRateLimited) {
				t.Fatalf("connection %d for %s: %s %s, want %s", i+1, want.xff, typ, code, want.typ)
			}
		}
	})
	t.Run("with no trusted proxies (the default) the header is ignored", func(t *testing.T) {
		srv := servertest.Start(t, func(c *config.Config) { c.MaxConnsPerIP = 2 })
		for i, xff := range []string{"203.0.113.7", "203.0.113.8", "203.0.113.9"} {
			typ, code := firstFrame(t, srv.URL, xff)
			if want := map[bool]string{true: protocol.TypeError, false: protocol.TypeJoined}[i == 2]; typ != want {
				t.Fatalf("connection %d: %s %s, want %s", i+1, typ, code, want)
			}
		}
	})
}

func TestABadTrustedProxyIsRefusedAtStart(t *testing.T) {
	cfg := config.Default()
	cfg.Listen, cfg.TURNListen = "127.0.0.1:0", "off"
	cfg.TrustedProxies = []string{"10.0.0.2", "my-proxy"}
	if _, err := httpserver.New(cfg, nil); !errors.Is(err, config.ErrInvalid) || !strings.Contains(err.Error(), `"my-proxy"`) {
		t.Fatalf("got %v", err)
	}
}
