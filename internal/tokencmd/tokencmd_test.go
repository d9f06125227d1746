package tokencmd

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/peercall/peercall/internal/auth"
)

const (
	testKey    = "APIdemo"
	testSecret = "0123456789abcdef0123456789abcdef"
)

var testNow = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// runToken runs the command with a fixed clock and the given environment.
func runToken(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(args, &out, &errOut, func(k string) string { return env[k] }, func() time.Time { return testNow })
	return code, out.String(), errOut.String()
}

// verify checks token with the test key at testNow+at.
func verify(t *testing.T, token, room string, at time.Duration) (*auth.Claims, error) {
	t.Helper()
	v := &auth.Verifier{
		Keys: auth.Keys{testKey: []byte(testSecret)},
		Now:  func() time.Time { return testNow.Add(at) },
	}
	return v.Verify(token, room)
}

func TestTokenPrintsOnlyATokenThatVerifies(t *testing.T) {
	code, out, errOut := runToken(t, nil, "--room", "demo", "--identity", "alice", "--name", "Alice", "--api-key", testKey+":"+testSecret)
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	if !strings.HasSuffix(out, "\n") || strings.Count(out, "\n") != 1 || strings.Count(out, ".") != 2 {
		t.Fatalf("stdout %q: want one token line", out)
	}
	c, err := verify(t, strings.TrimSpace(out), "demo", 0)
	if err != nil {
		t.Fatal(err)
	}
	if c.Identity() != "alice" || c.Name != "Alice" || c.Issuer != testKey ||
		c.Grants != (auth.Grants{Publish: true, ScreenShare: true, Host: false}) {
		t.Errorf("claims %+v", c)
	}
	if got := c.ExpiresAt.Time; !got.Equal(testNow.Add(DefaultTTL)) {
		t.Errorf("exp %v, want now + %v", got, DefaultTTL)
	}
	if _, err := verify(t, strings.TrimSpace(out), "demo", DefaultTTL+time.Minute); !errors.Is(err, auth.ErrExpired) {
		t.Errorf("after the ttl: %v, want expired", err)
	}
}

func TestTokenFlags(t *testing.T) {
	env := map[string]string{envAPIKey: testKey + ":" + testSecret}
	tests := []struct {
		name   string
		env    map[string]string
		args   []string
		grants auth.Grants
		ttl    time.Duration
	}{
		{name: "the key comes from the environment", env: env,
			args: []string{"--room", "r", "--identity", "i"}, grants: auth.Grants{Publish: true, ScreenShare: true}, ttl: DefaultTTL},
		{name: "the key comes from --key and --secret",
			args:   []string{"--room", "r", "--identity", "i", "--key", testKey, "--secret", testSecret},
			grants: auth.Grants{Publish: true, ScreenShare: true}, ttl: DefaultTTL},
		{name: "--api-key wins over the environment", env: map[string]string{envAPIKey: "bad"},
			args:   []string{"--room", "r", "--identity", "i", "--api-key", testKey + ":" + testSecret},
			grants: auth.Grants{Publish: true, ScreenShare: true}, ttl: DefaultTTL},
		{name: "--host grants host", env: env,
			args: []string{"--room", "r", "--identity", "i", "--host"}, grants: auth.Grants{Publish: true, ScreenShare: true, Host: true}, ttl: DefaultTTL},
		{name: "publishing and screen sharing can be denied", env: env,
			args: []string{"--room", "r", "--identity", "i", "--publish=false", "--screen-share=false"}, ttl: DefaultTTL},
		{name: "--ttl sets the expiry", env: env,
			args: []string{"--room", "r", "--identity", "i", "--ttl", "720h"}, grants: auth.Grants{Publish: true, ScreenShare: true}, ttl: MaxTTL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runToken(t, tt.env, tt.args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			c, err := verify(t, strings.TrimSpace(out), "r", 0)
			if err != nil {
				t.Fatal(err)
			}
			if c.Grants != tt.grants {
				t.Errorf("grants %+v, want %+v", c.Grants, tt.grants)
			}
			if !c.ExpiresAt.Equal(testNow.Add(tt.ttl)) {
				t.Errorf("exp %v, want now + %v", c.ExpiresAt, tt.ttl)
			}
		})
	}
}

