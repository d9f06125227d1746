// Package e2e runs the web app in real headless Chromium against a real
// peercall server, in a loopback-only network namespace.
package e2e

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/peercall/peercall/internal/browsertest"
	"github.com/peercall/peercall/internal/config"
	"github.com/peercall/peercall/internal/servertest"
	"github.com/peercall/peercall/internal/testutil"
)

func TestMain(m *testing.M) { testutil.MainInLoopbackNamespace(m) }

// screenshotDir is where the tests save the screenshots the docs show.
// screenshotDir is where the tests save screenshots: test/e2e/artifacts,
// or docs/img with PEERCALL_UPDATE_SCREENSHOTS=1 (to refresh the docs).
var screenshotDir = func() string {
	if os.Getenv("PEERCALL_UPDATE_SCREENSHOTS") == "1" {
		return "../../docs/img"
	}
	return "artifacts"
}()

// TestCall shares one server and one browser (with the fake media UI, so
// screen capture works) across its subtests; each person is a separate
// browser context.
func TestCall(t *testing.T) {
	srv := servertest.Start(t)
	b := browsertest.Start(t, browsertest.WithFakeMediaUI())

	t.Run("two people on the same link see each other", func(t *testing.T) {
		room := newRoom(t, srv.URL)
		alice := newPage(t, b, browsertest.Named("alice"))
		bob := newPage(t, b, browsertest.Named("bob"))
		join(t, alice, srv.URL, room, "Alice")
		join(t, bob, srv.URL, room, "Bob")
		waitRemoteVideos(t, alice, 1)
		waitRemoteVideos(t, bob, 1)
		alice.Wait(0, "Bob's name on his tile", `document.querySelector('.tile.remote .tile-name').textContent === 'Bob'`)

		// Coming back to the link, the name is remembered.
		openPrejoin(t, alice, srv.URL, room)
		alice.Wait(0, "the remembered name", `document.getElementById('pre-name').value === 'Alice'`)
	})

	t.Run("three people each see the two others", func(t *testing.T) {
		room := newRoom(t, srv.URL)
		pages := []*browsertest.Page{
			newPage(t, b, browsertest.Named("ann")),
			newPage(t, b, browsertest.Named("ben")),
			newPage(t, b, browsertest.Named("cat")),
		}
		for i, p := range pages {
			join(t, p, srv.URL, room, []string{"Ann", "Ben", "Cat"}[i])
		}
		for _, p := range pages {
			waitRemoteVideos(t, p, 2)
		}
	})

	t.Run("the home page creates a room and links to it", func(t *testing.T) {
		p := newPage(t, b, browsertest.Named("home"))
		p.Navigate(srv.URL + "/")
		p.Wait(0, "the home page", `document.body.dataset.view === 'home'`)
		p.Click("#home-create")
		p.Wait(0, "the pre-join screen of a new room", `document.body.dataset.view === 'prejoin' && /^\/r\/[A-Za-z0-9._~-]+$/.test(location.pathname)`)
	})

	t.Run("chat and a file arrive intact with progress on both sides", func(t *testing.T) {
		room := newRoom(t, srv.URL)
		alice := newPage(t, b, browsertest.Named("alice"))
		bob := newPage(t, b, browsertest.Named("bob"))
		join(t, alice, srv.URL, room, "Alice")
		join(t, bob, srv.URL, room, "Bob")
		waitRemoteVideos(t, alice, 1)

		alice.Click("#ctl-chat")
		alice.SetValue("#chat-input", "Hello, Bob! ünïcødé ✓")
		alice.Click(`#chat-form button[type=submit]`)
		bob.Wait(0, "the chat message", `[...document.querySelectorAll('#chat-log .msg .bubble')].some((b) => b.textContent === 'Hello, Bob! ünïcødé ✓')`)
		bob.Wait(0, "the unread badge", `document.getElementById('chat-badge').textContent === '1'`)

		// 3 MiB of random bytes: about 200 chunks, enough to exercise backpressure.
		data := make([]byte, 3<<20+12345)
		rand.Read(data)
		sum := sha256.Sum256(data)
		path := filepath.Join(t.TempDir(), "random data.bin")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		// Record every progress value the receiver shows.
		bob.Eval(`(() => { window.seenProgress = new Set();
			window.peercall.room.addEventListener('filetransfer', (e) => { window.lastTransfer = e.detail.transfer; });
			new MutationObserver(() => document.querySelectorAll('.file-item[data-direction=receive]').forEach((li) => window.seenProgress.add(li.dataset.progress)))
				.observe(document.getElementById('chat-log'), {subtree: true, attributes: true, childList: true}); return true; })()`, nil)
		alice.Do(chromedp.SetUploadFiles(chromedp.CSS("#chat-file"), []string{path}))
		bob.Wait(0, "the file to arrive", `document.querySelector('.file-item[data-direction=receive][data-state=done]')`)
		alice.Wait(0, "the sender to see it delivered", `document.querySelector('.file-item[data-direction=send][data-state=done][data-progress="100"]')`)
		var got struct {
			Name, Hash string
			Size       int
			Progress   string
			Seen       []string
		}
		bob.Eval(`(async () => {
			const li = document.querySelector('.file-item[data-direction=receive]');
			const a = li.querySelector('a[download]');
			// The page's CSP forbids fetching blob: URLs, so read the Blob behind the link.
			const buf = await window.lastTransfer.blob.arrayBuffer();
			const hash = [...new Uint8Array(await crypto.subtle.digest('SHA-256', buf))].map((b) => b.toString(16).padStart(2, '0')).join('');
			return { name: a.getAttribute('download'), hash, size: buf.byteLength, progress: li.dataset.progress, seen: [...window.seenProgress] };
		})()`, &got)
		if got.Name != "random data.bin" || got.Size != len(data) || got.Hash != hex.EncodeToString(sum[:]) {
			t.Errorf("received %q, %d bytes, sha256 %s; want %q, %d bytes, sha256 %x", got.Name, got.Size, got.Hash, "random data.bin", len(data), sum)
		}
		if got.Progress != "100" {
			t.Errorf("receiver progress = %s%%, want 100%%", got.Progress)
		}
		if len(got.Seen) < 3 {
			t.Errorf("receiver showed progress values %v; want a progression", got.Seen)
		}

		// Over the limit: a clear message, nothing sent.
		small := filepath.Join(t.TempDir(), "big.bin")
		if err := os.WriteFile(small, make([]byte, 4096), 0o644); err != nil {
			t.Fatal(err)
		}
		alice.Eval(`window.peercall.room.opts.maxFileBytes = 1024`, nil)
		alice.Do(chromedp.SetUploadFiles(chromedp.CSS("#chat-file"), []string{small}))
		alice.Wait(0, "the too-large message", `[...document.querySelectorAll('.toast.error')].some((t) => /too large/.test(t.textContent))`)
	})

	t.Run("a screen share is shown large on the other side", func(t *testing.T) {
		room := newRoom(t, srv.URL)
		alice := newPage(t, b, browsertest.Named("alice"))
		bob := newPage(t, b, browsertest.Named("bob"))
		join(t, alice, srv.URL, room, "Alice")
		join(t, bob, srv.URL, room, "Bob")
		waitRemoteVideos(t, alice, 1)
		bob.Click("#ctl-screen")
		bob.Wait(0, "own screen share", `window.peercall.room.screenTrack && document.getElementById('ctl-screen').getAttribute('aria-label') === 'Stop sharing your screen'`)
		alice.Wait(0, "Bob's screen, large and playing", `(async () => {
			const v = document.querySelector('#screens .tile.screen[data-peer^="screen:"] video');
			if (!v || v.paused || v.videoWidth === 0) return false;
			if (!document.getElementById('stage').classList.contains('presenting')) return false;
			const p = [...window.peercall.room.participants.values()][0];
			let frames = 0;
			(await p.pc.getStats()).forEach((s) => { if (s.type === 'inbound-rtp' && s.kind === 'video') frames += s.framesDecoded || 0; });
			return p.screenStream && frames > 0 && v.getBoundingClientRect().width > 500;
		})()`)
		bob.Click("#ctl-screen")
		alice.Wait(0, "the screen share to end", `!document.querySelector('#screens .tile') && !document.getElementById('stage').classList.contains('presenting')`)
		waitRemoteVideos(t, alice, 1)
	})

	t.Run("joining muted with the camera off, then turning them on, shows on the other side", func(t *testing.T) {
		room := newRoom(t, srv.URL)
		alice := newPage(t, b, browsertest.Named("alice"))
		bob := newPage(t, b, browsertest.Named("bob"))
		join(t, alice, srv.URL, room, "Alice")
		openPrejoin(t, bob, srv.URL, room)
		bob.SetValue("#pre-name", "Bob")
		bob.Click("#pre-mic")
		bob.Click("#pre-cam")
		bob.Wait(0, "the camera released before joining", `!window.peercall.local.video && document.getElementById('pre-cam').classList.contains('off')`)
		bob.Click("#pre-join")
		bob.Wait(0, "the call", `document.body.dataset.view === 'call'`)

		const tile = `document.querySelector('.tile.remote')`
		alice.Wait(0, "Bob shown muted with his avatar", tile+` && `+tile+`.dataset.audioMuted === 'true' && `+tile+`.dataset.videoMuted === 'true' && !`+tile+`.querySelector('.novideo').hidden && getComputedStyle(`+tile+`.querySelector('.mic-off')).display !== 'none'`)
		alice.Click("#ctl-people")
		alice.Wait(0, "the people list to say Bob is muted", `/Bob, muted, camera off/.test(document.querySelector('#people-list li:not([data-peer=self])').getAttribute('aria-label'))`)

		// Camera on mid-call: a new camera track on the negotiated transceiver.
		bob.Click("#ctl-cam")
		alice.Wait(0, "Bob's video", tile+`.dataset.videoMuted === 'false'`)
		waitRemoteVideos(t, alice, 1)
		bob.Click("#ctl-mic")
		alice.Wait(0, "Bob unmuted", tile+`.dataset.audioMuted === 'false'`)
		alice.Wait(0, "Bob's audio arriving", `(async () => { let n = 0; (await [...window.peercall.room.participants.values()][0].pc.getStats()).forEach((s) => { if (s.type === 'inbound-rtp' && s.kind === 'audio') n += s.totalAudioEnergy || 0; }); return n > 0; })()`)

		// And off again.
		bob.Click("#ctl-mic")
		bob.Click("#ctl-cam")
		alice.Wait(0, "Bob muted with camera off again", tile+`.dataset.audioMuted === 'true' && `+tile+`.dataset.videoMuted === 'true'`)
		bob.Wait(0, "Bob's camera released", `!window.peercall.local.video`)
	})

	t.Run("switching the camera mid-call replaces the track without renegotiating", func(t *testing.T) {
		room := newRoom(t, srv.URL)
		alice := newPage(t, b, browsertest.Named("alice"))
		bob := newPage(t, b, browsertest.Named("bob"))
		join(t, alice, srv.URL, room, "Alice")
		join(t, bob, srv.URL, room, "Bob")
		waitRemoteVideos(t, bob, 1)
		var before struct {
			Device       string
			Transceivers int
			SDP          string
		}
		alice.Eval(`(() => { const p = [...window.peercall.room.participants.values()][0];
			return { device: window.peercall.local.video.getSettings().deviceId, transceivers: p.pc.getTransceivers().length, sdp: p.pc.localDescription.sdp }; })()`, &before)
		alice.Click("#ctl-settings")
		alice.Wait(0, "the cameras in the settings", `document.querySelectorAll('#set-camera option').length > 1`)
		// Fake camera 2 sends MJPEG frames; camera 1's Y16 frames are not
		// encodable (see browsertest.Flags).
		alice.Eval(`(() => { const s = document.getElementById('set-camera');
			s.value = [...s.options].find((o) => o.textContent === 'fake_device_2').value;
			s.dispatchEvent(new Event('change')); return true; })()`, nil)
		alice.Wait(0, "the other camera to be sent", fmt.Sprintf(`(() => { const p = [...window.peercall.room.participants.values()][0];
			const t = p.videoTx.sender.track;
			return t && t.readyState === 'live' && t.getSettings().deviceId !== %q && t === window.peercall.local.video; })()`, before.Device))
		alice.Click("#settings button[value=close]")
		bob.Eval(`(async () => { let f = 0; (await [...window.peercall.room.participants.values()][0].pc.getStats()).forEach((s) => { if (s.type === 'inbound-rtp' && s.kind === 'video') f += s.framesDecoded; }); window.framesBefore = f; return true; })()`, nil)
		bob.Wait(0, "frames from the new camera", `(async () => { let f = 0; (await [...window.peercall.room.participants.values()][0].pc.getStats()).forEach((s) => { if (s.type === 'inbound-rtp' && s.kind === 'video') f += s.framesDecoded; }); return f > window.framesBefore + 15; })()`)
		var after struct {
			Transceivers int
			SDP          string
		}
		alice.Eval(`(() => { const p = [...window.peercall.room.participants.values()][0];
			return { transceivers: p.pc.getTransceivers().length, sdp: p.pc.localDescription.sdp }; })()`, &after)
		if after.Transceivers != before.Transceivers || after.SDP != before.SDP {
			t.Errorf("switching camera renegotiated: %d transceivers before, %d after; SDP changed: %v", before.Transceivers, after.Transceivers, after.SDP != before.SDP)
		}
	})

	t.Run("a dropped peer connection shows reconnecting", func(t *testing.T) {
		room := newRoom(t, srv.URL)
		alice := newPage(t, b, browsertest.Named("alice"))
		bob := newPage(t, b, browsertest.Named("bob"))
		join(t, alice, srv.URL, room, "Alice")
		join(t, bob, srv.URL, room, "Bob")
		waitRemoteVideos(t, alice, 1)
		// Bob's side of the connection vanishes without a word, as when his
		// network drops; signaling stays up, so he is still in the room.
		bob.Eval(`(() => { [...window.peercall.room.participants.values()][0].pc.close(); return true; })()`, nil)
		alice.Wait(0, "Bob's tile to say reconnecting", `(() => { const t = document.querySelector('.tile.remote');
			return t.dataset.status === 'reconnecting' && !t.querySelector('.tile-status').hidden && /Reconnecting/.test(t.textContent); })()`)
	})

	t.Run("controls are labelled and the call fits a phone", func(t *testing.T) {
		room := newRoom(t, srv.URL)
		phone := newPage(t, b, browsertest.Named("phone"), browsertest.Phone())
		desk := newPage(t, b, browsertest.Named("desk"))
		join(t, desk, srv.URL, room, "Desk")
		join(t, phone, srv.URL, room, "Phone")
		waitRemoteVideos(t, phone, 1)
		var problems []string
		phone.Eval(`(() => {
			const out = [];
			for (const b of document.querySelectorAll('#view-call button')) {
				const name = (b.getAttribute('aria-label') || b.textContent).trim();
				if (!name) out.push('unlabelled button ' + b.outerHTML.slice(0, 80));
				if (b.tabIndex < 0) out.push('not focusable: ' + name);
			}
			if (document.documentElement.scrollWidth > innerWidth) out.push('page scrolls sideways: ' + document.documentElement.scrollWidth);
			const leave = document.getElementById('ctl-leave').getBoundingClientRect();
			if (leave.right > innerWidth || leave.bottom > innerHeight) out.push('leave button off screen');
			for (const t of document.querySelectorAll('.tile')) {
				const r = t.getBoundingClientRect();
				if (r.width < 100 || r.right > innerWidth + 1) out.push('tile ' + t.dataset.peer + ' is ' + r.width + ' px wide at ' + r.left);
			}
			return out;
		})()`, &problems)
		for _, p := range problems {
			t.Error(p)
		}
		phone.Screenshot(filepath.Join(t.TempDir(), "phone.png"))
		// Keyboard: M toggles the microphone.
		desk.Do(chromedp.KeyEvent("m"))
		phone.Wait(0, "Desk muted by keyboard", `document.querySelector('.tile.remote').dataset.audioMuted === 'true'`)
	})

	t.Run("the embed example joins a call", func(t *testing.T) {
		room := newRoom(t, srv.URL)
		a := newPage(t, b, browsertest.Named("example-a"))
		c := newPage(t, b, browsertest.Named("example-b"))
		for i, p := range []*browsertest.Page{a, c} {
			p.Navigate(srv.URL + "/example/")
			p.SetValue("#room", room)
			p.SetValue("#name", []string{"Ex A", "Ex B"}[i])
			p.Click("#join button")
			p.Wait(0, "joined", `/In room/.test(document.getElementById('status').textContent)`)
		}
		for _, p := range []*browsertest.Page{a, c} {
			p.Wait(0, "the other's video", `(() => { const v = document.querySelector('#videos figure:not([data-id=self]) video');
				return v && !v.paused && v.videoWidth > 0; })()`)
		}
		a.SetValue("#msg", "hi from the example")
		a.Click("#chat button")
		c.Wait(0, "the chat line", `/Ex A: hi from the example/.test(document.getElementById('log').textContent)`)
	})

	t.Run("an invalid room link shows a clear error", func(t *testing.T) {
		p := newPage(t, b, browsertest.Named("badlink"))
		p.Navigate(srv.URL + "/r/not%20a%20room!")
		p.Wait(0, "the bad link screen", `document.body.dataset.view === 'error' && document.body.dataset.errorCode === 'invalid_room' && /link doesn.t work/.test(document.getElementById('error-title').textContent)`)
	})

	t.Run("a third person in a two-person room sees the room full screen", func(t *testing.T) {
		srv := servertest.Start(t, func(c *config.Config) { c.MaxParticipants = 2 })
		room := newRoom(t, srv.URL)
		for i, name := range []string{"One", "Two"} {
			join(t, newPage(t, b, browsertest.Named(fmt.Sprintf("p%d", i+1))), srv.URL, room, name)
		}
		third := newPage(t, b, browsertest.Named("third"))
		openPrejoin(t, third, srv.URL, room)
		third.SetValue("#pre-name", "Three")
		third.Click("#pre-join")
		third.Wait(0, "the room full screen", `document.body.dataset.view === 'error' && document.body.dataset.errorCode === 'room_full' && /full/.test(document.getElementById('error-title').textContent) && !document.getElementById('error-retry').hidden`)
	})

	t.Run("a dropped server connection resumes the same session", func(t *testing.T) {
		room := newRoom(t, srv.URL)
		alice := newPage(t, b, browsertest.Named("alice"))
		bob := newPage(t, b, browsertest.Named("bob"))
		join(t, alice, srv.URL, room, "Alice")
		join(t, bob, srv.URL, room, "Bob")
		waitRemoteVideos(t, bob, 1)
		var id string
		alice.Eval(`window.peercall.room.self.id`, &id)
		// Drop Alice's WebSocket as a network change would; her peer
		// connection stays up.
		alice.Eval(`(() => { window.oldSignaling = window.peercall.room.signaling; window.oldSignaling.ws.close(); return true; })()`, nil)
		alice.Wait(0, "Alice back as the same participant", fmt.Sprintf(`(() => { const r = window.peercall.room;
			return r.status === 'joined' && r.signaling !== window.oldSignaling && r.self.id === %q && document.getElementById('call-banner').hidden
				&& document.body.dataset.view === 'call'; })()`, id))
		waitRemoteVideos(t, bob, 1)
		// Signaling works again: Alice's mute reaches Bob.
		alice.Click("#ctl-mic")
		bob.Wait(0, "Alice shown muted", `document.querySelector('.tile.remote').dataset.audioMuted === 'true'`)
	})

	t.Run("losing the server for good shows the lost connection screen", func(t *testing.T) {
		srv := servertest.Start(t, func(c *config.Config) { c.ResumeGrace = time.Second })
		room := newRoom(t, srv.URL)
		p := newPage(t, b, browsertest.Named("alice"))
		join(t, p, srv.URL, room, "Alice")
		if err := srv.Stop(); err != nil {
			t.Fatal(err)
		}
		p.Wait(0, "the reconnecting banner", `!document.getElementById('call-banner').hidden`)
		p.Wait(0, "the lost connection screen", `document.body.dataset.view === 'error' &&
			['server_shutdown', 'connection_lost'].includes(document.body.dataset.errorCode) && !document.getElementById('error-retry').hidden`)
	})

	t.Run("screenshots of the pre-join screen and a call", func(t *testing.T) {
		room := newRoom(t, srv.URL)
		alice := newPage(t, b, browsertest.Named("alice"))
		bob := newPage(t, b, browsertest.Named("bob"))
		openPrejoin(t, alice, srv.URL, room)
		alice.SetValue("#pre-name", "Ada Lovelace")
		alice.Wait(0, "the camera preview", `(() => { const v = document.getElementById('pre-video'); return v.videoWidth > 0 && v.currentTime > 0.5; })()`)
		alice.Screenshot(filepath.Join(screenshotDir, "prejoin.png"))
		alice.Click("#pre-join")
		alice.Wait(0, "the call", `document.body.dataset.view === 'call'`)
		join(t, bob, srv.URL, room, "Grace Hopper")
		waitRemoteVideos(t, alice, 1)
		bob.Click("#ctl-mic")
		alice.Click("#ctl-chat")
		bob.Click("#ctl-chat")
		bob.SetValue("#chat-input", "Hi Ada! Sharing the slides in a minute.")
		bob.Click(`#chat-form button[type=submit]`)
		alice.Wait(0, "the message and Bob muted", `document.querySelector('#chat-log .msg') && document.querySelector('.tile.remote').dataset.audioMuted === 'true' && document.querySelector('.quality[data-q=good]')`)
		// Let toasts fade so the picture shows the call itself.
		alice.Wait(0, "no toasts", `!document.querySelector('.toast')`)
		alice.Screenshot(filepath.Join(screenshotDir, "call.png"))
	})
}

