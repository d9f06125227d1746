package e2e

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/peercall/peercall/internal/browsertest"
	"github.com/peercall/peercall/internal/servertest"
)

// TestSafetyCode checks that both ends of a browser call show the same
// safety code, in the SDK and in the stats panel.
func TestSafetyCode(t *testing.T) {
	srv := servertest.Start(t)
	b := browsertest.Start(t, browsertest.WithFakeMediaUI())
	room := newRoom(t, srv.URL)
	alice := newPage(t, b, browsertest.Named("alice"))
	bob := newPage(t, b, browsertest.Named("bob"))
	join(t, alice, srv.URL, room, "Alice")
	join(t, bob, srv.URL, room, "Bob")
	waitRemoteVideos(t, alice, 1)
	waitRemoteVideos(t, bob, 1)

	codes := map[string]string{}
	for _, c := range []struct {
		p     *browsertest.Page
		other string
	}{{alice, "Bob"}, {bob, "Alice"}} {
		c.p.Click("#ctl-stats")
		c.p.Wait(0, "the safety code in the stats panel", fmt.Sprintf(`(() => {
			const s = document.querySelector('.stats-card .safety');
			return s && !s.hidden && /^\d{5} \d{5} \d{5} \d{5}$/.test(s.querySelector('.safety-code').textContent)
				&& s.textContent.includes('Compare this code with %s. If it matches on both screens, nobody — not even the server — can see or hear your call.');
		})()`, c.other))
		var got struct{ Shown, SDK string }
		c.p.Eval(`(async () => ({ shown: document.querySelector('.stats-card .safety-code').textContent,
			sdk: await [...window.peercall.room.participants.values()][0].safetyCode() }))()`, &got)
		if got.Shown != got.SDK {
			t.Errorf("%s: the stats panel shows %q, safetyCode() says %q", c.p.Name, got.Shown, got.SDK)
		}
		codes[c.p.Name] = got.Shown
	}
	if codes["alice"] != codes["bob"] {
		t.Errorf("Alice sees safety code %q, Bob %q; want the same", codes["alice"], codes["bob"])
	}
	alice.Screenshot(filepath.Join("artifacts", "safety-code.png"))
}

