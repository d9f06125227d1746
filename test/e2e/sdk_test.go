package e2e

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"github.com/peercall/peercall/internal/browsertest"
	"github.com/peercall/peercall/internal/servertest"
	"github.com/peercall/peercall/protocol"
)

// TestSDKUnits checks the JS SDK's pure functions in the browser, against
// the Go definitions where there is one.
func TestSDKUnits(t *testing.T) {
	srv := servertest.Start(t)
	b := browsertest.Start(t)
	p := newPage(t, b, browsertest.Named("units"))
	p.Navigate(srv.URL + "/example/")
	p.Eval(`import('/sdk/index.js').then((m) => { window.sdk = m; return true; })`, nil)

	t.Run("room names are valid exactly when the server accepts them", func(t *testing.T) {
		names := []string{"a", "amber-otter-k3m9qz", "A.b_c~d-e", strings.Repeat("x", 64), strings.Repeat("x", 65),
			"", "has space", "slash/es", "ümlaut", "percent%20", "semi;colon", "tab\t", "dot.", "~"}
		for _, n := range names {
			var got bool
			p.Eval(fmt.Sprintf(`window.sdk.validRoomName(%s)`, mustJSON(n)), &got)
			if want := protocol.ValidRoomName(n); got != want {
				t.Errorf("validRoomName(%q) = %v, Go says %v", n, got, want)
			}
		}
	})

	t.Run("stats become rates, loss and a quality grade", func(t *testing.T) {
		var got struct {
			First, Second struct {
				RTTMs         *float64 `json:"rttMs"`
				LossPercent   float64
				InKbps        float64
				OutKbps       float64
				FramesDecoded int
				Quality       string
				CandidateType string
			}
		}
		p.Eval(`(() => {
			const report = (bytesIn, bytesOut, recv, lost, frames, rtt) => new Map([
				['T', { id: 'T', type: 'transport', selectedCandidatePairId: 'CP' }],
				['CP', { id: 'CP', type: 'candidate-pair', localCandidateId: 'L', currentRoundTripTime: rtt }],
				['L', { id: 'L', type: 'local-candidate', candidateType: 'relay' }],
				['IV', { id: 'IV', type: 'inbound-rtp', kind: 'video', bytesReceived: bytesIn, packetsReceived: recv, packetsLost: lost, framesDecoded: frames, frameWidth: 640, frameHeight: 480 }],
				['OV', { id: 'OV', type: 'outbound-rtp', kind: 'video', bytesSent: bytesOut }],
			]);
			const a = window.sdk.reduceStats(report(0, 0, 0, 0, 0, 0.02), null);
			a.counters.t -= 1000; // pretend one second passed
			const b = window.sdk.reduceStats(report(125000, 250000, 90, 10, 30, 0.2), a.counters);
			return { first: a.stats, second: b.stats };
		})()`, &got)
		if got.First.Quality != "good" || got.First.RTTMs == nil || *got.First.RTTMs != 20 {
			t.Errorf("first sample: %+v; want quality good, rtt 20 ms", got.First)
		}
		s := got.Second
		if s.InKbps < 990 || s.InKbps > 1010 || s.OutKbps < 1980 || s.OutKbps > 2020 {
			t.Errorf("rates %v in, %v out kbit/s; want about 1000 and 2000", s.InKbps, s.OutKbps)
		}
		if s.LossPercent != 10 || s.FramesDecoded != 30 || s.CandidateType != "relay" {
			t.Errorf("second sample %+v; want 10%% loss, 30 frames, relay", s)
		}
		if s.Quality != "poor" {
			t.Errorf("quality at 200 ms and 10%% loss = %s, want poor", s.Quality)
		}
	})

	t.Run("the safety code matches the test vector of docs/security.md", func(t *testing.T) {
		for _, c := range []struct{ a, b, want string }{
			{"aa", "BB", "88383 96239 13834 27019"},
			{"BB", "aa", "88383 96239 13834 27019"}, // order does not matter
			{"A:A", "b:b", "88383 96239 13834 27019"},
		} {
			var got string
			p.Eval(fmt.Sprintf(`window.sdk.safetyCodeFromFingerprints(%q, %q)`, c.a, c.b), &got)
			if got != c.want {
				t.Errorf("safetyCodeFromFingerprints(%q, %q) = %q, want %q", c.a, c.b, got, c.want)
			}
		}
		// Random fingerprints, as browsers write them: the Go definition agrees.
		for i := 0; i < 5; i++ {
			a, b := make([]byte, 32), make([]byte, 32)
			rand.Read(a)
			rand.Read(b)
			fa := strings.ToUpper(strings.Join(splitPairs(hex.EncodeToString(a)), ":"))
			fb := hex.EncodeToString(b)
			var got string
			p.Eval(fmt.Sprintf(`window.sdk.safetyCodeFromFingerprints(%q, %q)`, fa, fb), &got)
			if want := protocol.SafetyCode(fa, fb); got != want {
				t.Errorf("safetyCodeFromFingerprints(%s, %s) = %q, Go says %q", fa, fb, got, want)
			}
		}
		// From getStats: the transport's certificates, SHA-256 fingerprints
		// with colons, as Chrome reports them.
		var got string
		p.Eval(`(async () => {
			const report = new Map([
				['T', { id: 'T', type: 'transport', dtlsState: 'connected', localCertificateId: 'CL', remoteCertificateId: 'CR' }],
				['CL', { id: 'CL', type: 'certificate', fingerprint: 'AA', fingerprintAlgorithm: 'sha-256' }],
				['CR', { id: 'CR', type: 'certificate', fingerprint: 'bb', fingerprintAlgorithm: 'sha-256' }],
			]);
			return window.sdk.safetyCodeOf({ getStats: async () => report });
		})()`, &got)
		if want := "88383 96239 13834 27019"; got != want {
			t.Errorf("safetyCodeOf(stats) = %q, want %q", got, want)
		}

		// Stats without the remote certificate (Chrome caches certificate
		// stats from before the handshake): the DTLS transport's remote
		// certificate is used instead.
		der := make([]byte, 300)
		rand.Read(der)
		p.Eval(fmt.Sprintf(`(async () => {
			const report = new Map([
				['T', { id: 'T', type: 'transport', dtlsState: 'connected', localCertificateId: 'CL' }],
				['CL', { id: 'CL', type: 'certificate', fingerprint: 'AA:01', fingerprintAlgorithm: 'sha-256' }],
			]);
			const der = Uint8Array.from(atob(%q), (c) => c.charCodeAt(0)).buffer;
			const transport = { state: 'connected', getRemoteCertificates: () => [der] };
			return window.sdk.safetyCodeOf({ getStats: async () => report, getSenders: () => [{ transport }], getReceivers: () => [] });
		})()`, base64.StdEncoding.EncodeToString(der)), &got)
		if want := protocol.SafetyCode("aa01", protocol.CertificateFingerprint(der)); got != want {
			t.Errorf("safetyCodeOf(stats without the remote certificate) = %q, want %q", got, want)
		}
	})

	t.Run("byte counts read naturally", func(t *testing.T) {
		for n, want := range map[int]string{512: "512 B", 1536: "1.5 KB", 3 << 20: "3.0 MB", 100 << 20: "100.0 MB"} {
			var got string
			p.Eval(fmt.Sprintf(`window.sdk.formatBytes(%d)`, n), &got)
			if got != want {
				t.Errorf("formatBytes(%d) = %q, want %q", n, got, want)
			}
		}
	})

	t.Run("media errors are classified by name", func(t *testing.T) {
		for name, want := range map[string]string{
			"NotAllowedError": "media_not_allowed", "NotFoundError": "media_not_found",
			"NotReadableError": "media_not_readable", "TypeError": "media_failed",
		} {
			var got string
			p.Eval(fmt.Sprintf(`window.sdk.describeMediaError(new DOMException('x', %q), 'camera').code`, name), &got)
			if got != want {
				t.Errorf("%s → %s, want %s", name, got, want)
			}
		}
	})
}

// splitPairs splits hex digits into pairs, as in "AB:CD:…" fingerprints.
func splitPairs(s string) []string {
	var out []string
	for i := 0; i+2 <= len(s); i += 2 {
		out = append(out, s[i:i+2])
	}
	return out
}
