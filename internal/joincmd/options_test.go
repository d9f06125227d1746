package joincmd

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/peercall/peercall/internal/media"
)

func noEnv(string) string { return "" }

func TestParseArgsAppliesDefaults(t *testing.T) {
	o, err := parseArgs([]string{"--room", "demo"}, &bytes.Buffer{}, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if o.url != DefaultURL || o.name != DefaultName || o.duration != 0 || o.timeout != DefaultTimeout ||
		o.expectPeers != 0 || o.relayOnly || o.jsonOut || o.token != "" {
		t.Errorf("unexpected defaults: %+v", o)
	}
	if len(o.video.Frames) == 0 || len(o.audio.Frames) == 0 {
		t.Error("the built-in clips were not loaded")
	}
}

func TestParseArgsTakesURLAndTokenFromTheEnvironmentUnlessGiven(t *testing.T) {
	env := func(k string) string {
		return map[string]string{envURL: "https://call.example:8443", envToken: "tok"}[k]
	}
	o, err := parseArgs([]string{"--room", "demo"}, &bytes.Buffer{}, env)
	if err != nil {
		t.Fatal(err)
	}
	if o.url != "https://call.example:8443" || o.token != "tok" {
		t.Errorf("got url %q token %q from the environment", o.url, o.token)
	}
	o, err = parseArgs([]string{"--room", "demo", "--url", "ws://127.0.0.1:9", "--token", "t2"}, &bytes.Buffer{}, env)
	if err != nil {
		t.Fatal(err)
	}
	if o.url != "ws://127.0.0.1:9" || o.token != "t2" {
		t.Errorf("flags did not override the environment: url %q token %q", o.url, o.token)
	}
}

func TestParseArgsReadsAllFlags(t *testing.T) {
	dir := t.TempDir()
	video := filepath.Join(dir, "v.ivf")
	audio := filepath.Join(dir, "a.ogg")
	writeFile(t, video, media.DefaultVideo())
	writeFile(t, audio, media.DefaultAudio())
	o, err := parseArgs([]string{
		"--url", "http://127.0.0.1:1", "--room", "r.1~x", "--name", "bot", "--duration", "1m30s",
		"--relay-only", "--expect-peers", "3", "--video", video, "--audio", audio, "--json", "--timeout", "5s",
	}, &bytes.Buffer{}, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if o.url != "http://127.0.0.1:1" || o.room != "r.1~x" || o.name != "bot" || o.duration != 90*time.Second ||
		!o.relayOnly || o.expectPeers != 3 || !o.jsonOut || o.timeout != 5*time.Second {
		t.Errorf("got %+v", o)
	}
}

func TestRunRejectsBadUsageWithStatus2(t *testing.T) {
	dir := t.TempDir()
	h264 := bytes.Clone(media.DefaultVideo())
	copy(h264[8:12], "H264")
	h264Path := filepath.Join(dir, "clip.ivf")
	writeFile(t, h264Path, h264)
	oggAsVideo := filepath.Join(dir, "tone.ogg")
	writeFile(t, oggAsVideo, media.DefaultAudio())
	ivfAsAudio := filepath.Join(dir, "pattern.ivf")
	writeFile(t, ivfAsAudio, media.DefaultVideo())
	missing := filepath.Join(dir, "missing.ivf")

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"a missing --room", nil, "--room is required"},
		{"a room name with a slash", []string{"--room", "a/b"}, `--room "a/b"`},
		{"a bad --duration", []string{"--room", "demo", "--duration", "ten"}, `invalid value "ten" for flag -duration`},
		{"a negative --duration", []string{"--room", "demo", "--duration", "-1s"}, "--duration -1s: must not be negative"},
		{"a zero --timeout", []string{"--room", "demo", "--timeout", "0s"}, "--timeout 0s: must be positive"},
		{"a negative --expect-peers", []string{"--room", "demo", "--expect-peers", "-1"}, "--expect-peers -1"},
		{"an unknown flag", []string{"--room", "demo", "--bogus"}, "flag provided but not defined: -bogus"},
		{"a stray argument", []string{"--room", "demo", "extra"}, `unexpected argument "extra"`},
		{"an ftp URL", []string{"--room", "demo", "--url", "ftp://x"}, "want an http, https, ws or wss URL"},
		{"a URL without host", []string{"--room", "demo", "--url", "http://"}, "no host"},
		{"an empty --name", []string{"--room", "demo", "--name", ""}, "--name: use 1 to 64 bytes"},
		{"an unreadable --video file", []string{"--room", "demo", "--video", missing}, "open " + missing + ": no such file or directory"},
		{"an H.264 --video file", []string{"--room", "demo", "--video", h264Path}, h264Path + ": not a VP8 IVF file (fourcc H264)"},
		{"an Ogg file as --video", []string{"--room", "demo", "--video", oggAsVideo}, oggAsVideo + ": not a VP8 IVF file"},
		{"an IVF file as --audio", []string{"--room", "demo", "--audio", ivfAsAudio}, ivfAsAudio + ": not an Ogg Opus file"},
		{"a directory as --audio", []string{"--room", "demo", "--audio", dir}, "is a directory"},
	} {
		t.Run("rejects "+tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := Run(context.Background(), tc.args, &stdout, &stderr)
			if code != exitUsage {
				t.Errorf("exit status %d, want %d", code, exitUsage)
			}
			if !strings.Contains(stderr.String(), "peercall join: ") || !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("stderr %q does not contain %q", stderr.String(), tc.want)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout %q, want nothing", stdout.String())
			}
		})
	}
}

