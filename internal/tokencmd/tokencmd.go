// Package tokencmd is `peercall token`: it mints an access token for a
// server in token mode, for apps that have no backend of their own yet,
// scripts and tests. docs/auth.md shows how a backend mints the same token.
package tokencmd

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"

	"github.com/peercall/peercall/internal/auth"
	"github.com/peercall/peercall/protocol"
)

// Defaults and limits of the flags.
const (
	// DefaultTTL is how long a token is valid when --ttl is not given.
	DefaultTTL = time.Hour
	// MaxTTL is the longest --ttl accepted. A token cannot be revoked
	// short of removing its API key, so long-lived ones are refused.
	MaxTTL = 30 * 24 * time.Hour
)

// envAPIKey gives the API key when no key flag is given; it keeps the
// secret out of the process list and shell history.
const envAPIKey = "PEERCALL_API_KEY"

// Exit statuses of Run.
const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
)

const usageText = `Usage: peercall token --room ROOM --identity ID [flags]

Mints an access token that admits ID to ROOM on a peercall server run with
--api-key KEY:SECRET, and prints it on stdout:

  export PEERCALL_API_KEY=KEY:SECRET
  TOKEN=$(peercall token --room demo --identity alice --name Alice --host)
  open "https://calls.example.com/r/demo#token=$TOKEN"

The API key comes from --api-key, or --key and --secret, or $PEERCALL_API_KEY
(preferred: flags show up in the process list and shell history).
Exit status: 0 on success, 2 for usage errors.

Flags:
`

// options are the parsed and checked flags.
type options struct {
	room, identity, name string
	ttl                  time.Duration
	grants               auth.Grants
	key                  string
	secret               []byte
	jsonOut              bool
}

// usageError is a bad flag; its text is one line shown to the user.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// jsonOutput is what --json prints.
type jsonOutput struct {
	Token     string `json:"token"`
	ExpiresAt string `json:"expires_at"` // RFC 3339, UTC
	Room      string `json:"room"`
	Identity  string `json:"identity"`
}

// Run runs `peercall token` with args (the arguments after "token") and
// returns the exit status. ctx is unused: minting does not block.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return run(args, stdout, stderr, os.Getenv, time.Now)
}

func run(args []string, stdout, stderr io.Writer, getenv func(string) string, now func() time.Time) int {
	o, err := parseArgs(args, stdout, getenv)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "peercall token: %v\n", err)
		return exitUsage
	}
	issued := now()
	exp := issued.Add(o.ttl)
	token, err := auth.Mint(o.key, o.secret, auth.Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   o.identity,
			IssuedAt:  jwt.NewNumericDate(issued),
			ExpiresAt: jwt.NewNumericDate(exp),
		},
		Room:   o.room,
		Name:   o.name,
		Grants: o.grants,
	})
	if err != nil {
		// The flags were checked, so this is unexpected.
		fmt.Fprintf(stderr, "peercall token: %v\n", err)
		return exitFailed
	}
	if !o.jsonOut {
		fmt.Fprintln(stdout, token)
		return exitOK
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(jsonOutput{
		Token:     token,
		ExpiresAt: exp.UTC().Truncate(time.Second).Format(time.RFC3339),
		Room:      o.room,
		Identity:  o.identity,
	}); err != nil {
		fmt.Fprintf(stderr, "peercall token: %v\n", err)
		return exitFailed
	}
	return exitOK
}

// parseArgs parses and checks args. -h prints the usage on stdout and
// returns flag.ErrHelp. Other errors are one-line usage errors.
func parseArgs(args []string, stdout io.Writer, getenv func(string) string) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported by the caller, on one line
	var apiKey, key, secret string
	fs.StringVar(&o.room, "room", "", "room the token admits to (required)")
	fs.StringVar(&o.identity, "identity", "", "participant identity, e.g. your user ID (required; 1 to 128 of A-Z a-z 0-9 . _ ~ - @ : + = |)")
	fs.StringVar(&o.name, "name", "", "display name (empty: the client chooses)")
	fs.DurationVar(&o.ttl, "ttl", DefaultTTL, "how long the token is valid (at most 720h)")
	fs.BoolVar(&o.grants.Host, "host", false, "grant host: lock the room, admit knockers, remove participants, ask to mute")
	fs.BoolVar(&o.grants.Publish, "publish", true, "grant publishing audio and video (--publish=false to deny)")
	fs.BoolVar(&o.grants.ScreenShare, "screen-share", true, "grant screen sharing (--screen-share=false to deny)")
	fs.StringVar(&apiKey, "api-key", "", "API key as `KEY:SECRET`; default $"+envAPIKey)
	fs.StringVar(&key, "key", "", "API key (with --secret), instead of --api-key")
	fs.StringVar(&secret, "secret", "", "API secret (with --key)")
	fs.BoolVar(&o.jsonOut, "json", false, `print {"token","expires_at","room","identity"} instead of just the token`)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stdout)
			fmt.Fprint(stdout, usageText)
			fs.PrintDefaults()
			return nil, err
		}
		return nil, usagef("%v (see peercall token -h)", err)
	}
	if fs.NArg() > 0 {
		return nil, usagef("unexpected argument %q", fs.Arg(0))
	}
	if err := o.check(); err != nil {
		return nil, err
	}
	var err error
	switch {
	case apiKey != "" && (key != "" || secret != ""):
		return nil, usagef("give --api-key or --key and --secret, not both")
	case apiKey != "":
		o.key, o.secret, err = auth.ParseAPIKey(apiKey)
	case key != "" || secret != "":
		if key == "" || secret == "" {
			return nil, usagef("--key and --secret go together")
		}
		o.key, o.secret, err = auth.ParseAPIKey(key + ":" + secret)
	case getenv(envAPIKey) != "":
		o.key, o.secret, err = auth.ParseAPIKey(getenv(envAPIKey))
		if err != nil {
			err = fmt.Errorf("$%s: %w", envAPIKey, err)
		}
	default:
		return nil, usagef("no API key: give --api-key KEY:SECRET or set $%s", envAPIKey)
	}
	if err != nil {
		return nil, usagef("%v", err)
	}
	return o, nil
}

func (o *options) check() error {
	if o.room == "" {
		return usagef("--room is required")
	}
	if !protocol.ValidRoomName(o.room) {
		return usagef("--room %q: use 1 to %d of A-Z a-z 0-9 . _ ~ -", o.room, protocol.MaxRoomNameLen)
	}
	if o.identity == "" {
		return usagef("--identity is required")
	}
	if !auth.ValidIdentity(o.identity) {
		return usagef("--identity %q: use 1 to %d of A-Z a-z 0-9 . _ ~ - @ : + = |", o.identity, auth.MaxIdentityLen)
	}
	if len(o.name) > protocol.MaxDisplayNameLen || !utf8.ValidString(o.name) {
		return usagef("--name: at most %d bytes of UTF-8", protocol.MaxDisplayNameLen)
	}
	if o.ttl < time.Second || o.ttl > MaxTTL {
		return usagef("--ttl %v: use 1s to 720h (30 days)", o.ttl)
	}
	return nil
}
