package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/peercall/peercall/internal/browsertest"
)

// newRoom asks the server for a fresh room name, as the home page does.
func newRoom(t *testing.T, baseURL string) string {
	t.Helper()
	res, err := http.Post(baseURL+"/api/rooms", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body struct{ Room string }
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil || res.StatusCode != http.StatusCreated || body.Room == "" {
		t.Fatalf("POST /api/rooms: status %d, room %q, err %v", res.StatusCode, body.Room, err)
	}
	return body.Room
}

// openPrejoin opens the room link and waits for the pre-join screen to have
// the camera and microphone settled (the Join button enabled).
func openPrejoin(t *testing.T, p *browsertest.Page, baseURL, room string) {
	t.Helper()
	p.Navigate(baseURL + "/r/" + room)
	p.Wait(0, "the pre-join screen", `document.body.dataset.view === 'prejoin' && !document.getElementById('pre-join').disabled`)
}

// join goes through the pre-join screen with the given name and waits until
// the page is in the call.
func join(t *testing.T, p *browsertest.Page, baseURL, room, name string) {
	t.Helper()
	openPrejoin(t, p, baseURL, room)
	p.SetValue("#pre-name", name)
	p.Click("#pre-join")
	p.Wait(0, "the call view", `document.body.dataset.view === 'call' && window.peercall.room && window.peercall.room.status === 'joined'`)
}

// remoteVideoJS is true when the page sees n remote participants whose
// camera video is decoding (inbound-rtp framesDecoded > 0) and whose tile's
// <video> is playing.
func remoteVideoJS(n int) string {
	return fmt.Sprintf(`(async () => {
		const room = window.peercall.room;
		if (!room) throw new Error('not in a room');
		const ps = [...room.participants.values()];
		if (ps.length !== %d) throw new Error(ps.length + ' participants');
		for (const p of ps) {
			if (!p.pc) throw new Error('no peer connection to ' + p.name);
			let frames = 0;
			(await p.pc.getStats()).forEach((s) => {
				if (s.type === 'inbound-rtp' && s.kind === 'video') frames += s.framesDecoded || 0;
			});
			if (frames <= 0) throw new Error('no frames decoded from ' + p.name + ' (' + p.connectionState + ')');
			const v = document.querySelector('.tile.remote[data-peer="' + p.id + '"] video');
			if (!v) throw new Error('no tile for ' + p.name);
			if (v.paused || v.readyState < 2 || v.videoWidth === 0) throw new Error('video of ' + p.name + ' not playing');
		}
		return true;
	})()`, n)
}

// waitRemoteVideos waits until the page sees n remote videos playing, then
// checks that each one's currentTime advances.
func waitRemoteVideos(t *testing.T, p *browsertest.Page, n int) {
	t.Helper()
	p.Wait(0, fmt.Sprintf("%d remote videos decoding and playing", n), remoteVideoJS(n))
	var before []float64
	p.Eval(`[...document.querySelectorAll('.tile.remote video')].map((v) => v.currentTime)`, &before)
	p.Wait(10*time.Second, "remote videos to advance", fmt.Sprintf(`(() => {
		const now = [...document.querySelectorAll('.tile.remote video')].map((v) => v.currentTime);
		const before = %s;
		return now.length === before.length && now.every((t, i) => t > before[i]);
	})()`, mustJSON(before)))
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// newPage opens a page for one person and, when the test ends, fails it on
// console errors that mean the app is broken: Content-Security-Policy
// violations (the server's CSP allows only the app's own files) and files
// that failed to load.
func newPage(t *testing.T, b *browsertest.Browser, opts ...browsertest.PageOption) *browsertest.Page {
	t.Helper()
	p := b.NewPage(t, opts...)
	t.Cleanup(func() {
		for _, e := range p.ConsoleErrors() {
			if strings.Contains(e, "Content Security Policy") || strings.Contains(e, "Failed to load resource") {
				t.Errorf("page %s: %s", p.Name, e)
			} else {
				t.Logf("page %s console error: %s", p.Name, e)
			}
		}
	})
	return p
}
