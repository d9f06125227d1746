package auth

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestMint(t *testing.T) {
	tests := []struct {
		name    string
		key     string
		secret  string
		claims  func(c *Claims)
		wantErr bool
	}{
		{name: "valid claims mint a token that verifies", key: testKey, secret: testSecret},
		{name: "an iss equal to the key is kept", key: testKey, secret: testSecret, claims: func(c *Claims) { c.Issuer = testKey }},
		{name: "an iss other than the key is refused", key: testKey, secret: testSecret, claims: func(c *Claims) { c.Issuer = "other" }, wantErr: true},
		{name: "a short secret is refused", key: testKey, secret: "short", wantErr: true},
		{name: "a bad key is refused", key: "a b", secret: testSecret, wantErr: true},
		{name: "claims without exp are refused", key: testKey, secret: testSecret, claims: func(c *Claims) { c.ExpiresAt = nil }, wantErr: true},
		{name: "claims without identity are refused", key: testKey, secret: testSecret, claims: func(c *Claims) { c.Subject = "" }, wantErr: true},
		{name: "claims with an invalid room are refused", key: testKey, secret: testSecret, claims: func(c *Claims) { c.Room = "a/b" }, wantErr: true},
		{name: "claims with a huge jti are refused as too long", key: testKey, secret: testSecret, claims: func(c *Claims) { c.ID = strings.Repeat("j", 4096) }, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testClaims()
			c.Issuer = ""
			c.IssuedAt = nil
			if tt.claims != nil {
				tt.claims(&c)
			}
			tok, err := Mint(tt.key, []byte(tt.secret), c)
			if tt.wantErr {
				if err == nil {
					t.Fatal("Mint succeeded")
				}
				if strings.Contains(err.Error(), testSecret) {
					t.Errorf("error %q contains the secret", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Mint: %v", err)
			}
			got, err := testVerifier().Verify(tok, testRoom)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if got.Issuer != testKey || got.IssuedAt == nil {
				t.Errorf("iss %q iat %v: Mint should set both", got.Issuer, got.IssuedAt)
			}
		})
	}
}

func TestMintedHeaderIsHS256JWT(t *testing.T) {
	c := testClaims()
	c.ExpiresAt = jwt.NewNumericDate(time.Now().Add(time.Hour))
	tok, err := Mint(testKey, []byte(testSecret), c)
	if err != nil {
		t.Fatal(err)
	}
	// {"alg":"HS256","typ":"JWT"}
	if h := strings.SplitN(tok, ".", 2)[0]; h != "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9" {
		t.Errorf("header %q", h)
	}
}

func TestMintErrorsForBadKeysWrapErrInvalidAPIKey(t *testing.T) {
	_, err := Mint(testKey, []byte("short"), testClaims())
	if !errors.Is(err, ErrInvalidAPIKey) {
		t.Fatalf("err = %v", err)
	}
}
