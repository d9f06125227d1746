// Package netsim tests calls across real network topologies built from
// network namespaces, veth pairs and nftables NAT, with documentation-range
// addresses (198.51.100.0/24 is "the internet", 203.0.113.0/24 the LANs
// behind NATs). Each scenario builds its own namespaces and deletes them.
// The server is peercall serve on its own host; the peers are peercall join
// processes. Run with -v to see the connectivity matrix.
//
// Needs root, iproute2 and nftables.
package netsim

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/peercall/peercall/internal/testutil"
)

var (
	bin     string
	results sync.Map // scenario name -> row
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "peercall-netsim")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	bin = filepath.Join(dir, "peercall")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/peercall").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build peercall: %v\n%s", err, out)
		os.Exit(2)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// lab is one scenario's set of namespaces.
type lab struct {
	t      *testing.T
	prefix string
	caFile string // set by certificate
}

func newLab(t *testing.T) *lab {
	b := make([]byte, 3)
	rand.Read(b)
	return &lab{t: t, prefix: "pcns" + hex.EncodeToString(b)}
}

func (l *lab) sh(args ...string) {
	l.t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		l.t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// ns creates namespace role with lo up, deleted when the test ends.
func (l *lab) ns(role string) string {
	name := l.prefix + "-" + role
	l.sh("ip", "netns", "add", name)
	l.t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	l.sh("ip", "-n", name, "link", "set", "lo", "up")
	return name
}

// link connects nsA:ifA and nsB:ifB with a veth pair and brings both up.
func (l *lab) link(nsA, ifA, nsB, ifB string) {
	l.sh("ip", "link", "add", ifA, "netns", nsA, "type", "veth", "peer", "name", ifB, "netns", nsB)
	l.sh("ip", "-n", nsA, "link", "set", ifA, "up")
	l.sh("ip", "-n", nsB, "link", "set", ifB, "up")
}

func (l *lab) addr(ns, ifname, cidr string) { l.sh("ip", "-n", ns, "addr", "add", cidr, "dev", ifname) }

func (l *lab) nft(ns, rules string) {
	l.t.Helper()
	cmd := exec.Command("ip", "netns", "exec", ns, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		l.t.Fatalf("nft in %s: %v\n%s\n%s", ns, err, out, rules)
	}
}

// internet builds the core: a bridge joining the server (198.51.100.10)
// and the hosts given, and returns the server's namespace.
func (l *lab) internet(hosts ...string) (core, srv string) {
	core, srv = l.ns("core"), l.ns("srv")
	l.sh("ip", "-n", core, "link", "add", "br0", "type", "bridge")
	l.sh("ip", "-n", core, "link", "set", "br0", "up")
	l.link(srv, "eth0", core, "p-srv")
	l.sh("ip", "-n", core, "link", "set", "p-srv", "master", "br0")
	l.addr(srv, "eth0", "198.51.100.10/24")
	return core, srv
}

// attach puts a host on the internet bridge with addr.
func (l *lab) attach(core, host, ifname, cidr string) {
	port := "p-" + strings.TrimPrefix(host, l.prefix+"-")
	l.link(host, ifname, core, port)
	l.sh("ip", "-n", core, "link", "set", port, "master", "br0")
	l.addr(host, ifname, cidr)
}

// natted builds a peer behind a NAT router: the router's WAN is wanIP on
// the internet; its LAN is lanPrefix.lanBase/26, with the gateway at
// lanBase+1 and the peer at lanBase+2. masq is the
// nftables masquerade statement; filter, if set, is a forward-chain rule of
// the router (e.g. dropping UDP).
func (l *lab) natted(core, role, wanIP string, lanBase int, masq, filter string) (peer string) {
	router, peer := l.ns(role+"nat"), l.ns(role)
	gw, host := fmt.Sprintf("203.0.113.%d", lanBase+1), fmt.Sprintf("203.0.113.%d", lanBase+2)
	l.attach(core, router, "wan", wanIP+"/24")
	l.link(router, "lan", peer, "eth0")
	l.addr(router, "lan", gw+"/26")
	l.addr(peer, "eth0", host+"/26")
	l.sh("ip", "-n", peer, "route", "add", "default", "via", gw)
	l.sh("ip", "netns", "exec", router, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	// Like a home router: masquerade the LAN, and drop unsolicited packets
	// to the router itself (they would otherwise leave conntrack entries
	// that steal the ports of later outbound mappings).
	rules := "table ip nat {\n chain post {\n  type nat hook postrouting priority 100;\n  oifname \"wan\" " + masq + "\n }\n}\n" +
		"table inet router {\n chain input {\n  type filter hook input priority 0; policy accept;\n  iifname \"wan\" ct state new drop\n }\n}\n"
	if filter != "" {
		rules += "table inet filter {\n chain forward_filter {\n  type filter hook forward priority 0; policy accept;\n  " + filter + "\n }\n}\n"
	}
	l.nft(router, rules)
	return peer
}

// serve starts peercall serve in ns (HTTP on 198.51.100.10:8080, TURN on
// :3478; later flags in extra win) and waits until it is ready.
func (l *lab) serve(ns string, extra ...string) string {
	args := append([]string{"netns", "exec", ns, bin, "serve", "--listen", "198.51.100.10:8080",
		"--turn-listen", "198.51.100.10:3478", "--turn-public-ip", "198.51.100.10"}, extra...)
	cmd := exec.Command("ip", args...)
	out := &testutil.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		l.t.Fatal(err)
	}
	l.t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if l.t.Failed() {
			l.t.Logf("serve output:\n%s", out.String())
		}
	})
	testutil.Eventually(l.t, 30*time.Second, func() error {
		if !strings.Contains(out.String(), "open http") {
			return fmt.Errorf("peercall serve not ready:\n%s", out.String())
		}
		return nil
	})
	if m := regexp.MustCompile(`signaling on (\S+)`).FindStringSubmatch(out.String()); m != nil {
		return m[1]
	}
	l.t.Fatalf("no URL in:\n%s", out.String())
	return ""
}