func TestRunHelpExitsZero(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := Run(context.Background(), []string{"-h"}, &stdout, &stderr); code != 0 {
		t.Errorf("exit status %d, want 0", code)
	}
	if !strings.Contains(stderr.String(), "Usage: peercall join") || !strings.Contains(stderr.String(), "-expect-peers") {
		t.Errorf("help text missing: %q", stderr.String())
	}
}

func TestRunReportsAnUnreachableServer(t *testing.T) {
	// Port 1 on loopback refuses connections at once.
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	code := Run(ctx, []string{"--url", "http://127.0.0.1:1", "--room", "demo", "--json"}, &stdout, &stderr)
	if code != exitFailed {
		t.Errorf("exit status %d, want %d; stderr %q", code, exitFailed, stderr.String())
	}
	if !strings.HasPrefix(stderr.String(), "peercall join: join http://127.0.0.1:1: ") {
		t.Errorf("stderr %q", stderr.String())
	}
	r := decodeReport(t, stdout.Bytes())
	if r.OK || r.ParticipantID != "" || len(r.Errors) != 1 || r.Room != "demo" {
		t.Errorf("report %+v", r)
	}
}

func TestMissingMediaNamesWhatIsMissing(t *testing.T) {
	got := MediaReport{Packets: 1, Bytes: 100}
	peers := []PeerReport{
		{ID: "a", Name: "alice", Video: got, Audio: got},
		{ID: "b", Name: "bob", Audio: got},
		{ID: "c", Name: ""},
	}
	for _, tc := range []struct {
		n    int
		want string
	}{
		{0, ""},
		{1, ""},
		{2, "got media from 1 of 2 expected peers (missing: bob video, c video+audio)"},
		{5, "got media from 1 of 5 expected peers (missing: bob video, c video+audio, 2 never joined)"},
	} {
		if msg := missingMedia(peers, tc.n); msg != tc.want {
			t.Errorf("missingMedia(n=%d) = %q, want %q", tc.n, msg, tc.want)
		}
	}
}

func TestReportJSONHasTheDocumentedShape(t *testing.T) {
	tr := newTracker(time.Now())
	s := newPeerStats("p1")
	s.name = "alice"
	s.iceConnected = 120 * time.Millisecond
	s.candidateType = "host"
	s.video.packets.Store(10)
	s.video.bytes.Store(12000)
	s.video.first.Store(int64(200 * time.Millisecond))
	s.firstMedia.Store(int64(190 * time.Millisecond))
	s.lastMedia.Store(int64(900 * time.Millisecond))
	tr.peers["p1"], tr.order = s, append(tr.order, s)
	tr.order = append(tr.order, newPeerStats("p2"))
	tr.order[1].left, tr.order[1].leftReason = true, "timeout"

	var buf bytes.Buffer
	r := &Report{ParticipantID: "me", Room: "demo", Peers: tr.peerReports(time.Second), OK: true, Errors: []string{}}
	if err := writeJSON(&buf, r); err != nil {
		t.Fatal(err)
	}
	want := `{"participant_id":"me","room":"demo","peers":[` +
		`{"id":"p1","name":"alice","ice_connected_ms":120,"first_media_ms":190,"candidate_type":"host",` +
		`"video":{"packets":10,"bytes":12000,"first_ms":200,"max_gap_ms":0,"loss_pct":null},"audio":{"packets":0,"bytes":0,"first_ms":null,"max_gap_ms":0,"loss_pct":null},"last_media_age_ms":100},` +
		`{"id":"p2","name":"","ice_connected_ms":null,"first_media_ms":null,"candidate_type":"",` +
		`"video":{"packets":0,"bytes":0,"first_ms":null,"max_gap_ms":0,"loss_pct":null},"audio":{"packets":0,"bytes":0,"first_ms":null,"max_gap_ms":0,"loss_pct":null},"last_media_age_ms":null,` +
		`"left":true,"left_reason":"timeout"}],"ok":true,"errors":[]}` + "\n"
	if buf.String() != want {
		t.Errorf("got  %s\nwant %s", buf.String(), want)
	}
	var sum bytes.Buffer
	writeSummary(&sum, r)
	for _, s := range []string{`joined room "demo" as participant me; 2 peer(s)`, "alice (p1) connected at 120 ms via host", "video 10 packets 11 KiB", "left: timeout"} {
		if !strings.Contains(sum.String(), s) {
			t.Errorf("summary lacks %q:\n%s", s, sum.String())
		}
	}
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLossIsEstimatedFromSequenceNumbersAcrossWrapAround(t *testing.T) {
	var k kindStats
	seq := uint16(65530)
	for i := range 100 {
		if i%10 == 3 { // lose one packet in ten
			seq++
			continue
		}
		k.sequence(seq)
		k.packets.Add(1)
		seq++
	}
	if got := k.lossPercent(); got < 9.9 || got > 10.1 {
		t.Fatalf("loss %.2f%%, want 10%%", got)
	}
}