func TestTokenJSON(t *testing.T) {
	code, out, errOut := runToken(t, nil, "--room", "demo", "--identity", "bob", "--ttl", "90m", "--json", "--api-key", testKey+":"+testSecret)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var got map[string]string
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("stdout %q: %v", out, err)
	}
	if len(got) != 4 || got["room"] != "demo" || got["identity"] != "bob" || got["expires_at"] != "2026-11-25T13:30:00Z" {
		t.Errorf("json %v", got)
	}
	if _, err := verify(t, got["token"], "demo", 0); err != nil {
		t.Error(err)
	}
}

func TestTokenUsageErrors(t *testing.T) {
	key := []string{"--api-key", testKey + ":" + testSecret}
	// ok returns valid arguments followed by more, in a fresh slice.
	ok := func(more ...string) []string {
		return append(append([]string{"--room", "r", "--identity", "i"}, key...), more...)
	}
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string // in the one stderr line
	}{
		{name: "no room is refused", args: append([]string{"--identity", "i"}, key...), want: "--room is required"},
		{name: "an invalid room is refused", args: append([]string{"--room", "a/b", "--identity", "i"}, key...), want: "--room"},
		{name: "no identity is refused", args: append([]string{"--room", "r"}, key...), want: "--identity is required"},
		{name: "an identity with a space is refused", args: append([]string{"--room", "r", "--identity", "a b"}, key...), want: "--identity"},
		{name: "a long name is refused", args: ok("--name", strings.Repeat("n", 65)), want: "--name"},
		{name: "a zero ttl is refused", args: ok("--ttl", "0s"), want: "--ttl"},
		{name: "a ttl over 30 days is refused", args: ok("--ttl", "721h"), want: "--ttl"},
		{name: "a bad ttl is refused", args: ok("--ttl", "soon"), want: "-ttl: parse error"},
		{name: "no key is refused", args: []string{"--room", "r", "--identity", "i"}, want: "no API key"},
		{name: "--api-key with --key is refused", args: ok("--key", "k"), want: "not both"},
		{name: "--key without --secret is refused", args: []string{"--room", "r", "--identity", "i", "--key", testKey}, want: "go together"},
		{name: "a short secret is refused without echoing it", args: []string{"--room", "r", "--identity", "i", "--api-key", "APIdemo:tooshortsecret"}, want: "at least 32"},
		{name: "a bad key in the environment is refused", env: map[string]string{envAPIKey: "nocolon"}, args: []string{"--room", "r", "--identity", "i"}, want: envAPIKey},
		{name: "an unknown flag is refused", args: ok("--rooms", "x"), want: "flag provided but not defined"},
		{name: "a positional argument is refused", args: ok("extra"), want: "unexpected argument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runToken(t, tt.env, tt.args...)
			if code != exitUsage {
				t.Fatalf("exit %d, want %d (stdout %q)", code, exitUsage, out)
			}
			if out != "" {
				t.Errorf("stdout %q, want nothing", out)
			}
			if !strings.HasPrefix(errOut, "peercall token: ") || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, tt.want) {
				t.Errorf("stderr %q: want one line with %q", errOut, tt.want)
			}
			if strings.Contains(errOut, "tooshortsecret") || strings.Contains(errOut, testSecret) {
				t.Errorf("stderr %q echoes a secret", errOut)
			}
		})
	}
}

func TestTokenHelpExitsZero(t *testing.T) {
	code, out, _ := runToken(t, nil, "-h")
	if code != 0 || !strings.Contains(out, "Usage: peercall token") || !strings.Contains(out, "-identity") {
		t.Fatalf("exit %d, stdout %q", code, out)
	}
}