// certificate writes a self-signed certificate for ips, which the peers
// trust through SSL_CERT_FILE, and returns its PEM files.
func (l *lab) certificate(ips ...string) (certFile, keyFile string) {
	l.t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		l.t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "peercall netsim"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, ip := range ips {
		tmpl.IPAddresses = append(tmpl.IPAddresses, net.ParseIP(ip))
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		l.t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	dir := l.t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	l.caFile = certFile
	return certFile, keyFile
}

type peerReport struct {
	Name          string  `json:"name"`
	CandidateType string  `json:"candidate_type"`
	FirstMediaMS  float64 `json:"first_media_ms"`
	SafetyCode    string  `json:"safety_code"`
	Video, Audio  struct {
		Packets  int
		MaxGapMS int64    `json:"max_gap_ms"`
		LossPct  *float64 `json:"loss_pct"`
	}
}

type joinReport struct {
	Peers []peerReport `json:"peers"`
}

// call runs a peercall join in each of the two namespaces, in one room,
// with env added to their environment.
func (l *lab) call(url string, nsA, nsB string, env []string, extra ...string) (a, b joinReport, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	var errs [2]error
	reps := [2]*joinReport{&a, &b}
	for i, ns := range []string{nsA, nsB} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			args := append([]string{"netns", "exec", ns, bin, "join", "--url", url, "--room", "matrix",
				"--name", fmt.Sprint("peer", i), "--expect-peers", "1", "--timeout", "45s", "--json", "--verbose"}, extra...)
			cmd := exec.CommandContext(ctx, "ip", args...)
			cmd.Env = append(os.Environ(), env...)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if e := cmd.Run(); e != nil {
				errs[i] = fmt.Errorf("join in %s: %v:\n%s", ns, e, strings.TrimSpace(stderr.String()))
			}
			json.Unmarshal(stdout.Bytes(), reps[i])
		}()
	}
	wg.Wait()
	if errs[0] != nil {
		return a, b, errs[0]
	}
	return a, b, errs[1]
}

type scenario struct {
	name  string
	build func(l *lab) (url, nsA, nsB string)
	want  []string // acceptable candidate types
	env   func(l *lab) []string
}