// TestBlockedMedia blocks camera and microphone the way a user's "Block"
// does. Blocking needs a browser without the fake media UI (which would
// override it); other people in that browser get access by CDP grant.
func TestBlockedMedia(t *testing.T) {
	srv := servertest.Start(t)
	b := browsertest.Start(t)
	room := newRoom(t, srv.URL)
	blocked := newPage(t, b, browsertest.Named("blocked"), browsertest.BlockedMedia())
	other := newPage(t, b, browsertest.Named("other"))
	join(t, other, srv.URL, room, "Alice")

	openPrejoin(t, blocked, srv.URL, room)
	blocked.SetValue("#pre-name", "Bob")
	blocked.Wait(0, "the explanation", `(() => {
		const box = document.getElementById('pre-media-error');
		return !box.hidden && /blocking the camera and microphone/.test(box.textContent) && /address bar/.test(box.textContent)
			&& /Join without camera and mic/.test(document.getElementById('pre-join').textContent);
	})()`)
	blocked.Screenshot(filepath.Join(screenshotDir, "blocked.png"))

	blocked.Click("#pre-join")
	blocked.Wait(0, "the call without devices", `document.body.dataset.view === 'call' && window.peercall.room.localStream.getTracks().length === 0`)
	waitRemoteVideos(t, blocked, 1) // still sees and hears the others
	other.Wait(0, "Bob shown muted with camera off and connected", `(() => {
		const t = document.querySelector('.tile.remote');
		const p = [...window.peercall.room.participants.values()][0];
		return t && t.dataset.audioMuted === 'true' && t.dataset.videoMuted === 'true' && p.connectionState === 'connected';
	})()`)
	// Chat works without devices.
	blocked.Click("#ctl-chat")
	blocked.SetValue("#chat-input", "I can't use my camera, but I can chat")
	blocked.Click(`#chat-form button[type=submit]`)
	other.Wait(0, "the chat message", `[...document.querySelectorAll('#chat-log .bubble')].some((b) => /but I can chat/.test(b.textContent))`)
	// Unmuting explains why the microphone is unavailable.
	blocked.Click("#ctl-mic")
	blocked.Wait(0, "the explanation toast", `[...document.querySelectorAll('.toast.error')].some((t) => /blocking the microphone/.test(t.textContent))`)
}
