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
	"math/big"
	"net"
	"os"
	"strings"
	"time"

	"golang.org/x/crypto/acme/autocert"

	"github.com/peercall/peercall/internal/config"
)

// tlsConfig returns the HTTPS configuration cfg asks for, or nil for plain
// HTTP. note describes the certificate for the start-up banner.
func tlsConfig(cfg config.Config) (tc *tls.Config, note string, err error) {
	switch {
	case cfg.TLSCert != "":
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return nil, "", fmt.Errorf("%w: tls-cert/tls-key: %v", config.ErrInvalid, err)
		}
		return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, "certificate from " + cfg.TLSCert, nil
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
