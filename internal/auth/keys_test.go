package auth

import (
	"errors"
	"strings"
	"testing"
)

func TestParseAPIKey(t *testing.T) {
	long := strings.Repeat("s", 40)
	tests := []struct {
		name       string
		in         string
		wantKey    string
		wantSecret string
		wantErr    bool
	}{
		{name: "a key and a long secret parse", in: "APIdemo:" + long, wantKey: "APIdemo", wantSecret: long},
		{name: "the secret may contain colons", in: "k_-1:" + long + ":x", wantKey: "k_-1", wantSecret: long + ":x"},
		{name: "no colon is refused", in: "APIdemo" + long, wantErr: true},
		{name: "an empty key is refused", in: ":" + long, wantErr: true},
		{name: "a two-character key is refused", in: "ab:" + long, wantErr: true},
		{name: "a key with a dot is refused", in: "a.b.c:" + long, wantErr: true},
		{name: "a 65-character key is refused", in: strings.Repeat("k", 65) + ":" + long, wantErr: true},
		{name: "a 31-byte secret is refused", in: "APIdemo:" + strings.Repeat("s", 31), wantErr: true},
		{name: "a 32-byte secret is accepted", in: "APIdemo:" + strings.Repeat("s", 32), wantKey: "APIdemo", wantSecret: strings.Repeat("s", 32)},
		{name: "a huge secret is refused", in: "APIdemo:" + strings.Repeat("s", MaxSecretLen+1), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, secret, err := ParseAPIKey(tt.in)
			if tt.wantErr {
				if !errors.Is(err, ErrInvalidAPIKey) {
					t.Fatalf("err = %v, want ErrInvalidAPIKey", err)
				}
				if strings.Contains(err.Error(), strings.Repeat("s", 31)) {
					t.Errorf("error %q echoes the secret", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if key != tt.wantKey || string(secret) != tt.wantSecret {
				t.Errorf("got %q, %q", key, secret)
			}
		})
	}
}

func TestParseAPIKeysRefusesADuplicateKey(t *testing.T) {
	s := "APIdemo:" + testSecret
	if _, err := ParseAPIKeys([]string{s, s}); !errors.Is(err, ErrInvalidAPIKey) {
		t.Fatalf("err = %v", err)
	}
	keys, err := ParseAPIKeys([]string{s, "other:" + testSecret + "x"})
	if err != nil || len(keys) != 2 || string(keys["other"]) != testSecret+"x" {
		t.Fatalf("keys %v, err %v", keys, err)
	}
}

func TestValidIdentity(t *testing.T) {
	for _, s := range []string{"alice", "alice@example.com", "google-oauth2|1234", "8c1f-9a", "a+b=c:d~e_f.g"} {
		if !ValidIdentity(s) {
			t.Errorf("ValidIdentity(%q) = false", s)
		}
	}
	for _, s := range []string{"", "a b", "a\n", "é", "a/b", `a"b`, strings.Repeat("a", MaxIdentityLen+1)} {
		if ValidIdentity(s) {
			t.Errorf("ValidIdentity(%q) = true", s)
		}
	}
}
