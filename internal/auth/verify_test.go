package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/peercall/peercall/protocol"
)

const (
	testKey    = "APIdemo"
	testSecret = "0123456789abcdef0123456789abcdef" // 32 bytes
	testRoom   = "demo"
)

// testNow is the fixed clock of the tests and the fuzz target.
var testNow = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func testVerifier() *Verifier {
	return &Verifier{
		Keys: Keys{testKey: []byte(testSecret), "other": []byte("another-secret-of-32-bytes-or-so!!")},
		Now:  func() time.Time { return testNow },
	}
}

// testClaims are valid claims for testRoom at testNow.
func testClaims() Claims {
	return Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    testKey,
			Subject:   "alice@example.com",
			ExpiresAt: jwt.NewNumericDate(testNow.Add(time.Hour)),
			IssuedAt:  jwt.NewNumericDate(testNow),
		},
		Room:   testRoom,
		Name:   "Alice",
		Grants: Grants{Publish: true, ScreenShare: true},
	}
}

// sign signs claims with any method and key, bypassing Mint's checks.
func sign(t testing.TB, m jwt.SigningMethod, key any, claims jwt.Claims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(m, claims).SignedString(key)
	if err != nil {
		t.Fatalf("signing: %v", err)
	}
	return s
}

func hs256(t testing.TB, claims jwt.Claims) string {
	return sign(t, jwt.SigningMethodHS256, []byte(testSecret), claims)
}

