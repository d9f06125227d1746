package protocol

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
)

// SafetyCodePrefix separates safety-code hashes from any other use of
// SHA-256 over the same fingerprints.
const SafetyCodePrefix = "peercall-safety-code-v1\n"

// CertificateFingerprint is the SHA-256 of a DER certificate as 64
// lowercase hex digits: the input of SafetyCode.
func CertificateFingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// NormalizeFingerprint turns a DTLS fingerprint as SDP or getStats show it
// ("AB:CD:...") into the form SafetyCode takes (lowercase hex, no colons).
func NormalizeFingerprint(fp string) string {
	return strings.ToLower(strings.ReplaceAll(strings.TrimSpace(fp), ":", ""))
}

// SafetyCode derives the code both ends of a peer connection show, from the
// SHA-256 fingerprints of its two DTLS certificates (in either order): four
// groups of five digits, e.g. "04217 88310 51964 00735". docs/security.md
// specifies it for other implementations.
func SafetyCode(fingerprintA, fingerprintB string) string {
	fps := []string{NormalizeFingerprint(fingerprintA), NormalizeFingerprint(fingerprintB)}
	sort.Strings(fps)
	h := sha256.Sum256([]byte(SafetyCodePrefix + fps[0] + "\n" + fps[1]))
	groups := make([]string, 4)
	for i := range groups {
		groups[i] = fmt.Sprintf("%05d", binary.BigEndian.Uint32(h[4*i:])%100000)
	}
	return strings.Join(groups, " ")
}
