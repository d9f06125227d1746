package auth

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/peercall/peercall/protocol"
)

// Mint signs c with HS256 and secret, as API key key, and returns the
// token. It sets c.Issuer to key and c.IssuedAt to now if unset.
// c.ExpiresAt, c.Subject (the identity) and c.Room are required, and the
// claims must pass the checks Verify makes, so Mint never returns a token a
// server would refuse as malformed.
func Mint(key string, secret []byte, c Claims) (string, error) {
	if err := checkKey(key, secret); err != nil {
		return "", err
	}
	if c.Issuer != "" && c.Issuer != key {
		return "", fmt.Errorf("auth: mint: iss %q is not the signing key %q", c.Issuer, key)
	}
	c.Issuer = key
	if c.ExpiresAt == nil {
		return "", errors.New("auth: mint: ExpiresAt is required")
	}
	if c.IssuedAt == nil {
		c.IssuedAt = jwt.NewNumericDate(time.Now())
	}
	if err := c.validate(); err != nil {
		return "", fmt.Errorf("auth: mint: %w", err)
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(secret)
	if err != nil {
		return "", fmt.Errorf("auth: mint: %w", err)
	}
	if len(tok) > protocol.MaxTokenLen {
		return "", fmt.Errorf("auth: mint: token is %d bytes, over the %d-byte limit", len(tok), protocol.MaxTokenLen)
	}
	return tok, nil
}
