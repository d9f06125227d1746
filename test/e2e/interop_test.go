package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"testing"
	"time"

	"github.com/peercall/peercall/internal/browsertest"
	"github.com/peercall/peercall/internal/joincmd"
	"github.com/peercall/peercall/internal/servertest"
)

// TestInteropWithGo puts a browser and `peercall join` (the Go SDK) in one
// room: the browser must decode the Go participant's video and audio, and
// the Go participant must receive the browser's. Whoever joins second makes
// the first offer, so both orders run.
func TestInteropWithGo(t *testing.T) {
	srv := servertest.Start(t)
	b := browsertest.Start(t, browsertest.WithFakeMediaUI())
	t.Run("Go joins first, the browser offers", func(t *testing.T) { interop(t, srv, b, false) })
	t.Run("the browser joins first, Go offers", func(t *testing.T) { interop(t, srv, b, true) })
}

// safetyCodeRE matches a safety code: four groups of five digits.
var safetyCodeRE = regexp.MustCompile(`^\d{5} \d{5} \d{5} \d{5}$`)

func interop(t *testing.T, srv *servertest.Server, b *browsertest.Browser, browserFirst bool) {
	room := newRoom(t, srv.URL)
	p := newPage(t, b, browsertest.Named("browser"))
	if browserFirst {
		join(t, p, srv.URL, room, "Browser")
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr bytes.Buffer
	exited := make(chan int, 1)
	go func() {
		// --duration bounds the run; the test cancels it once the browser
		// has seen and heard the Go side, which ends it as if it elapsed.
		exited <- joincmd.Run(ctx, []string{"--url", srv.URL, "--room", room, "--name", "Go bot",
			"--expect-peers", "1", "--json", "--duration", "60s"}, &stdout, &stderr)
	}()

	if !browserFirst {
		join(t, p, srv.URL, room, "Browser")
	}
	waitRemoteVideos(t, p, 1)
	p.Wait(0, "the Go participant's name and audio", `(async () => {
		const peer = [...window.peercall.room.participants.values()][0];
		if (peer.name !== 'Go bot') throw new Error('name ' + peer.name);
		let packets = 0, energy = 0;
		(await peer.pc.getStats()).forEach((s) => {
			if (s.type === 'inbound-rtp' && s.kind === 'audio') { packets += s.packetsReceived || 0; energy += s.totalAudioEnergy || 0; }
		});
		if (packets < 50 || energy <= 0) throw new Error('audio packets ' + packets + ', energy ' + energy);
		return true;
	})()`)
	// Give the Go side the same chance to receive a steady stream.
	p.Wait(0, "the browser to have sent a few seconds of media", `(async () => {
		const peer = [...window.peercall.room.participants.values()][0];
		let audio = 0, video = 0;
		(await peer.pc.getStats()).forEach((s) => {
			if (s.type === 'outbound-rtp' && s.kind === 'audio') audio += s.packetsSent || 0;
			if (s.type === 'outbound-rtp' && s.kind === 'video') video += s.packetsSent || 0;
		});
		return audio > 100 && video > 100;
	})()`)
	// The safety code of the connection, as the browser sees it: the SDK's
	// and the stats panel's. The Go side's comes in its report.
	var browserCode string
	p.Wait(0, "the browser's safety code", `[...window.peercall.room.participants.values()][0].safetyCode().then((c) => c !== null)`)
	p.Eval(`[...window.peercall.room.participants.values()][0].safetyCode()`, &browserCode)
	if !safetyCodeRE.MatchString(browserCode) {
		var stats any
		p.Eval(`(async () => { const out = []; (await [...window.peercall.room.participants.values()][0].pc.getStats()).forEach((s) => {
			if (s.type === 'transport' || s.type === 'certificate') out.push({ ...s, base64Certificate: s.base64Certificate ? s.base64Certificate.length : undefined }); }); return out; })()`, &stats)
		t.Errorf("browser's safetyCode() = %q, want four groups of five digits; stats: %s", browserCode, mustJSON(stats))
	}
	p.Click("#ctl-stats")
	p.Wait(0, "the safety code in the stats panel", fmt.Sprintf(`(() => {
		const c = document.querySelector('.stats-card .safety');
		return c && !c.hidden && c.querySelector('.safety-code').textContent === %q && /Compare this code with Go bot\./.test(c.textContent);
	})()`, browserCode))
	cancel()
	var code int
	select {
	case code = <-exited:
	case <-time.After(30 * time.Second):
		t.Fatal("peercall join did not stop after cancel")
	}
	var rep joincmd.Report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("peercall join exit %d, report %q: %v; stderr:\n%s", code, stdout.String(), err, stderr.String())
	}
	if code != 0 || !rep.OK {
		t.Errorf("peercall join exit %d, ok %v, errors %v; stderr:\n%s", code, rep.OK, rep.Errors, stderr.String())
	}
	if len(rep.Peers) != 1 {
		t.Fatalf("peercall join saw %d peers, want 1: %+v", len(rep.Peers), rep.Peers)
	}
	peer := rep.Peers[0]
	if peer.Name != "Browser" || peer.Video.Packets == 0 || peer.Audio.Packets == 0 {
		t.Errorf("peercall join got from %q: %d video and %d audio packets; want both > 0", peer.Name, peer.Video.Packets, peer.Audio.Packets)
	}
	if peer.SafetyCode != browserCode {
		t.Errorf("safety codes differ: peercall join says %q, the browser %q", peer.SafetyCode, browserCode)
	}
}
