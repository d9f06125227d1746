package auth

import (
	"fmt"
	"strings"
)

// API key limits.
const (
	// MinSecretLen is the shortest secret accepted, in bytes. RFC 7518
	// section 3.2 requires an HS256 key at least as long as the hash
	// output, 256 bits; a shorter secret could be brute-forced offline
	// from any one token. `openssl rand -hex 32` makes a good one.
	MinSecretLen = 32
	// MaxSecretLen bounds a secret, in bytes; longer ones add nothing.
	MaxSecretLen = 1024
	minKeyLen    = 3
	maxKeyLen    = 64
)

// Keys maps API keys to their secrets. A Verifier only reads it, so one Keys
// may be shared by concurrent verifiers as long as nobody changes it.
type Keys map[string][]byte

// ValidAPIKey reports whether s is an acceptable API key (the public half,
// sent in every token as iss): 3 to 64 characters from A-Z a-z 0-9 _ -.
func ValidAPIKey(s string) bool {
	if len(s) < minKeyLen || len(s) > maxKeyLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '_' || c == '-':
		default:
			return false
		}
	}
	return true
}

// ParseAPIKey splits "KEY:SECRET", the form of --api-key, at the first
// colon and checks both halves. The secret is the literal bytes after the
// colon (it is not base64-decoded). Errors wrap ErrInvalidAPIKey and never
// contain the secret.
func ParseAPIKey(s string) (key string, secret []byte, err error) {
	key, sec, ok := strings.Cut(s, ":")
	if !ok {
		return "", nil, fmt.Errorf("%w: want KEY:SECRET", ErrInvalidAPIKey)
	}
	if err := checkKey(key, []byte(sec)); err != nil {
		return "", nil, err
	}
	return key, []byte(sec), nil
}

// ParseAPIKeys parses each "KEY:SECRET" of a repeated --api-key (or the
// YAML api_keys list) into Keys. A key given twice is an error.
func ParseAPIKeys(list []string) (Keys, error) {
	keys := make(Keys, len(list))
	for _, s := range list {
		key, secret, err := ParseAPIKey(s)
		if err != nil {
			return nil, err
		}
		if _, dup := keys[key]; dup {
			return nil, fmt.Errorf("%w: API key %q given twice", ErrInvalidAPIKey, key)
		}
		keys[key] = secret
	}
	return keys, nil
}

func checkKey(key string, secret []byte) error {
	if !ValidAPIKey(key) {
		// The key is not secret, but a malformed one may be a pasted
		// secret; do not echo it.
		return fmt.Errorf("%w: the key (before the colon) must be %d to %d characters of A-Z a-z 0-9 _ -", ErrInvalidAPIKey, minKeyLen, maxKeyLen)
	}
	if len(secret) < MinSecretLen {
		return fmt.Errorf("%w: the secret for key %q is %d bytes; use at least %d (e.g. openssl rand -hex 32)", ErrInvalidAPIKey, key, len(secret), MinSecretLen)
	}
	if len(secret) > MaxSecretLen {
		return fmt.Errorf("%w: the secret for key %q is longer than %d bytes", ErrInvalidAPIKey, key, MaxSecretLen)
	}
	return nil
}
