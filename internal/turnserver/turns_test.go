package turnserver

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/turn/v5"
)

func testCert(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "turns test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

func TestTURNOverTLSAllocatesAndIsHandedOut(t *testing.T) {
	checkGoroutines(t)
	cert, pool := testCert(t)
	s := startServer(t, Config{TLSListenAddr: "127.0.0.1:0", TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}})
	if s.TLSAddr() == nil {
		t.Fatal("no TURNS address")
	}
	servers, _ := s.ICEServers("127.0.0.1", "alice")
	all := strings.Join(servers[1].URLs, " ")
	want := "turns:127.0.0.1:" + strconv.Itoa(s.TLSAddr().Port) + "?transport=tcp"
	if !strings.Contains(all, want) {
		t.Fatalf("ICE servers %q lack %q", all, want)
	}

	conn, err := tls.Dial("tcp", s.TLSAddr().String(), &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	user, pass, _ := s.Credentials("alice")
	c := dialClientConn(t, s.TLSAddr().String(), turn.NewSTUNConn(conn), user, pass)
	relay, err := allocate(t, c)
	if err != nil {
		t.Fatalf("allocate over TLS: %v", err)
	}
	if relay.LocalAddr() == nil {
		t.Fatal("no relay address")
	}
}

func TestTURNOverTLSNeedsACertificate(t *testing.T) {
	_, err := New(Config{ListenAddr: "127.0.0.1:0", Secret: testSecret, TLSListenAddr: "127.0.0.1:0"})
	if err == nil {
		t.Fatal("TURNS without a certificate must be refused")
	}
}
