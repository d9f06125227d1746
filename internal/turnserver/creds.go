package turnserver

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // the TURN REST scheme is defined with HMAC-SHA1.
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// RESTCredentials mints TURN REST API credentials, the scheme coturn calls
// use-auth-secret (draft-uberti-behave-turn-rest): the username is
// "<unix-expiry>:<user>" and the password is
// base64(HMAC-SHA1(secret, username)). Any TURN server configured with the
// same shared secret accepts them until expires. It needs no Server, so an
// operator tool or a test can mint credentials for coturn.
func RESTCredentials(secret, user string, expires time.Time) (username, password string) {
	username = strconv.FormatInt(expires.Unix(), 10) + ":" + user
	return username, restPassword(secret, username)
}

// ParseRESTUsername splits a REST username "<unix-expiry>:<user>" into its
// user and expiry. The user may itself contain colons; it may not be empty.
// It returns an error wrapping ErrMalformedUsername otherwise.
func ParseRESTUsername(username string) (user string, expires time.Time, err error) {
	ts, user, ok := strings.Cut(username, ":")
	if !ok || user == "" || ts == "" {
		return "", time.Time{}, fmt.Errorf("%w: %q", ErrMalformedUsername, username)
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || strings.TrimLeft(ts, "0123456789") != "" {
		return "", time.Time{}, fmt.Errorf("%w: %q", ErrMalformedUsername, username)
	}
	return user, time.Unix(sec, 0), nil
}

// VerifyRESTCredentials checks a REST username and password against secret
// at time now. It returns the user part and expiry, or an error wrapping
// ErrMalformedUsername, ErrCredentialsExpired or ErrWrongPassword.
// Credentials stay valid through the second of their expiry.
func VerifyRESTCredentials(secret, username, password string, now time.Time) (user string, expires time.Time, err error) {
	user, expires, err = checkRESTUsername(username, now)
	if err != nil {
		return "", time.Time{}, err
	}
	if !hmac.Equal([]byte(password), []byte(restPassword(secret, username))) {
		return "", time.Time{}, fmt.Errorf("%w for %q", ErrWrongPassword, username)
	}
	return user, expires, nil
}

// checkRESTUsername parses username and checks its expiry against now.
func checkRESTUsername(username string, now time.Time) (string, time.Time, error) {
	user, expires, err := ParseRESTUsername(username)
	if err != nil {
		return "", time.Time{}, err
	}
	if now.Unix() > expires.Unix() {
		return "", time.Time{}, fmt.Errorf("%w: %q expired at %s", ErrCredentialsExpired, username, expires.UTC().Format(time.RFC3339))
	}
	return user, expires, nil
}

// restPassword is base64(HMAC-SHA1(secret, username)).
func restPassword(secret, username string) string {
	mac := hmac.New(sha1.New, []byte(secret))
	mac.Write([]byte(username)) // hash.Hash writes never fail
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}
