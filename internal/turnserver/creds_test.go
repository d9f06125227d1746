package turnserver

import (
	"errors"
	"testing"
	"time"

	"github.com/pion/stun/v4"
	"github.com/pion/turn/v5"
)

func TestRESTCredentials(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	exp := now.Add(time.Hour)

	t.Run("minted credentials have the coturn format and verify", func(t *testing.T) {
		u, p := RESTCredentials("s3cret", "alice", exp)
		if want := "1800003600:alice"; u != want {
			t.Fatalf("username %q, want %q", u, want)
		}
		// printf %s 1800003600:alice | openssl sha1 -hmac s3cret -binary | base64
		if want := "sokJQCcz4nb7fsH24IippwXdVAU="; p != want {
			t.Fatalf("password %q, want %q", p, want)
		}
		user, gotExp, err := VerifyRESTCredentials("s3cret", u, p, now)
		if err != nil || user != "alice" || !gotExp.Equal(exp) {
			t.Fatalf("Verify = %q, %v, %v", user, gotExp, err)
		}
	})
	t.Run("credentials minted by pion verify", func(t *testing.T) {
		u, p, err := turn.GenerateLongTermTURNRESTCredentials("s3cret", "bob", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if user, _, err := VerifyRESTCredentials("s3cret", u, p, time.Now()); err != nil || user != "bob" {
			t.Fatalf("Verify = %q, %v", user, err)
		}
	})
	t.Run("credentials stay valid through their expiry second", func(t *testing.T) {
		u, p := RESTCredentials("s", "a", exp)
		if _, _, err := VerifyRESTCredentials("s", u, p, exp.Add(999*time.Millisecond)); err != nil {
			t.Fatalf("at expiry: %v", err)
		}
		if _, _, err := VerifyRESTCredentials("s", u, p, exp.Add(time.Second)); !errors.Is(err, ErrCredentialsExpired) {
			t.Fatalf("after expiry: %v, want ErrCredentialsExpired", err)
		}
	})
	t.Run("a wrong password or secret is refused", func(t *testing.T) {
		u, p := RESTCredentials("s", "a", exp)
		if _, _, err := VerifyRESTCredentials("s", u, p+"x", now); !errors.Is(err, ErrWrongPassword) {
			t.Fatalf("wrong password: %v", err)
		}
		if _, _, err := VerifyRESTCredentials("other", u, p, now); !errors.Is(err, ErrWrongPassword) {
			t.Fatalf("wrong secret: %v", err)
		}
	})
	t.Run("a user part may contain colons", func(t *testing.T) {
		u, p := RESTCredentials("s", "room:alice", exp)
		if user, _, err := VerifyRESTCredentials("s", u, p, now); err != nil || user != "room:alice" {
			t.Fatalf("Verify = %q, %v", user, err)
		}
	})
	for _, bad := range []string{"", "alice", ":alice", "1800003600:", "18000x3600:alice", "-5:alice", "+5:alice", " 5:alice", "99999999999999999999:alice"} {
		t.Run("the malformed username "+quote(bad)+" is refused", func(t *testing.T) {
			if _, _, err := ParseRESTUsername(bad); !errors.Is(err, ErrMalformedUsername) {
				t.Fatalf("Parse: %v, want ErrMalformedUsername", err)
			}
			if _, _, err := VerifyRESTCredentials("s", bad, restPassword("s", bad), now); !errors.Is(err, ErrMalformedUsername) {
				t.Fatalf("Verify: %v, want ErrMalformedUsername", err)
			}
		})
	}
}

func quote(s string) string { return "\"" + s + "\"" }

// TestAllocationAuth exercises the credential checks through real
// allocations by pion's TURN client.
func TestAllocationAuth(t *testing.T) {
	checkGoroutines(t)
	clock := newFakeClock()
	s := startServer(t, Config{Now: clock.Now, CredentialTTL: time.Hour})

	valid := func() (string, string) { u, p, _ := s.Credentials("alice"); return u, p }
	cases := []struct {
		name  string
		creds func() (string, string)
		ok    bool
	}{
		{"valid credentials allocate", valid, true},
		{"valid credentials over TCP allocate", valid, true},
		{"expired credentials are refused with 401", func() (string, string) {
			return RESTCredentials(testSecret, "alice", clock.Now().Add(-time.Second))
		}, false},
		{"a wrong password is refused with 401", func() (string, string) {
			u, _ := valid()
			return u, "d3JvbmcgcGFzc3dvcmQ="
		}, false},
		{"a password minted with another secret is refused with 401", func() (string, string) {
			return RESTCredentials("other-secret", "alice", clock.Now().Add(time.Hour))
		}, false},
		{"a malformed username is refused with 401", func() (string, string) {
			return "alice", restPassword(testSecret, "alice")
		}, false},
		{"a username without a user part is refused with 401", func() (string, string) {
			u := "1900000000:"
			return u, restPassword(testSecret, u)
		}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := s.Stats()
			u, p := tc.creds()
			c := dialClient(t, s, u, p, tc.name == "valid credentials over TCP allocate")
			relay, err := allocate(t, c)
			after := s.Stats()
			if tc.ok {
				if err != nil {
					t.Fatalf("Allocate: %v", err)
				}
				if relay.LocalAddr().String() == "" {
					t.Fatal("no relay address")
				}
				if after.AuthFailures != before.AuthFailures {
					t.Fatalf("AuthFailures went from %d to %d", before.AuthFailures, after.AuthFailures)
				}
				return
			}
			if code := turnErrorCode(err); code != stun.CodeUnauthorized {
				t.Fatalf("Allocate error %v (code %d), want 401", err, code)
			}
			if after.AuthFailures <= before.AuthFailures {
				t.Fatalf("AuthFailures did not grow: %d", after.AuthFailures)
			}
		})
	}

	t.Run("credentials minted before the clock passes their expiry are then refused", func(t *testing.T) {
		u, p, exp := s.Credentials("carol")
		if want := clock.Now().Add(time.Hour); !exp.Equal(want) {
			t.Fatalf("expires %v, want %v", exp, want)
		}
		clock.Advance(time.Hour + time.Second)
		c := dialClient(t, s, u, p, false)
		if _, err := allocate(t, c); turnErrorCode(err) != stun.CodeUnauthorized {
			t.Fatalf("Allocate: %v, want 401", err)
		}
	})
}

