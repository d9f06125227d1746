package httpserver_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/peercall/peercall/internal/config"
	"github.com/peercall/peercall/internal/servertest"
	"github.com/peercall/peercall/protocol"
)

// checkHTTPS fetches /healthz and joins a room over wss with client.
func checkHTTPS(t *testing.T, url string, client *http.Client) {
	t.Helper()
	if !strings.HasPrefix(url, "https://") {
		t.Fatalf("URL %q is not https", url)
	}
	resp, err := client.Get(url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("healthz %d", resp.StatusCode)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "wss"+strings.TrimPrefix(url, "https")+protocol.Path, &websocket.DialOptions{HTTPClient: client})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	ws.Write(ctx, websocket.MessageText, []byte(`{"type":"join","version":1,"room":"tls"}`))
	_, data, err := ws.Read(ctx)
	var j protocol.Joined
	if err != nil || json.Unmarshal(data, &j) != nil || j.Type != protocol.TypeJoined {
		t.Fatalf("join over wss: %v %s", err, data)
	}
}

func TestHTTPSWithASelfSignedCertificate(t *testing.T) {
	srv := servertest.Start(t, func(c *config.Config) { c.TLSSelfSigned = true })
	if !strings.Contains(srv.TLSNote(), "fingerprint") {
		t.Fatalf("note %q", srv.TLSNote())
	}
	plain := &http.Client{Timeout: 10 * time.Second}
	if _, err := plain.Get(srv.URL + "/healthz"); err == nil {
		t.Fatal("a self-signed certificate must not verify")
	}
	insecure := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	checkHTTPS(t, srv.URL, insecure)
}

func TestHTTPSWithACertificateFromFiles(t *testing.T) {
	dir := t.TempDir()
	certPEM, keyPEM := genPEM(t)
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, certPEM, 0o600)
	os.WriteFile(keyFile, keyPEM, 0o600)
	srv := servertest.Start(t, func(c *config.Config) { c.TLSCert, c.TLSKey = certFile, keyFile })
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	checkHTTPS(t, srv.URL, client)
}
