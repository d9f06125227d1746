package httpserver

import (
	"encoding/json"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/peercall/peercall/protocol"
)

// Handler returns the server's routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET "+protocol.Path, s.signal)
	mux.HandleFunc("POST /api/rooms", s.createRoom)
	mux.HandleFunc("GET /healthz", s.healthz)
	if s.cfg.MetricsOnMain() {
		mux.Handle("GET /metrics", s.metricsHandler())
	}

	files := http.FileServerFS(s.webFS)
	for _, dir := range []string{"/app/", "/sdk/", "/example/"} {
		mux.Handle("GET "+dir, files)
	}
	mux.HandleFunc("GET /{$}", s.appPage)
	mux.HandleFunc("GET /r/{room}", s.appPage)
	// Anything else (a mangled link such as /r/a/b) gets the app too, with
	// 404, so that it explains the problem instead of a bare "not found".
	mux.HandleFunc("GET /", s.notFoundPage)
	return securityHeaders(mux, contentSecurityPolicy(s.cfg.FrameAncestors))
}

func (s *Server) metricsHandler() http.Handler {
	return promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{})
}

// appPage serves the single-page app for / and /r/<room>; the app reads the
// room from its location and explains a bad link itself.
func (s *Server) appPage(w http.ResponseWriter, r *http.Request) { s.servePage(w, http.StatusOK) }

func (s *Server) notFoundPage(w http.ResponseWriter, r *http.Request) {
	s.servePage(w, http.StatusNotFound)
}

func (s *Server) servePage(w http.ResponseWriter, status int) {
	page, err := fs.ReadFile(s.webFS, "app/index.html")
	if err != nil {
		http.Error(w, "web app not found", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(status)
	w.Write(page)
}

func (s *Server) createRoom(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusCreated, map[string]string{"room": NewRoomName()})
}

// healthz reports the node's state: 200 "ok"; or 503 "degraded" in a
// cluster whose Redis this node cannot reach (calls in progress keep their
// media; new joins are refused); or 503 "draining" while it shuts down; so
// that a load balancer sends new clients elsewhere.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	st := s.backend.Stats()
	body := map[string]any{
		"status":       "ok",
		"uptime_s":     int(time.Since(s.started).Seconds()),
		"rooms":        st.Rooms,
		"participants": st.Participants,
		"connections":  s.signal.Stats().Connections,
		"turn":         s.turn != nil,
	}
	code := http.StatusOK
	if s.cluster != nil {
		cs := s.cluster.ClusterStats()
		cl := map[string]any{"node": cs.Node, "nodes": cs.Nodes, "redis_rtt_ms": float64(cs.RedisRTT.Microseconds()) / 1000}
		if !cs.Healthy {
			body["status"], code = "degraded", http.StatusServiceUnavailable
			cl["problem"] = cs.Problem
		}
		if cs.ConfigMismatch {
			cl["config_mismatch"] = "this node's session secret, TURN secret, API keys or room limits differ from the other nodes'"
		}
		body["cluster"] = cl
	}
	if s.draining.Load() {
		body["status"], code = "draining", http.StatusServiceUnavailable
	}
	writeJSON(w, code, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// contentSecurityPolicy allows only the app's own files; media elements
// play MediaStreams (blob:), the signaling socket is same-origin. Pages of
// the server and of frameAncestors may embed the app.
func contentSecurityPolicy(frameAncestors []string) string {
	return "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; " +
		"media-src 'self' blob:; connect-src 'self'; frame-ancestors " + strings.Join(append([]string{"'self'"}, frameAncestors...), " ") +
		"; base-uri 'none'; form-action 'self'; object-src 'none'"
}

func securityHeaders(next http.Handler, csp string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		if !strings.HasPrefix(r.URL.Path, "/api/") && r.URL.Path != protocol.Path {
			h.Set("Content-Security-Policy", csp)
			h.Set("Permissions-Policy", "camera=(self), microphone=(self), display-capture=(self)")
		}
		next.ServeHTTP(w, r)
	})
}
