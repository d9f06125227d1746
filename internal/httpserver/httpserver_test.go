package httpserver_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/peercall/peercall/internal/config"
	"github.com/peercall/peercall/internal/httpserver"
	"github.com/peercall/peercall/internal/servertest"
	"github.com/peercall/peercall/internal/testutil"
	"github.com/peercall/peercall/internal/turnserver"
	"github.com/peercall/peercall/protocol"
)

func TestMain(m *testing.M) { testutil.MainInLoopbackNamespace(m) }

func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestTheServerServesAppHealthMetricsAndRoomNames(t *testing.T) {
	srv := servertest.Start(t)
	t.Run("the home page and room links serve the app with security headers", func(t *testing.T) {
		for _, path := range []string{"/", "/r/some-room"} {
			resp, body := get(t, srv.URL+path)
			if resp.StatusCode != 200 || !strings.Contains(body, "<") {
				t.Fatalf("%s: %d %q", path, resp.StatusCode, body)
			}
			h := resp.Header
			if !strings.Contains(h.Get("Content-Security-Policy"), "script-src 'self'") || h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") == "" {
				t.Fatalf("%s: missing security headers: %v", path, h)
			}
		}
	})
	t.Run("healthz reports ok", func(t *testing.T) {
		resp, body := get(t, srv.URL+"/healthz")
		var h map[string]any
		if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &h) != nil || h["status"] != "ok" {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
	})
	t.Run("a created room name is valid and unique", func(t *testing.T) {
		seen := map[string]bool{}
		for range 20 {
			resp, err := http.Post(srv.URL+"/api/rooms", "", nil)
			if err != nil {
				t.Fatal(err)
			}
			var r struct{ Room string }
			json.NewDecoder(resp.Body).Decode(&r)
			resp.Body.Close()
			if resp.StatusCode != 201 || !protocol.ValidRoomName(r.Room) || seen[r.Room] || len(r.Room) < 18 {
				t.Fatalf("%d %q", resp.StatusCode, r.Room)
			}
			seen[r.Room] = true
		}
	})
	t.Run("a join gets ICE servers with embedded TURN credentials", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+protocol.Path, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer ws.CloseNow()
		b, _ := json.Marshal(protocol.Join{Type: protocol.TypeJoin, Version: protocol.Version, Room: "demo", Name: "alice"})
		ws.Write(ctx, websocket.MessageText, b)
		_, data, err := ws.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var j protocol.Joined
		json.Unmarshal(data, &j)
		var urls []string
		for _, s := range j.ICEServers {
			urls = append(urls, s.URLs...)
			if strings.HasPrefix(s.URLs[0], "turn:") && (!strings.HasSuffix(s.Username, ":"+j.Self.ID) || s.Credential == "") {
				t.Fatalf("TURN credentials %+v not minted for %s", s, j.Self.ID)
			}
		}
		all := strings.Join(urls, " ")
		port := srv.TURN().UDPAddr().Port
		for _, want := range []string{"stun:127.0.0.1:", "turn:127.0.0.1:", "transport=udp", "transport=tcp"} {
			if !strings.Contains(all, want) {
				t.Fatalf("ICE servers %q lack %q", all, want)
			}
		}
		if !strings.Contains(all, ":"+itoa(port)) || j.ICEServersExpireAt <= time.Now().UnixMilli() {
			t.Fatalf("ICE servers %q (port %d), expiry %d", all, port, j.ICEServersExpireAt)
		}
	})
	t.Run("metrics count connections and rooms", func(t *testing.T) {
		_, body := get(t, srv.URL+"/metrics")
		for _, m := range []string{"peercall_connections", "peercall_rooms", "peercall_participants", "peercall_signal_messages_relayed_total", "peercall_turn_allocations", "peercall_turn_relayed_bytes_total"} {
			if !strings.Contains(body, m) {
				t.Fatalf("metrics lack %s", m)
			}
		}
	})
}

