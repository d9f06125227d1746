package auth

import "errors"

// Errors returned by Verifier.Verify. Each is wrapped with %w and a detail;
// the whole text is safe to send to the client (it never contains a secret,
// and never the token itself). Map all of them to protocol.CodeUnauthorized.
var (
	// ErrMissing: the server is in token mode and the join has no token.
	ErrMissing = errors.New("an access token is required to join")
	// ErrMalformed: not a well-formed peercall token (not a JWT, too
	// long, bad JSON, a required claim missing or invalid).
	ErrMalformed = errors.New("malformed access token")
	// ErrExpired: the token's exp has passed (beyond the leeway).
	ErrExpired = errors.New("access token expired")
	// ErrNotYetValid: the token's nbf is still in the future (beyond the
	// leeway).
	ErrNotYetValid = errors.New("access token not valid yet")
	// ErrBadSignature: the signature does not match the key's secret, or
	// the token is not signed with HS256.
	ErrBadSignature = errors.New("access token signature is invalid")
	// ErrUnknownKey: the token's iss names no API key this server knows.
	ErrUnknownKey = errors.New("access token signed with an unknown API key")
	// ErrWrongRoom: a valid token, for another room.
	ErrWrongRoom = errors.New("access token is for another room")
)

// ErrInvalidAPIKey is returned by ParseAPIKey, ParseAPIKeys and Mint for a
// bad API key or secret. It is a configuration error, not a client's.
var ErrInvalidAPIKey = errors.New("invalid API key")
