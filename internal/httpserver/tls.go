package httpserver

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/acme/autocert"

	"github.com/peercall/peercall/internal/config"
)

// tlsConfig returns the HTTPS configuration cfg asks for, or nil for plain
// HTTP. note describes the certificate for the start-up banner.
func tlsConfig(cfg config.Config, log *slog.Logger) (tc *tls.Config, note string, err error) {
	switch {
	case cfg.TLSCert != "":
		cf := &certFiles{certFile: cfg.TLSCert, keyFile: cfg.TLSKey, log: log}
		if err := cf.load(time.Now()); err != nil {
			return nil, "", fmt.Errorf("%w: tls-cert/tls-key: %v", config.ErrInvalid, err)
		}
		return &tls.Config{GetCertificate: cf.get, MinVersion: tls.VersionTLS12},
			"certificate from " + cfg.TLSCert + " (reloaded when the files change)", nil
	case len(cfg.ACMEDomains) > 0:
		if err := os.MkdirAll(cfg.ACMECache, 0o700); err != nil {
			return nil, "", fmt.Errorf("acme-cache: %w", err)
		}
		m := &autocert.Manager{
			Prompt:     autocert.AcceptTOS,
			HostPolicy: autocert.HostWhitelist(cfg.ACMEDomains...),
			Cache:      autocert.DirCache(cfg.ACMECache),
			Email:      cfg.ACMEEmail,
		}
		tc := m.TLSConfig() // answers TLS-ALPN-01 challenges: listen on :443
		tc.MinVersion = tls.VersionTLS12
		return tc, "automatic certificates (ACME) for " + strings.Join(cfg.ACMEDomains, ", "), nil
	case cfg.TLSSelfSigned:
		cert, fp, err := selfSigned(time.Now())
		if err != nil {
			return nil, "", err
		}
		return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
			"self-signed certificate, SHA-256 fingerprint " + fp + " (browsers will warn; check the fingerprint)", nil
	}
	return nil, "", nil
}

// certCheckInterval is how often, at most, a handshake checks whether the
// certificate files changed.
var certCheckInterval = 10 * time.Second

// certFiles serves the certificate of a PEM pair of files and picks up a
// renewed one (certbot, cert-manager, a deploy script) without a restart,
// for HTTPS and TURNS alike: at most every certCheckInterval, a handshake
// compares the files' modification times and sizes with those loaded, and
// loads the pair again if they changed. A pair that does not load (caught
// half-written, or a key that does not match) keeps the previous
// certificate, is logged, and is tried again at the next check.
type certFiles struct {
	certFile, keyFile string
	log               *slog.Logger

	mu      sync.Mutex
	cert    *tls.Certificate
	stamp   string    // the files' modification times and sizes when loaded
	checked time.Time // last check
	failed  string    // the stamp that last failed to load, logged once
}

// fileStamp identifies the current contents of the files cheaply.
func (c *certFiles) fileStamp() (string, error) {
	var b strings.Builder
	for _, f := range []string{c.certFile, c.keyFile} {
		st, err := os.Stat(f)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "%d/%d;", st.ModTime().UnixNano(), st.Size())
	}
	return b.String(), nil
}

// load loads the pair; c.mu is held or c not yet shared.
func (c *certFiles) load(now time.Time) error {
	stamp, err := c.fileStamp()
	if err != nil {
		return err
	}
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return err
	}
	c.cert, c.stamp, c.checked, c.failed = &cert, stamp, now, ""
	return nil
}

func (c *certFiles) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	if now.Sub(c.checked) < certCheckInterval {
		return c.cert, nil
	}
	c.checked = now
	stamp, err := c.fileStamp()
	if err != nil || stamp == c.stamp || stamp == c.failed {
		return c.cert, nil
	}
	if err := c.load(now); err != nil {
		c.failed = stamp
		c.log.Warn("certificate files changed but do not load; keeping the previous certificate", "cert", c.certFile, "key", c.keyFile, "err", err)
		return c.cert, nil
	}
	c.log.Info("certificate reloaded", "cert", c.certFile, "not_after", c.cert.Leaf.NotAfter)
	return c.cert, nil
}

// selfSigned makes a certificate for LAN testing, valid for localhost, this
// machine's host name and every address of its interfaces.
func selfSigned(now time.Time) (tls.Certificate, string, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, "", err
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "peercall self-signed", Organization: []string{"peercall"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(90 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	if h, err := os.Hostname(); err == nil && h != "" && h != "localhost" {
		tmpl.DNSNames = append(tmpl.DNSNames, h)
	}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLoopback() && !ipn.IP.IsLinkLocalUnicast() {
				tmpl.IPAddresses = append(tmpl.IPAddresses, ipn.IP)
			}
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, "", err
	}
	sum := sha256.Sum256(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, colonHex(sum[:]), nil
}

func colonHex(b []byte) string {
	h := strings.ToUpper(hex.EncodeToString(b))
	var out strings.Builder
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			out.WriteByte(':')
		}
		out.WriteString(h[i : i+2])
	}
	return out.String()
}