func TestConnectivityMatrix(t *testing.T) {
	scenarios := []scenario{
		{"same network: direct host-to-host", func(l *lab) (string, string, string) {
			core, srv := l.internet()
			a, b := l.ns("a"), l.ns("b")
			l.attach(core, a, "eth0", "198.51.100.31/24")
			l.attach(core, b, "eth0", "198.51.100.32/24")
			return l.serve(srv), a, b
		}, []string{"host"}, nil},
		{"both behind NAT (masquerade): server-reflexive", func(l *lab) (string, string, string) {
			core, srv := l.internet()
			a := l.natted(core, "a", "198.51.100.21", 0, "masquerade", "")
			b := l.natted(core, "b", "198.51.100.22", 64, "masquerade", "")
			return l.serve(srv), a, b
		}, []string{"srflx", "prflx"}, nil},
		{"symmetric NAT on both sides: TURN relay", func(l *lab) (string, string, string) {
			core, srv := l.internet()
			a := l.natted(core, "a", "198.51.100.21", 0, "masquerade fully-random", "")
			b := l.natted(core, "b", "198.51.100.22", 64, "masquerade fully-random", "")
			return l.serve(srv), a, b
		}, []string{"relay"}, nil},
		{"UDP blocked entirely: TURN over TCP", func(l *lab) (string, string, string) {
			core, srv := l.internet()
			a := l.natted(core, "a", "198.51.100.21", 0, "masquerade", "meta l4proto udp drop")
			b := l.natted(core, "b", "198.51.100.22", 64, "masquerade", "meta l4proto udp drop")
			return l.serve(srv), a, b
		}, []string{"relay"}, nil},
		{"only TCP 443 reachable: TURN over TLS on 443", func(l *lab) (string, string, string) {
			core, srv := l.internet()
			l.addr(srv, "eth0", "198.51.100.11/24")
			certFile, keyFile := l.certificate("198.51.100.10", "198.51.100.11")
			url := l.serve(srv, "--listen", "198.51.100.10:443", "--tls-cert", certFile, "--tls-key", keyFile,
				"--turns-listen", "198.51.100.11:443")
			// Dropped silently, as corporate firewalls do: the SDK's TURN/TCP
			// dial to :3478 must neither hold up the call nor leaving.
			only443 := "ct state established,related accept\n  meta l4proto udp drop\n  tcp dport != 443 drop"
			a := l.natted(core, "a", "198.51.100.21", 0, "masquerade", only443)
			b := l.natted(core, "b", "198.51.100.22", 64, "masquerade", only443)
			return url, a, b
		}, []string{"relay"}, func(l *lab) []string { return []string{"SSL_CERT_FILE=" + l.caFile} }},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			l := newLab(t)
			url, a, b := sc.build(l)
			var env []string
			if sc.env != nil {
				env = sc.env(l)
			}
			ra, rb, err := l.call(url, a, b, env)
			row := fmt.Sprintf("| %s | %s |", sc.name, "no")
			defer func() { results.Store(sc.name, row) }()
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range []joinReport{ra, rb} {
				if len(r.Peers) != 1 || r.Peers[0].Video.Packets == 0 || r.Peers[0].Audio.Packets == 0 {
					t.Fatalf("peer %d got no media: %+v", i, r)
				}
				ok := false
				for _, w := range sc.want {
					ok = ok || r.Peers[0].CandidateType == w
				}
				if !ok {
					t.Fatalf("peer %d connected over %q, want one of %v", i, r.Peers[0].CandidateType, sc.want)
				}
			}
			row = fmt.Sprintf("| %s | yes | %s | %.0f ms / %.0f ms |", sc.name, ra.Peers[0].CandidateType, ra.Peers[0].FirstMediaMS, rb.Peers[0].FirstMediaMS)
		})
	}
	t.Log("connectivity matrix:\n| scenario | connected | selected pair | join → first media (each peer) |\n|---|---|---|---|")
	for _, sc := range scenarios {
		if row, ok := results.Load(sc.name); ok {
			t.Log(row)
		}
	}
}
