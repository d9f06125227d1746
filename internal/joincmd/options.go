package joincmd

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/peercall/peercall/internal/media"
	"github.com/peercall/peercall/protocol"
)

// Defaults for the flags.
const (
	// DefaultURL is the server used when neither --url nor PEERCALL_URL is
	// set: a `peercall serve` with its default listen address.
	DefaultURL = "http://127.0.0.1:8080"
	// DefaultName is the display name other participants see.
	DefaultName = "peercall-join"
	// DefaultTimeout bounds a run with --expect-peers and no --duration.
	DefaultTimeout = 30 * time.Second
	// maxClipBytes bounds a clip file given with --video or --audio; the
	// whole clip is held in memory.
	maxClipBytes = 64 << 20
)

// Environment variables that give flags their defaults.
const (
	envURL   = "PEERCALL_URL"
	envToken = "PEERCALL_TOKEN"
)

const usageText = `Usage: peercall join --room ROOM [flags]

Joins a room as a headless participant that sends a looping test pattern
(VP8) and tone (Opus), counts the media every other participant sends, and
prints a summary when it stops.

It stops when --duration elapses, on Ctrl-C, or when the server ends the
session. With --expect-peers N and no --duration it stops once N peers have
sent both audio and video and have got ours (another peercall join says so
on the data channel; for a browser it keeps sending 2 s more), or fails
after --timeout.

Exit status: 0 if it joined and, with --expect-peers N, got audio and video
from N peers; 1 if joining failed, the connection was lost or the peers did
not deliver; 2 for usage errors.

Flags:
`

// options are the parsed and checked flags.
type options struct {
	url         string
	token       string
	room        string
	name        string
	duration    time.Duration // 0: no limit
	timeout     time.Duration
	relayOnly   bool
	reconnect   bool
	expectPeers int
	jsonOut     bool
	verbose     bool
	video       *media.Clip
	audio       *media.Clip
}

// errUsage marks errors that earn exit status 2.
var errUsage = errors.New("usage")

// usageError is a bad flag or argument; its text is shown to the user.
type usageError struct{ msg string }

func (e *usageError) Error() string        { return e.msg }
func (e *usageError) Is(target error) bool { return target == errUsage }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// parseArgs parses and checks args and loads the clips. getenv is
// os.Getenv outside tests. A flag.ErrHelp is returned as is.
func parseArgs(args []string, stderr io.Writer, getenv func(string) string) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("join", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usageText)
		fs.PrintDefaults()
	}
	defURL := DefaultURL
	if u := getenv(envURL); u != "" {
		defURL = u
	}
	var videoPath, audioPath string
	fs.StringVar(&o.url, "url", defURL, "server URL (http, https, ws or wss); default from $"+envURL)
	fs.StringVar(&o.token, "token", getenv(envToken), "access token, for servers in token mode; default from $"+envToken)
	fs.StringVar(&o.room, "room", "", "room to join (required)")
	fs.StringVar(&o.name, "name", DefaultName, "display name")
	fs.DurationVar(&o.duration, "duration", 0, "stay this long, then leave (0: until Ctrl-C or the expected peers delivered)")
	fs.DurationVar(&o.timeout, "timeout", DefaultTimeout, "with --expect-peers and no --duration: give up after this long")
	fs.BoolVar(&o.relayOnly, "relay-only", false, "use only TURN relay candidates")
	fs.BoolVar(&o.reconnect, "reconnect", true, "if the signaling connection drops (network change, server restart), reconnect and resume the session; calls keep their media meanwhile")
	fs.IntVar(&o.expectPeers, "expect-peers", 0, "succeed only if this many peers send audio and video")
	fs.StringVar(&videoPath, "video", "", "VP8 IVF `file` to loop instead of the built-in test pattern")
	fs.StringVar(&audioPath, "audio", "", "Ogg Opus `file` to loop instead of the built-in tone")
	fs.BoolVar(&o.jsonOut, "json", false, "print one JSON report on stdout at exit")
	fs.BoolVar(&o.verbose, "verbose", false, "print events (peers joining, connecting, first media) and the SDK's warnings on stderr")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		// The flag package has printed the error and usage.
		return nil, &usageError{msg: err.Error()}
	}
	if fs.NArg() > 0 {
		return nil, usagef("unexpected argument %q", fs.Arg(0))
	}
	if err := o.check(); err != nil {
		return nil, err
	}
	var err error
	if o.video, err = loadClip(videoPath, media.DefaultVideo(), media.ParseIVF); err != nil {
		return nil, err
	}
	if o.audio, err = loadClip(audioPath, media.DefaultAudio(), media.ParseOggOpus); err != nil {
		return nil, err
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
	if o.name == "" || len(o.name) > protocol.MaxDisplayNameLen {
		return usagef("--name: use 1 to %d bytes", protocol.MaxDisplayNameLen)
	}
	u, err := url.Parse(o.url)
	if err != nil {
		return usagef("--url %q: %v", o.url, err)
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "https", "ws", "wss":
	default:
		return usagef("--url %q: want an http, https, ws or wss URL", o.url)
	}
	if u.Host == "" {
		return usagef("--url %q: no host", o.url)
	}
	if o.duration < 0 {
		return usagef("--duration %v: must not be negative", o.duration)
	}
	if o.timeout <= 0 {
		return usagef("--timeout %v: must be positive", o.timeout)
	}
	if o.expectPeers < 0 {
		return usagef("--expect-peers %d: must not be negative", o.expectPeers)
	}
	return nil
}

// loadClip reads and parses the clip at path, or parses def if path is
// empty. Errors name the file.
func loadClip(path string, def []byte, parse func([]byte) (*media.Clip, error)) (*media.Clip, error) {
	if path == "" {
		clip, err := parse(def)
		if err != nil {
			return nil, fmt.Errorf("built-in clip: %w", err) // a build bug
		}
		return clip, nil
	}
	b, err := readFileLimit(path, maxClipBytes)
	if err != nil {
		return nil, usagef("%v", err)
	}
	clip, err := parse(b)
	if err != nil {
		return nil, usagef("%s: %v", path, err)
	}
	return clip, nil
}

func readFileLimit(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: larger than %d MiB", path, limit>>20)
	}
	return b, nil
}