// TestHostControls runs one room through the host's controls: locking,
// the lobby (admit and deny), muting, removing, and the host role passing
// on when the host leaves.
func TestHostControls(t *testing.T) {
	srv := servertest.Start(t)
	b := browsertest.Start(t, browsertest.WithFakeMediaUI())
	room := newRoom(t, srv.URL)
	alice := newPage(t, b, browsertest.Named("alice"))
	bob := newPage(t, b, browsertest.Named("bob"))
	carol := newPage(t, b, browsertest.Named("carol"))
	join(t, alice, srv.URL, room, "Alice")
	join(t, bob, srv.URL, room, "Bob")

	// The first joiner hosts; the others see no controls.
	alice.Wait(0, "Alice to be host with the lock button", `window.peercall.room.isHost && !document.getElementById('ctl-lock').hidden`)
	var bobView struct {
		Host, LockHidden, Locked bool
	}
	bob.Eval(`({ host: window.peercall.room.isHost, lockHidden: document.getElementById('ctl-lock').hidden,
		locked: !document.getElementById('call-locked').hidden })`, &bobView)
	if bobView.Host || !bobView.LockHidden || bobView.Locked {
		t.Errorf("Bob's view before locking: %+v; want not host, no lock button, not locked", bobView)
	}

	alice.Click("#ctl-lock")
	alice.Wait(0, "the lock button pressed", `(() => { const b = document.getElementById('ctl-lock');
		return b.getAttribute('aria-pressed') === 'true' && b.getAttribute('aria-label') === 'Unlock the room' && window.peercall.room.locked; })()`)
	bob.Wait(0, "the lock icon, and no controls", `!document.getElementById('call-locked').hidden && document.getElementById('ctl-lock').hidden
		&& document.getElementById('host-tools').hidden && !document.querySelector('#people-list [data-action]')`)

	// A non-host's attempt is refused, clearly.
	bob.Eval(`window.peercall.room.lock(false)`, nil)
	bob.Wait(0, "the forbidden message", `[...document.querySelectorAll('.toast.error')].some((t) => /Only a host can lock the room/.test(t.textContent))`)
	alice.Wait(0, "the room still locked", `window.peercall.room.locked`)

	// Carol knocks and is admitted, with the keyboard.
	openPrejoin(t, carol, srv.URL, room)
	carol.SetValue("#pre-name", "Carol")
	carol.Click("#pre-join")
	carol.Wait(0, "the lobby screen", `document.body.dataset.lobby === 'waiting' && !document.getElementById('pre-lobby').hidden
		&& document.getElementById('pre-form').hidden && /Waiting to be let in/.test(document.getElementById('pre-lobby').textContent)`)
	carol.Screenshot(filepath.Join("artifacts", "lobby.png"))
	alice.Wait(0, "Carol's knock", `(() => { const k = document.querySelector('#knocks .knock');
		return k && /Carol wants to join/.test(k.textContent) && k.querySelector('button[data-action=admit]').getAttribute('aria-label') === 'Admit Carol'; })()`)
	alice.Click("#ctl-people")
	alice.Wait(0, "Carol in the lobby list and the badge", `/Carol/.test(document.getElementById('lobby-list').textContent) && !document.getElementById('lobby').hidden
		&& document.getElementById('people-badge').textContent === '1'`)
	alice.Screenshot(filepath.Join("artifacts", "host-knock.png"))
	alice.Eval(`(() => { document.querySelector('#knocks .knock button[data-action=admit]').focus(); return true; })()`, nil)
	alice.Do(chromedp.KeyEvent("\r"))
	carol.Wait(0, "the call", `document.body.dataset.view === 'call' && window.peercall.room.status === 'joined' && !document.body.dataset.lobby`)
	alice.Wait(0, "the knock answered", `!document.querySelector('#knocks .knock') && document.getElementById('lobby').hidden && document.getElementById('people-badge').hidden`)
	waitRemoteVideos(t, carol, 2)
	carol.Wait(0, "the lock icon", `!document.getElementById('call-locked').hidden && document.getElementById('ctl-lock').hidden`)

	// Dave knocks and is turned away from the lobby list.
	dave := newPage(t, b, browsertest.Named("dave"))
	openPrejoin(t, dave, srv.URL, room)
	dave.SetValue("#pre-name", "Dave")
	dave.Click("#pre-join")
	dave.Wait(0, "the lobby screen", `document.body.dataset.lobby === 'waiting'`)
	alice.Wait(0, "Dave in the lobby list", `/Dave/.test(document.getElementById('lobby-list').textContent)`)
	alice.Click(`#lobby-list button[data-action=deny]`)
	dave.Wait(0, "the turned away screen", `document.body.dataset.view === 'error' && document.body.dataset.errorCode === 'denied' && /not let in/.test(document.getElementById('error-title').textContent)`)
	alice.Wait(0, "the knock gone", `!document.querySelector('#knocks .knock') && document.getElementById('lobby').hidden`)

	// Mute everyone: Bob and Carol are muted, and Alice sees it.
	var ids struct{ Bob, Carol string }
	bob.Eval(`window.peercall.room.self.id`, &ids.Bob)
	carol.Eval(`window.peercall.room.self.id`, &ids.Carol)
	tile := func(id string) string { return fmt.Sprintf(`document.querySelector('.tile.remote[data-peer=%q]')`, id) }
	for _, id := range []string{ids.Bob, ids.Carol} {
		alice.Wait(0, "the others unmuted", tile(id)+`.dataset.audioMuted === 'false'`)
	}
	alice.Click("#mute-all")
	for _, p := range []*browsertest.Page{bob, carol} {
		p.Wait(0, "own microphone muted by the host", `window.peercall.room.state.audio_muted && !window.peercall.local.micOn && !window.peercall.local.audio.enabled
			&& document.getElementById('ctl-mic').classList.contains('off') && [...document.querySelectorAll('.toast')].some((t) => /Alice muted you/.test(t.textContent))`)
	}
	for _, id := range []string{ids.Bob, ids.Carol} {
		alice.Wait(0, "the mute icon on the tile", tile(id)+`.dataset.audioMuted === 'true' && getComputedStyle(`+tile(id)+`.querySelector('.mic-off')).display !== 'none'`)
	}

	// Carol unmutes; Alice mutes just her from the people list.
	carol.Click("#ctl-mic")
	alice.Wait(0, "Carol unmuted", tile(ids.Carol)+`.dataset.audioMuted === 'false'`)
	alice.Click(fmt.Sprintf(`#people-list li[data-peer=%q] button[data-action=mute]`, ids.Carol))
	carol.Wait(0, "Carol muted by the host", `window.peercall.room.state.audio_muted && document.getElementById('ctl-mic').classList.contains('off')`)
	alice.Wait(0, "Carol's tile muted", tile(ids.Carol)+`.dataset.audioMuted === 'true'`)

	// Remove Bob: he sees the removed screen, the others see him go.
	alice.Click(fmt.Sprintf(`#people-list li[data-peer=%q] button[data-action=remove]`, ids.Bob))
	bob.Wait(0, "the removed screen", `document.body.dataset.view === 'error' && document.body.dataset.errorCode === 'removed' && /removed/.test(document.getElementById('error-title').textContent)`)
	for _, p := range []*browsertest.Page{alice, carol} {
		p.Wait(0, "Bob gone", fmt.Sprintf(`window.peercall.room.participants.size === 1 && !document.querySelector('.tile[data-peer=%q]')`, ids.Bob))
	}
	carol.Wait(0, "the removal toast", `[...document.querySelectorAll('.toast')].some((t) => /Bob was removed/.test(t.textContent))`)

	// Alice leaves: Carol becomes host and gets the controls.
	alice.Click("#ctl-leave")
	carol.Wait(0, "Carol to be host with the controls", `window.peercall.room.isHost && !document.getElementById('ctl-lock').hidden
		&& document.getElementById('ctl-lock').getAttribute('aria-pressed') === 'true'`)
	carol.Click("#ctl-lock")
	carol.Wait(0, "the room unlocked", `!window.peercall.room.locked && document.getElementById('call-locked').hidden`)
}
