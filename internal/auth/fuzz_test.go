package auth

import (
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// FuzzVerify feeds arbitrary tokens to Verify. It must never panic, must
// return claims only for a token that really admits to the room, and every
// error must wrap one sentinel and be safe to show. The seeds in
// testdata/fuzz/FuzzVerify (a valid token, expired, alg none, tampered,
// huge numbers, garbage) run as part of go test.
func FuzzVerify(f *testing.F) {
	f.Add(hs256(f, testClaims()))
	f.Add("")
	f.Add("e30.e30.")
	v := testVerifier()
	f.Fuzz(func(t *testing.T, token string) {
		c, err := v.Verify(token, testRoom)
		if err != nil {
			if c != nil {
				t.Fatalf("claims %+v with error %v", c, err)
			}
			checkSafeError(t, err, token)
			return
		}
		if c == nil {
			t.Fatal("nil claims and nil error")
		}
		if c.Room != testRoom || !ValidIdentity(c.Subject) {
			t.Fatalf("accepted claims %+v", c)
		}
		if _, ok := v.Keys[c.Issuer]; !ok {
			t.Fatalf("accepted iss %q", c.Issuer)
		}
		if c.ExpiresAt == nil || c.ExpiresAt.Add(DefaultLeeway).Before(testNow) {
			t.Fatalf("accepted exp %v", c.ExpiresAt)
		}
		if len(token) > 4096 {
			t.Fatalf("accepted a %d-byte token", len(token))
		}
	})
}

// FuzzMintVerify checks that whatever Mint signs, Verify accepts with the
// same claims.
func FuzzMintVerify(f *testing.F) {
	f.Add("demo", "alice", "Alice", int64(3600), true, false, true)
	f.Add("a", "x|y", "", int64(1), false, false, false)
	f.Fuzz(func(t *testing.T, room, identity, name string, ttlSec int64, publish, screen, host bool) {
		ttl := time.Duration(ttlSec%(400*24*3600)) * time.Second // no overflow
		in := Claims{
			RegisteredClaims: jwt.RegisteredClaims{
				Subject:   identity,
				ExpiresAt: jwt.NewNumericDate(testNow.Add(ttl)),
				IssuedAt:  jwt.NewNumericDate(testNow),
			},
			Room:   room,
			Name:   name,
			Grants: Grants{Publish: publish, ScreenShare: screen, Host: host},
		}
		tok, err := Mint(testKey, []byte(testSecret), in)
		if err != nil {
			return
		}
		out, err := testVerifier().Verify(tok, room)
		if ttl <= 0 {
			return // expired, or within the leeway
		}
		if err != nil {
			t.Fatalf("Verify of a minted token: %v", err)
		}
		if out.Subject != identity || out.Room != room || out.Name != name || out.Grants != in.Grants || out.Issuer != testKey {
			t.Fatalf("claims changed: in %+v, out %+v", in, out)
		}
	})
}
