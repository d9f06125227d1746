package auth

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/peercall/peercall/protocol"
)

// DefaultLeeway is the clock skew Verify tolerates on exp and nbf.
const DefaultLeeway = 30 * time.Second

// Verifier checks access tokens. Its zero value refuses every token (it
// knows no keys). It is safe for concurrent use if its fields are not
// changed after the first Verify.
type Verifier struct {
	// Keys are the API keys the server accepts; a token's iss selects one.
	Keys Keys
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Leeway is the clock skew tolerated on exp and nbf. Zero means
	// DefaultLeeway; a negative value means none.
	Leeway time.Duration
}

// Verify checks token and returns its claims if it admits its holder to
// room. The token must be at most protocol.MaxTokenLen bytes, signed with
// HS256 by the secret of the API key named in its iss, unexpired (exp is
// required), past its nbf if it has one, and carry a valid identity (sub)
// and a room claim equal to room.
//
// Every error wraps exactly one of ErrMissing, ErrMalformed, ErrExpired,
// ErrNotYetValid, ErrBadSignature, ErrUnknownKey and ErrWrongRoom, and its
// text is safe to send to the client. The signature is checked before any
// claim, so a forged token learns nothing about expiry or room.
func (v *Verifier) Verify(token, room string) (*Claims, error) {
	if token == "" {
		return nil, ErrMissing
	}
	if len(token) > protocol.MaxTokenLen {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrMalformed, protocol.MaxTokenLen)
	}
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	leeway := v.Leeway
	if leeway == 0 {
		leeway = DefaultLeeway
	} else if leeway < 0 {
		leeway = 0
	}
	p := jwt.NewParser(
		jwt.WithValidMethods([]string{Algorithm}),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(leeway),
		jwt.WithTimeFunc(now),
		jwt.WithStrictDecoding(),
	)
	c := new(Claims)
	if _, err := p.ParseWithClaims(token, c, v.key); err != nil {
		return nil, mapError(err, c)
	}
	if err := c.validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if c.Room != room {
		return nil, fmt.Errorf("%w: it admits to room %q, not %q", ErrWrongRoom, c.Room, room)
	}
	return c, nil
}

// key is the jwt.Keyfunc: it picks the secret by the (not yet verified)
// iss claim.
func (v *Verifier) key(t *jwt.Token) (any, error) {
	c, ok := t.Claims.(*Claims)
	if !ok || c.Issuer == "" {
		return nil, &keyError{fmt.Errorf("%w: no iss claim (API key)", ErrUnknownKey)}
	}
	secret, ok := v.Keys[c.Issuer]
	if !ok || len(secret) == 0 {
		if ValidAPIKey(c.Issuer) {
			return nil, &keyError{fmt.Errorf("%w: %q is not configured on this server", ErrUnknownKey, c.Issuer)}
		}
		return nil, &keyError{ErrUnknownKey}
	}
	return secret, nil
}

// keyError carries key's error through the jwt package, which wraps it.
type keyError struct{ err error }

func (e *keyError) Error() string { return e.err.Error() }
func (e *keyError) Unwrap() error { return e.err }

// mapError turns a jwt error into one of ours, with a client-safe detail.
// c holds the claims as decoded, for the times in the detail.
func mapError(err error, c *Claims) error {
	var ke *keyError
	switch {
	case errors.As(err, &ke):
		return ke.err // from key, wrapped by jwt
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		if errors.Is(err, jwt.ErrSignatureInvalid) {
			return fmt.Errorf("%w: it does not match the API key's secret", ErrBadSignature)
		}
		return fmt.Errorf("%w: only %s is accepted", ErrBadSignature, Algorithm)
	case errors.Is(err, jwt.ErrTokenExpired):
		if c.ExpiresAt != nil {
			return fmt.Errorf("%w at %s", ErrExpired, c.ExpiresAt.UTC().Format(time.RFC3339))
		}
		return ErrExpired
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		if c.NotBefore != nil {
			return fmt.Errorf("%w: valid from %s", ErrNotYetValid, c.NotBefore.UTC().Format(time.RFC3339))
		}
		return ErrNotYetValid
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return fmt.Errorf("%w: no exp claim (expiry)", ErrMalformed)
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		// An alg header that is missing or names no known method.
		return fmt.Errorf("%w: only %s is accepted", ErrBadSignature, Algorithm)
	default:
		// ErrTokenMalformed and anything unforeseen.
		return fmt.Errorf("%w: not a signed JWT with valid JSON claims", ErrMalformed)
	}
}
