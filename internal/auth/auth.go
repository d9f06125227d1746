// Package auth implements peercall's access tokens: JWTs signed with HS256
// by an API key's secret, that admit one identity to one room with a set of
// grants.
//
// A backend that owns the API key mints a token (Mint, or any JWT library)
// and hands it to its user's client, which sends it in join.token. A server
// in token mode checks it with a Verifier before admitting the join.
//
// The token's header is {"alg":"HS256","typ":"JWT"}; its claims are:
//
//	iss   API key that signed it; selects the secret (required)
//	sub   participant identity (required; see ValidIdentity)
//	exp   expiry, Unix seconds (required)
//	nbf   not before, Unix seconds (optional)
//	iat   issued at (optional, informational)
//	jti   token ID (optional, informational)
//	room  the one room it admits to (required; exact name, no wildcards)
//	name  display name (optional)
//	grants {"publish":bool,"screen_share":bool,"host":bool}; absent is false
//
// docs/auth.md describes the modes, the claims and how to mint tokens from
// other languages.
package auth

import (
	"fmt"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"

	"github.com/peercall/peercall/protocol"
)

// Algorithm is the only signing algorithm peercall issues and accepts.
const Algorithm = "HS256"

// MaxIdentityLen is the longest identity (sub claim), in bytes.
const MaxIdentityLen = 128

// Grants are what a token allows its holder beyond joining.
type Grants struct {
	// Publish: may send audio and video.
	Publish bool `json:"publish"`
	// ScreenShare: may share a screen.
	ScreenShare bool `json:"screen_share"`
	// Host: may lock the room, admit or deny knockers, remove participants
	// and ask everyone to mute.
	Host bool `json:"host"`
}

// Claims are the claims of a peercall access token.
type Claims struct {
	// RegisteredClaims: Issuer is the API key, Subject the identity;
	// ExpiresAt is required; NotBefore is honoured; IssuedAt and ID are
	// informational. Audience is ignored.
	jwt.RegisteredClaims
	// Room is the exact room name the token admits to.
	Room string `json:"room"`
	// Name is the display name; empty lets the client choose.
	Name string `json:"name,omitempty"`
	// Grants are the holder's permissions in the room.
	Grants Grants `json:"grants"`
}

// Identity returns the participant identity, the sub claim.
func (c *Claims) Identity() string { return c.Subject }

// ValidIdentity reports whether s is an acceptable identity: 1 to
// MaxIdentityLen characters from A-Z a-z 0-9 and . _ ~ - @ : + = |. That
// admits user IDs, UUIDs, e-mail addresses and provider IDs such as
// "google-oauth2|1234" while keeping identities safe to log and show.
func ValidIdentity(s string) bool {
	if len(s) == 0 || len(s) > MaxIdentityLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '.' || c == '_' || c == '~' || c == '-' || c == '@' ||
			c == ':' || c == '+' || c == '=' || c == '|':
		default:
			return false
		}
	}
	return true
}

// validate checks the claims that Mint and Verify require beyond the
// registered ones. Its messages are safe to show to a client.
func (c *Claims) validate() error {
	if c.Room == "" {
		return fmt.Errorf("no room claim")
	}
	if !protocol.ValidRoomName(c.Room) {
		return fmt.Errorf("room claim is not a valid room name")
	}
	if c.Subject == "" {
		return fmt.Errorf("no sub claim (identity)")
	}
	if !ValidIdentity(c.Subject) {
		return fmt.Errorf("sub claim (identity) must be 1 to %d characters of A-Z a-z 0-9 . _ ~ - @ : + = |", MaxIdentityLen)
	}
	if len(c.Name) > protocol.MaxDisplayNameLen || !utf8.ValidString(c.Name) {
		return fmt.Errorf("name claim must be at most %d bytes of UTF-8", protocol.MaxDisplayNameLen)
	}
	return nil
}
