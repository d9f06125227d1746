package e2e

import (
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/peercall/peercall/internal/auth"
	"github.com/peercall/peercall/internal/browsertest"
	"github.com/peercall/peercall/internal/config"
	"github.com/peercall/peercall/internal/servertest"
)

// TestInvitationLinks runs a server in token mode: a link with a token in
// its fragment joins (and the token leaves the address bar), a link
// without one gets a clear explanation.
func TestInvitationLinks(t *testing.T) {
	const key, secret = "app", "0123456789abcdef0123456789abcdef"
	srv := servertest.Start(t, func(c *config.Config) { c.APIKeys = []string{key + ":" + secret} })
	b := browsertest.Start(t, browsertest.WithFakeMediaUI())
	mint := func(identity string) string {
		tok, err := auth.Mint(key, []byte(secret), auth.Claims{
			RegisteredClaims: jwt.RegisteredClaims{Subject: identity, ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour))},
			Room:             "clinic-7f3a",
		})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}

	doctor := newPage(t, b, browsertest.Named("doctor"))
	patient := newPage(t, b, browsertest.Named("patient"))
	for _, c := range []struct {
		p        *browsertest.Page
		identity string
		name     string
	}{{doctor, "dr-1", "Doctor"}, {patient, "pt-1", "Patient"}} {
		c.p.Navigate(srv.URL + "/r/clinic-7f3a#token=" + mint(c.identity))
		c.p.Wait(0, "the pre-join screen", `document.body.dataset.view === 'prejoin' && !document.getElementById('pre-join').disabled`)
		var hash string
		c.p.Eval(`location.hash`, &hash)
		if hash != "" {
			t.Errorf("%s: the token stayed in the address bar (%q)", c.name, hash)
		}
		c.p.SetValue("#pre-name", c.name)
		c.p.Click("#pre-join")
		c.p.Wait(0, "the call view", `document.body.dataset.view === 'call' && window.peercall.room && window.peercall.room.status === 'joined'`)
	}
	waitRemoteVideos(t, doctor, 1)
	waitRemoteVideos(t, patient, 1)

	stranger := newPage(t, b, browsertest.Named("stranger"))
	stranger.Navigate(srv.URL + "/r/clinic-7f3a")
	stranger.Wait(0, "the pre-join screen", `document.body.dataset.view === 'prejoin' && !document.getElementById('pre-join').disabled`)
	stranger.SetValue("#pre-name", "Stranger")
	stranger.Click("#pre-join")
	stranger.Wait(0, "the invitation-needed screen", `document.body.dataset.errorCode === 'unauthorized' && document.body.textContent.includes('You need an invitation')`)
}
