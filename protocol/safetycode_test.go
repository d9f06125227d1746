package protocol

import "testing"

func TestSafetyCodeIsSymmetricAndMatchesTheSpec(t *testing.T) {
	a := "6B:8C:2F:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC"
	b := CertificateFingerprint([]byte("certificate b"))
	ab, ba := SafetyCode(a, b), SafetyCode(b, a)
	if ab != ba {
		t.Fatalf("order matters: %q vs %q", ab, ba)
	}
	if len(ab) != 23 {
		t.Fatalf("code %q is not four groups of five digits", ab)
	}
	// A fixed vector for other implementations (docs/security.md),
	// computed independently with Python's hashlib.
	if got := SafetyCode("BB", "aa"); got != "88383 96239 13834 27019" {
		t.Fatalf("SafetyCode(BB, aa) = %q", got)
	}
	if SafetyCode(a, "cc") == ab {
		t.Fatal("a different certificate gives the same code")
	}
}
