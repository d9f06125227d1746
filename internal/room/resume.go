package room

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
	"time"
)

// Resume tokens let a participant whose connection dropped come back as
// itself. A token is self-verifying, so a restarted server (or another
// node) with the same session secret honours it:
//
//	v1.<base64url(room NUL id NUL unix-expiry)>.<base64url(HMAC-SHA256(secret, payload))>
type resumeSigner struct {
	key []byte
	ttl time.Duration
}

const resumeTokenVersion = "v1"

func (s resumeSigner) sign(room, id string, now time.Time) string {
	payload := room + "\x00" + id + "\x00" + strconv.FormatInt(now.Add(s.ttl).Unix(), 10)
	enc := base64.RawURLEncoding
	return resumeTokenVersion + "." + enc.EncodeToString([]byte(payload)) + "." + enc.EncodeToString(s.mac(payload))
}

// verify returns the participant ID a token vouches for in room, or false
// if the token is malformed, forged, expired or for another room.
func (s resumeSigner) verify(token, room string, now time.Time) (string, bool) {
	if len(token) > 512 {
		return "", false
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 || parts[0] != resumeTokenVersion {
		return "", false
	}
	enc := base64.RawURLEncoding
	payload, err1 := enc.DecodeString(parts[1])
	mac, err2 := enc.DecodeString(parts[2])
	if err1 != nil || err2 != nil || !hmac.Equal(mac, s.mac(string(payload))) {
		return "", false
	}
	fields := strings.Split(string(payload), "\x00")
	if len(fields) != 3 || fields[0] != room || fields[1] == "" {
		return "", false
	}
	exp, err := strconv.ParseInt(fields[2], 10, 64)
	if err != nil || now.Unix() > exp {
		return "", false
	}
	return fields[1], true
}

func (s resumeSigner) mac(payload string) []byte {
	h := hmac.New(sha256.New, s.key)
	h.Write([]byte(payload))
	return h.Sum(nil)
}