func TestVerify(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	valid := hs256(t, testClaims())
	with := func(f func(c *Claims)) Claims {
		c := testClaims()
		f(&c)
		return c
	}
	parts := strings.Split(valid, ".")
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(
		`{"iss":"APIdemo","sub":"mallory","exp":1795690800,"room":"demo","grants":{"publish":true,"screen_share":true,"host":true}}`)) +
		"." + parts[2]

	tests := []struct {
		name    string
		token   string
		room    string
		leeway  time.Duration
		wantErr error
	}{
		{name: "a valid token for the room is accepted", token: valid, room: testRoom},
		{name: "an empty token is missing", token: "", room: testRoom, wantErr: ErrMissing},
		{name: "a token past its exp is expired",
			token: hs256(t, with(func(c *Claims) { c.ExpiresAt = jwt.NewNumericDate(testNow.Add(-time.Minute)) })),
			room:  testRoom, wantErr: ErrExpired},
		{name: "a token expired within the leeway is accepted",
			token: hs256(t, with(func(c *Claims) { c.ExpiresAt = jwt.NewNumericDate(testNow.Add(-10 * time.Second)) })),
			room:  testRoom},
		{name: "a token expired by a second with no leeway is expired",
			token: hs256(t, with(func(c *Claims) { c.ExpiresAt = jwt.NewNumericDate(testNow.Add(-time.Second)) })),
			room:  testRoom, leeway: -1, wantErr: ErrExpired},
		{name: "a token before its nbf is not yet valid",
			token: hs256(t, with(func(c *Claims) { c.NotBefore = jwt.NewNumericDate(testNow.Add(time.Minute)) })),
			room:  testRoom, wantErr: ErrNotYetValid},
		{name: "a token whose nbf is within the leeway is accepted",
			token: hs256(t, with(func(c *Claims) { c.NotBefore = jwt.NewNumericDate(testNow.Add(10 * time.Second)) })),
			room:  testRoom},
		{name: "a token signed with another secret has a bad signature",
			token: sign(t, jwt.SigningMethodHS256, []byte("wrong-secret-wrong-secret-wrong-secret"), testClaims()),
			room:  testRoom, wantErr: ErrBadSignature},
		{name: "an expired token with a bad signature reports the signature",
			token: sign(t, jwt.SigningMethodHS256, []byte("wrong-secret-wrong-secret-wrong-secret"),
				with(func(c *Claims) { c.ExpiresAt = jwt.NewNumericDate(testNow.Add(-time.Hour)) })),
			room: testRoom, wantErr: ErrBadSignature},
		{name: "a token signed by one key and naming another has a bad signature",
			token: hs256(t, with(func(c *Claims) { c.Issuer = "other" })),
			room:  testRoom, wantErr: ErrBadSignature},
		{name: "a token with a tampered payload has a bad signature", token: tampered, room: testRoom, wantErr: ErrBadSignature},
		{name: "a token with no signature has a bad signature", token: parts[0] + "." + parts[1] + ".", room: testRoom, wantErr: ErrBadSignature},
		{name: "a token naming an unconfigured key is refused as unknown",
			token: hs256(t, with(func(c *Claims) { c.Issuer = "nobody" })),
			room:  testRoom, wantErr: ErrUnknownKey},
		{name: "a token without iss is refused as unknown",
			token: hs256(t, with(func(c *Claims) { c.Issuer = "" })),
			room:  testRoom, wantErr: ErrUnknownKey},
		{name: "a valid token for another room is the wrong room", token: valid, room: "other-room", wantErr: ErrWrongRoom},
		{name: "a token with alg none is refused",
			token: sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, testClaims()),
			room:  testRoom, wantErr: ErrBadSignature},
		{name: "a token with alg HS512 and the right secret is refused",
			token: sign(t, jwt.SigningMethodHS512, []byte(testSecret), testClaims()),
			room:  testRoom, wantErr: ErrBadSignature},
		{name: "a token with alg HS384 and the right secret is refused",
			token: sign(t, jwt.SigningMethodHS384, []byte(testSecret), testClaims()),
			room:  testRoom, wantErr: ErrBadSignature},
		{name: "a token with alg RS256 is refused",
			token: sign(t, jwt.SigningMethodRS256, rsaKey, testClaims()),
			room:  testRoom, wantErr: ErrBadSignature},
		{name: "a token with alg ES256 is refused",
			token: sign(t, jwt.SigningMethodES256, ecKey, testClaims()),
			room:  testRoom, wantErr: ErrBadSignature},
		{name: "a token with an unknown alg is refused",
			token: base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"hs256","typ":"JWT"}`)) + "." + parts[1] + "." + parts[2],
			room:  testRoom, wantErr: ErrBadSignature},
		{name: "a token without exp is malformed",
			token: hs256(t, with(func(c *Claims) { c.ExpiresAt = nil })),
			room:  testRoom, wantErr: ErrMalformed},
		{name: "a token without sub is malformed",
			token: hs256(t, with(func(c *Claims) { c.Subject = "" })),
			room:  testRoom, wantErr: ErrMalformed},
		{name: "a token whose identity has a space is malformed",
			token: hs256(t, with(func(c *Claims) { c.Subject = "alice smith" })),
			room:  testRoom, wantErr: ErrMalformed},
		{name: "a token whose identity is too long is malformed",
			token: hs256(t, with(func(c *Claims) { c.Subject = strings.Repeat("a", MaxIdentityLen+1) })),
			room:  testRoom, wantErr: ErrMalformed},
		{name: "a token without room is malformed",
			token: hs256(t, with(func(c *Claims) { c.Room = "" })),
			room:  testRoom, wantErr: ErrMalformed},
		{name: "a token for the wildcard room is malformed",
			token: hs256(t, with(func(c *Claims) { c.Room = "*" })),
			room:  testRoom, wantErr: ErrMalformed},
		{name: "a token with a too long name is malformed",
			token: hs256(t, with(func(c *Claims) { c.Name = strings.Repeat("x", protocol.MaxDisplayNameLen+1) })),
			room:  testRoom, wantErr: ErrMalformed},
		{name: "a token whose exp is a string is malformed",
			token: hs256(t, jwt.MapClaims{"iss": testKey, "sub": "a", "room": testRoom, "exp": "tomorrow"}),
			room:  testRoom, wantErr: ErrMalformed},
		{name: "garbage is malformed", token: "not a token", room: testRoom, wantErr: ErrMalformed},
		{name: "three garbage segments are malformed", token: "a.b.c", room: testRoom, wantErr: ErrMalformed},
		{name: "four segments are malformed", token: valid + ".x", room: testRoom, wantErr: ErrMalformed},
		{name: "a token over the size limit is malformed", token: valid + strings.Repeat("A", protocol.MaxTokenLen), room: testRoom, wantErr: ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := testVerifier()
			v.Leeway = tt.leeway
			c, err := v.Verify(tt.token, tt.room)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if c.Identity() != "alice@example.com" || c.Room != testRoom || c.Name != "Alice" ||
					c.Grants != (Grants{Publish: true, ScreenShare: true}) {
					t.Errorf("claims = %+v", c)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Verify error = %v, want %v", err, tt.wantErr)
			}
			if c != nil {
				t.Errorf("Verify returned claims %+v with an error", c)
			}
			t.Logf("error: %v", err)
			checkSafeError(t, err, tt.token)
		})
	}
}

// sentinels are the errors Verify may wrap.
var sentinels = []error{ErrMissing, ErrMalformed, ErrExpired, ErrNotYetValid, ErrBadSignature, ErrUnknownKey, ErrWrongRoom}

// checkSafeError checks that err wraps exactly one sentinel and shows the
// client neither a secret nor the token.
func checkSafeError(t testing.TB, err error, token string) {
	t.Helper()
	n := 0
	for _, s := range sentinels {
		if errors.Is(err, s) {
			n++
		}
	}
	if n != 1 {
		t.Errorf("error %q wraps %d sentinels, want 1", err, n)
	}
	msg := err.Error()
	for _, secret := range testVerifier().Keys {
		if strings.Contains(msg, string(secret)) {
			t.Errorf("error %q contains a secret", msg)
		}
	}
	if len(token) > 16 && strings.Contains(msg, token) {
		t.Errorf("error %q contains the token", msg)
	}
	if strings.Contains(msg, "\n") || len(msg) > 300 {
		t.Errorf("error %q is not one short line", msg)
	}
}

func TestVerifyZeroVerifierRefusesEverything(t *testing.T) {
	var v Verifier
	if _, err := v.Verify(hs256(t, testClaims()), testRoom); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("zero Verifier: %v, want ErrUnknownKey", err)
	}
}

func TestVerifyWithTheRealClockAcceptsAFreshToken(t *testing.T) {
	c := testClaims()
	c.IssuedAt = nil
	c.ExpiresAt = jwt.NewNumericDate(time.Now().Add(time.Minute))
	tok, err := Mint(testKey, []byte(testSecret), c)
	if err != nil {
		t.Fatal(err)
	}
	v := &Verifier{Keys: Keys{testKey: []byte(testSecret)}}
	if _, err := v.Verify(tok, testRoom); err != nil {
		t.Fatal(err)
	}
}

// TestVerifyAcceptsTheDocsGoSnippet mints a token the way docs/auth.md shows
// a backend doing it, with golang-jwt MapClaims, and checks it verifies.
func TestVerifyAcceptsTheDocsGoSnippet(t *testing.T) {
	now := testNow
	claims := jwt.MapClaims{
		"iss":    testKey,
		"sub":    "patient-42",
		"iat":    now.Unix(),
		"exp":    now.Add(time.Hour).Unix(),
		"room":   "clinic-7f3a",
		"name":   "",
		"grants": map[string]bool{"publish": true, "screen_share": true, "host": true},
	}
	tok := sign(t, jwt.SigningMethodHS256, []byte(testSecret), claims)
	c, err := testVerifier().Verify(tok, "clinic-7f3a")
	if err != nil {
		t.Fatal(err)
	}
	if c.Identity() != "patient-42" || c.Grants != (Grants{Publish: true, ScreenShare: true, Host: true}) {
		t.Errorf("claims %+v", c)
	}
}

// TestVerifyTreatsAbsentGrantsAsFalse pins the documented default.
func TestVerifyTreatsAbsentGrantsAsFalse(t *testing.T) {
	tok := hs256(t, jwt.MapClaims{"iss": testKey, "sub": "a", "room": testRoom, "exp": testNow.Add(time.Hour).Unix()})
	c, err := testVerifier().Verify(tok, testRoom)
	if err != nil {
		t.Fatal(err)
	}
	if c.Grants != (Grants{}) {
		t.Errorf("grants %+v, want none", c.Grants)
	}
}
