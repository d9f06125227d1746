package httpserver_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/peercall/peercall/internal/config"
	"github.com/peercall/peercall/internal/httpserver"
	"github.com/peercall/peercall/internal/servertest"
	"github.com/peercall/peercall/internal/testutil"
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

// A renewed certificate written over the files is served from the next
// handshake on, without a restart; files that do not load keep the last
// good certificate.
func TestARenewedCertificateIsServedWithoutARestart(t *testing.T) {
	defer httpserver.SetCertCheckInterval(0)()
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	// As certbot and most deploy scripts do: new files renamed into place.
	install := func(cert, key []byte) {
		t.Helper()
		for _, f := range []struct {
			path string
			data []byte
		}{{keyFile, key}, {certFile, cert}} {
			tmp := f.path + ".new"
			if err := os.WriteFile(tmp, f.data, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, f.path); err != nil {
				t.Fatal(err)
			}
		}
	}
	oldCert, oldKey := genPEM(t)
	install(oldCert, oldKey)
	srv := servertest.Start(t, func(c *config.Config) { c.TLSCert, c.TLSKey = certFile, keyFile })
	served := func() []byte {
		t.Helper()
		conn, err := tls.Dial("tcp", strings.TrimPrefix(srv.URL, "https://"), &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].Raw
	}
	der := func(p []byte) []byte {
		b, _ := pem.Decode(p)
		return b.Bytes
	}
	if !bytes.Equal(served(), der(oldCert)) {
		t.Fatal("the server does not serve the certificate of its files")
	}

	newCert, newKey := genPEM(t)
	install(newCert, newKey)
	testutil.Eventually(t, 10*time.Second, func() error {
		if !bytes.Equal(served(), der(newCert)) {
			return fmt.Errorf("still the old certificate")
		}
		return nil
	})
	// Browsers that trust the new certificate can call.
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(newCert)
	checkHTTPS(t, srv.URL, &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}})

	// A broken write (a key for another certificate) changes nothing.
	_, otherKey := genPEM(t)
	install(newCert, otherKey)
	for range 3 {
		if !bytes.Equal(served(), der(newCert)) {
			t.Fatal("a pair that does not load replaced the certificate")
		}
	}
}