func TestAuthenticateChecksRealm(t *testing.T) {
	clock := newFakeClock()
	s := startServer(t, Config{Now: clock.Now})
	u, _, _ := s.Credentials("alice")
	if user, key, ok := s.authenticate(&turn.RequestAttributes{Username: u, Realm: "peercall"}); !ok || user != "alice" || len(key) != 16 {
		t.Fatalf("own realm: %q %x %v", user, key, ok)
	}
	before := s.Stats().AuthFailures
	if _, _, ok := s.authenticate(&turn.RequestAttributes{Username: u, Realm: "other"}); ok {
		t.Fatal("another realm was accepted")
	}
	if s.Stats().AuthFailures != before+1 {
		t.Fatal("the refusal was not counted")
	}
}

// Credentials that expire during a call keep its allocation alive: expiry
// limits new allocations, not the refreshes, permissions and channels of
// one made while they were valid. (Otherwise every relayed call longer than
// the credentials' lifetime would end at its next refresh.)
func TestExpiredCredentialsKeepTheirAllocationButCannotMakeANewOne(t *testing.T) {
	clock := newFakeClock()
	s := startServer(t, Config{Now: clock.Now, CredentialTTL: time.Hour, AllowLoopback: true})
	u, p, _ := s.Credentials("alice")
	c := dialClient(t, s, u, p, false)
	relay, err := allocate(t, c)
	if err != nil {
		t.Fatalf("Allocate: %v", err)
	}
	clock.Advance(2 * time.Hour)

	// A new permission (and the relay through it) after expiry.
	peer := listenPeer(t)
	if err := c.CreatePermission(peer.LocalAddr()); err != nil {
		t.Fatalf("CreatePermission after expiry: %v", err)
	}
	exchange(t, relay, peer)
	// (Refresh and ChannelBind take the same path in authenticate; pion's
	// client offers no way to send a Refresh on demand.)

	// The same credentials cannot allocate again.
	c2 := dialClient(t, s, u, p, false)
	if _, err := allocate(t, c2); turnErrorCode(err) != stun.CodeUnauthorized {
		t.Fatalf("Allocate with expired credentials: %v, want 401", err)
	}
}