func TestExternalICEServersAreHandedOutBesideOrInsteadOfTheEmbeddedOne(t *testing.T) {
	srv := servertest.Start(t, func(c *config.Config) {
		c.TURNListen = "off"
		c.TURNSecret = "shared-with-coturn-0123"
		c.ICEServers = []string{"stun:stun.example.org:3478", "turn:u:p@turn.example.org:3478?transport=tcp", "turns:turn.example.org:443"}
	})
	if srv.TURN() != nil {
		t.Fatal("embedded TURN should be off")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+protocol.Path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	ws.Write(ctx, websocket.MessageText, []byte(`{"type":"join","version":1,"room":"x"}`))
	_, data, _ := ws.Read(ctx)
	var j protocol.Joined
	json.Unmarshal(data, &j)
	if len(j.ICEServers) != 3 || j.ICEServers[1].Username != "u" || j.ICEServers[1].URLs[0] != "turn:turn.example.org:3478?transport=tcp" {
		t.Fatalf("%+v", j.ICEServers)
	}
	// The URL without credentials gets this participant's own REST
	// credentials, which coturn with the same secret accepts.
	minted := j.ICEServers[2]
	if _, _, err := turnserver.VerifyRESTCredentials("shared-with-coturn-0123", minted.Username, minted.Credential, time.Now()); err != nil || !strings.HasSuffix(minted.Username, ":"+j.Self.ID) {
		t.Fatalf("minted %+v: %v", minted, err)
	}
}

func TestNewRoomNameIsReadable(t *testing.T) {
	n := httpserver.NewRoomName()
	if strings.Count(n, "-") != 2 || !protocol.ValidRoomName(n) {
		t.Fatal(n)
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestAMangledLinkGetsTheAppWithA404(t *testing.T) {
	srv := servertest.Start(t)
	for _, path := range []string{"/r/", "/r/a/b", "/nope"} {
		resp, body := get(t, srv.URL+path)
		if resp.StatusCode != 404 || !strings.Contains(body, "<") || !strings.Contains(resp.Header.Get("Content-Type"), "text/html") {
			t.Fatalf("%s: %d %q", path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
	if resp, _ := get(t, srv.URL+"/sdk/nonexistent.js"); resp.StatusCode != 404 {
		t.Fatalf("a missing asset: %d", resp.StatusCode)
	}
}

func TestFrameAncestorsAreConfigurable(t *testing.T) {
	srv := servertest.Start(t, func(c *config.Config) { c.FrameAncestors = []string{"https://app.example.com"} })
	resp, _ := get(t, srv.URL+"/")
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'self' https://app.example.com;") {
		t.Fatalf("CSP %q", csp)
	}
}

// /metrics is on the main listener by default; metrics_listen moves it to a
// listener of its own (and off the public one) or turns it off.
func TestMetricsCanMoveOffThePublicListener(t *testing.T) {
	metricsOK := func(url string) error {
		resp, err := http.Get(url)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || !strings.Contains(string(b), "peercall_rooms") {
			return fmt.Errorf("GET %s: %d", url, resp.StatusCode)
		}
		return nil
	}
	notFound := func(url string) {
		t.Helper()
		if resp, _ := get(t, url); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("GET %s: %d, want 404", url, resp.StatusCode)
		}
	}
	t.Run("default: on the main listener", func(t *testing.T) {
		srv := servertest.Start(t)
		if err := metricsOK(srv.URL + "/metrics"); err != nil {
			t.Fatal(err)
		}
		if srv.MetricsAddr() != nil {
			t.Fatal("a metrics listener of its own by default")
		}
	})
	t.Run("its own address", func(t *testing.T) {
		srv := servertest.Start(t, func(c *config.Config) { c.MetricsListen = "127.0.0.1:0" })
		notFound(srv.URL + "/metrics")
		base := "http://" + srv.MetricsAddr().String()
		testutil.Eventually(t, 10*time.Second, func() error { return metricsOK(base + "/metrics") })
		notFound(base + "/healthz") // only metrics there
		if resp, _ := get(t, srv.URL+"/healthz"); resp.StatusCode != 200 {
			t.Fatalf("healthz on the main listener: %d", resp.StatusCode)
		}
	})
	t.Run("off", func(t *testing.T) {
		srv := servertest.Start(t, func(c *config.Config) { c.MetricsListen = "off" })
		notFound(srv.URL + "/metrics")
		if srv.MetricsAddr() != nil {
			t.Fatal("a metrics listener although off")
		}
	})
}
