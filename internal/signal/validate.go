package signal

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/peercall/peercall/protocol"
)

func validateJoin(j *protocol.Join) (name string, err error) {
	if !protocol.ValidRoomName(j.Room) {
		return "", fmt.Errorf("room name %q is invalid: use 1 to %d characters from A-Z a-z 0-9 . _ ~ -", truncate(j.Room, 80), protocol.MaxRoomNameLen)
	}
	if len(j.Token) > protocol.MaxTokenLen {
		return "", fmt.Errorf("token longer than %d bytes", protocol.MaxTokenLen)
	}
	if len(j.Resume) > protocol.MaxTokenLen {
		return "", fmt.Errorf("resume token longer than %d bytes", protocol.MaxTokenLen)
	}
	return validateName(j.Name)
}

// validateName trims a display name and checks it is printable UTF-8 of at
// most protocol.MaxDisplayNameLen bytes. An empty name becomes "Guest".
func validateName(s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", fmt.Errorf("display name is not valid UTF-8")
	}
	s = strings.TrimSpace(s)
	if len(s) > protocol.MaxDisplayNameLen {
		return "", fmt.Errorf("display name longer than %d bytes", protocol.MaxDisplayNameLen)
	}
	for _, r := range s {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || unicode.Is(unicode.Bidi_Control, r) {
			return "", fmt.Errorf("display name contains control characters")
		}
	}
	if s == "" {
		s = "Guest"
	}
	return s, nil
}
