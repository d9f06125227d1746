package auth_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/peercall/peercall/internal/auth"
)

// A backend mints a token admitting one user to one room for an hour.
func ExampleMint() {
	key, secret, err := auth.ParseAPIKey("APIdemo:0123456789abcdef0123456789abcdef")
	if err != nil {
		panic(err)
	}
	now := time.Now()
	token, err := auth.Mint(key, secret, auth.Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   "patient-42",
			ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)),
		},
		Room:   "clinic-7f3a",
		Name:   "Dana",
		Grants: auth.Grants{Publish: true, ScreenShare: false},
	})
	if err != nil {
		panic(err)
	}
	// Give token to the user's client, which sends it in join.token (the
	// web app reads it from the link: https://calls.example.com/r/clinic-7f3a#token=...).
	fmt.Println(len(token) > 0)
	// Output: true
}

// A server in token mode checks the token of each join for the room it
// asks for, and refuses the join with "unauthorized" on any error.
func ExampleVerifier_Verify() {
	secret := []byte("0123456789abcdef0123456789abcdef")
	issued := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	token, _ := auth.Mint("APIdemo", secret, auth.Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   "patient-42",
			IssuedAt:  jwt.NewNumericDate(issued),
			ExpiresAt: jwt.NewNumericDate(issued.Add(time.Hour)),
		},
		Room:   "clinic-7f3a",
		Grants: auth.Grants{Publish: true},
	})

	v := &auth.Verifier{
		Keys: auth.Keys{"APIdemo": secret},
		Now:  func() time.Time { return issued.Add(10 * time.Minute) },
	}
	c, err := v.Verify(token, "clinic-7f3a")
	fmt.Println(c.Identity(), c.Room, c.Grants.Publish, c.Grants.Host, err)

	_, err = v.Verify(token, "another-room")
	fmt.Println(errors.Is(err, auth.ErrWrongRoom), err)

	v.Now = func() time.Time { return issued.Add(2 * time.Hour) }
	_, err = v.Verify(token, "clinic-7f3a")
	fmt.Println(errors.Is(err, auth.ErrExpired), err)
	// Output:
	// patient-42 clinic-7f3a true false <nil>
	// true access token is for another room: it admits to room "clinic-7f3a", not "another-room"
	// true access token expired at 2026-11-25T13:00:00Z
}
