package config_test

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/peercall/peercall/internal/config"
)

func load(t *testing.T, args []string, env map[string]string) (config.Config, error) {
	t.Helper()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return config.Load(fs, args, func(k string) string { return env[k] })
}

func TestNothingConfiguredGivesTheDefaults(t *testing.T) {
	cfg, err := load(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != ":8080" || cfg.TURNListen != ":3478" || cfg.MaxParticipants != 6 || cfg.PingInterval != 5*time.Second || cfg.TURNAllowLoopback {
		t.Fatalf("defaults %+v", cfg)
	}
}

func TestFlagsBeatEnvironmentWhichBeatsTheFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "peercall.yaml")
	os.WriteFile(path, []byte("listen: \":7000\"\nmax_participants: 4\nturn_secret: fromfile\nice_servers:\n  - stun:stun.example.org:3478\nping_interval: 2s\n"), 0o600)
	cfg, err := load(t,
		[]string{"--config", path, "--max-participants=3", "--ice-server", "stun:a.example:3478", "--ice-server", "turn:u:p@b.example:3478?transport=tcp"},
		map[string]string{"PEERCALL_LISTEN": ":7001", "PEERCALL_MAX_PARTICIPANTS": "5", "PEERCALL_TURN_ALLOW_LOOPBACK": "true"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != ":7001" {
		t.Errorf("env should beat file: listen %q", cfg.Listen)
	}
	if cfg.MaxParticipants != 3 {
		t.Errorf("flag should beat env: max %d", cfg.MaxParticipants)
	}
	if cfg.TURNSecret != "fromfile" || cfg.PingInterval != 2*time.Second || !cfg.TURNAllowLoopback {
		t.Errorf("file and env values lost: %+v", cfg)
	}
	if strings.Join(cfg.ICEServers, " ") != "stun:a.example:3478 turn:u:p@b.example:3478?transport=tcp" {
		t.Errorf("repeatable flag should replace the file's list: %q", cfg.ICEServers)
	}
}

func TestTheConfigFileCanComeFromTheEnvironment(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(path, []byte("max_participants: 8\n"), 0o600)
	cfg, err := load(t, nil, map[string]string{"PEERCALL_CONFIG": path, "PEERCALL_ICE_SERVER": "stun:a.example:1, stun:b.example:2"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MaxParticipants != 8 || len(cfg.ICEServers) != 2 {
		t.Fatalf("%+v", cfg)
	}
}

func TestBadConfigurationIsRefusedClearly(t *testing.T) {
	yamlWith := func(body string) string {
		p := filepath.Join(t.TempDir(), "c.yaml")
		os.WriteFile(p, []byte(body), 0o600)
		return p
	}
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"an unknown YAML key is refused", []string{"--config", yamlWith("max_participant: 3\n")}, nil, "max_participant"},
		{"a missing config file is refused", []string{"--config", "/nonexistent/peercall.yaml"}, nil, "no such file"},
		{"a listen address without a port is refused", []string{"--listen", "localhost"}, nil, "listen"},
		{"a public IP that is not an IP is refused", []string{"--turn-public-ip", "example.org"}, nil, "turn-public-ip"},
		{"a one-person room limit is refused", []string{"--max-participants", "1"}, nil, "max-participants"},
		{"a non-numeric env value is refused", nil, map[string]string{"PEERCALL_MAX_PARTICIPANTS": "six"}, "PEERCALL_MAX_PARTICIPANTS"},
		{"a TURN URL without credentials or turn secret is refused", []string{"--ice-server", "turn:turn.example.org:3478"}, nil, "credentials"},
		{"an http URL as ICE server is refused", []string{"--ice-server", "http://example.org"}, nil, "scheme"},
		{"a stray argument is refused", []string{"extra"}, nil, "unexpected argument"},
		{"an unknown log level is refused", []string{"--log-level", "loud"}, nil, "log-level"},
		{"a Redis address that is not a URL is refused", []string{"--redis", "localhost:6379"}, nil, "redis://"},
		{"a Sentinel URL with an empty master name is refused", []string{"--redis", "redis://127.0.0.1:26379/0?master_name="}, nil, "master_name"},
		{"a Sentinel URL with an unknown parameter is refused", []string{"--redis", "redis://127.0.0.1:26379/0?master_name=m&colour=blue"}, nil, "colour"},
		{"cluster mode without a shared session secret is refused", []string{"--redis", "redis://127.0.0.1:6379/0", "--turn-secret", "t"}, nil, "session-secret"},
		{"cluster mode without a shared TURN secret is refused", nil, map[string]string{"PEERCALL_REDIS": "redis://127.0.0.1:6379/0", "PEERCALL_SESSION_SECRET": "0123456789abcdef"}, "turn-secret"},
		{"a node ID with a colon is refused", []string{"--node-id", "a:b"}, nil, "node-id"},
		{"a metrics address that is not host:port is refused", []string{"--metrics-listen", "9090"}, nil, "metrics-listen"},
		{"a trusted proxy that is not an address is refused, named", []string{"--trusted-proxies", "10.0.0.2,proxy.example.com"}, nil, `trusted-proxies: "proxy.example.com" is not an IP address`},
		{"a bad trusted prefix is refused, named", nil, map[string]string{"PEERCALL_TRUSTED_PROXIES": "10.0.0.0/33"}, `"10.0.0.0/33"`},
		{"trusting every IPv4 address is refused", []string{"--trusted-proxies", "0.0.0.0/0"}, nil, "trusts every address"},
		{"trusting every IPv6 address is refused", []string{"--config", yamlWith("trusted_proxies: [\"::/0\"]\n")}, nil, "trusts every address"},
		{"a trusted proxy given as a YAML string is refused", []string{"--config", yamlWith("trusted_proxies: 10.0.0.2\n")}, nil, "cannot unmarshal"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(t, tc.args, tc.env)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
}

func TestValidationErrorsAreTyped(t *testing.T) {
	c := config.Config{MaxParticipants: 100}
	if err := c.Validate(); !errors.Is(err, config.ErrInvalid) {
		t.Fatalf("%v", err)
	}
}

func TestATURNURLWithoutCredentialsIsFineWithATurnSecret(t *testing.T) {
	if _, err := load(t, []string{"--turn-secret", "s3cret-s3cret-s3cret", "--ice-server", "turn:turn.example.org:3478"}, nil); err != nil {
		t.Fatal(err)
	}
}

func TestParseICEServerSplitsCredentials(t *testing.T) {
	s, err := config.ParseICEServer("turn:alice:p%40ss@turn.example.org:3478?transport=udp")
	if err != nil {
		t.Fatal(err)
	}
	if s.URL != "turn:turn.example.org:3478?transport=udp" || s.Username != "alice" || s.Credential != "p@ss" {
		t.Fatalf("%+v", s)
	}
}

func TestTheSampleConfigIsValid(t *testing.T) {
	data, err := os.ReadFile("../../config-sample.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	if err := config.DecodeYAML(data, &cfg); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestTURNOverTLSNeedsACertificate(t *testing.T) {
	if _, err := load(t, []string{"--turns-listen", ":5349"}, nil); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("got %v", err)
	}
	if _, err := load(t, []string{"--turns-listen", ":5349", "--tls-self-signed"}, nil); err != nil {
		t.Fatal(err)
	}
}

func TestTrustedProxiesComeFromFlagsEnvironmentOrFile(t *testing.T) {
	cfg, err := load(t, nil, nil)
	if err != nil || cfg.TrustedProxies != nil {
		t.Fatalf("default: %q, %v; want none", cfg.TrustedProxies, err)
	}
	path := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(path, []byte("trusted_proxies:\n  - 10.0.0.2\n  - 2001:db8::/64\n"), 0o600)
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"a YAML list", []string{"--config", path}, nil, "10.0.0.2 2001:db8::/64"},
		{"the environment, comma-separated, beats the file", []string{"--config", path}, map[string]string{"PEERCALL_TRUSTED_PROXIES": "10.0.0.3, 192.168.0.0/16"}, "10.0.0.3 192.168.0.0/16"},
		{"a flag, comma-separated and repeated, beats both", []string{"--config", path, "--trusted-proxies", "10.0.0.4, 10.0.0.5", "--trusted-proxies", "::1"},
			map[string]string{"PEERCALL_TRUSTED_PROXIES": "10.0.0.3"}, "10.0.0.4 10.0.0.5 ::1"},
		{"an empty flag clears the file's list", []string{"--config", path, "--trusted-proxies", ""}, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := load(t, tc.args, tc.env)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(cfg.TrustedProxies, " "); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestParseTrustedProxies(t *testing.T) {
	got, err := config.ParseTrustedProxies([]string{"10.0.0.2", " 10.1.2.3/16 ", "2001:db8::1", "2001:db8:1::/48", "::ffff:192.0.2.1", "::ffff:198.51.100.0/120"})
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{
		netip.MustParsePrefix("10.0.0.2/32"), netip.MustParsePrefix("10.1.0.0/16"),
		netip.MustParsePrefix("2001:db8::1/128"), netip.MustParsePrefix("2001:db8:1::/48"),
		netip.MustParsePrefix("192.0.2.1/32"), netip.MustParsePrefix("198.51.100.0/24"),
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for _, bad := range []string{"", "10.0.0", "10.0.0.0/33", "fe80::1%eth0", "proxy.example.com", "0.0.0.0/0", "::/0", "10.0.0.2:80"} {
		if _, err := config.ParseTrustedProxies([]string{"10.0.0.2", bad}); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%q", bad)) {
			t.Errorf("%q: got %v, want an error naming it", bad, err)
		}
	}
}

func TestASentinelURLIsAccepted(t *testing.T) {
	u := "redis://127.0.0.1:26379/2?master_name=peercall&addr=127.0.0.2:26379&password=p%40ss"
	if _, err := load(t, []string{"--redis", u, "--session-secret", "0123456789abcdef", "--turn-secret", "t"}, nil); err != nil {
		t.Fatal(err)
	}
	plain, failover, err := config.ParseRedisURL(u)
	if err != nil || plain != nil || failover.MasterName != "peercall" || len(failover.SentinelAddrs) != 2 || failover.DB != 2 || failover.Password != "p@ss" {
		t.Fatalf("%+v %+v %v", plain, failover, err)
	}
	plain, failover, err = config.ParseRedisURL("redis://:pw@127.0.0.1:6379/1")
	if err != nil || failover != nil || plain.Addr != "127.0.0.1:6379" || plain.DB != 1 {
		t.Fatalf("%+v %+v %v", plain, failover, err)
	}
}
