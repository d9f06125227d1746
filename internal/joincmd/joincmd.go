// Package joincmd is `peercall join`: a headless participant that joins a
// room, sends looping test media, counts the media it receives from every
// other participant and reports it, for smoke tests, load tests and
// debugging a deployment without a browser.
package joincmd

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/peercall/peercall/client"
	"github.com/peercall/peercall/internal/media"
)

// Exit statuses of Run.
const (
	exitOK     = 0
	exitFailed = 1 // could not join, lost the server, or peers did not deliver
	exitUsage  = 2 // bad flags or clip files
)

const (
	// linger is how long a run that stops early (--expect-peers, no
	// --duration) keeps sending after the expected peers delivered, for
	// peers that do not say whether they get our media (browsers). Peers
	// that are peercall join say so, and the run stops without lingering.
	linger = 2 * time.Second
	// checkEvery is how often the run loop retries acks and checks the
	// linger time.
	checkEvery = 100 * time.Millisecond
	// readersWait bounds the wait for track readers at exit.
	readersWait = 3 * time.Second
)

// Run runs `peercall join` with args (the arguments after "join") and
// returns the exit status. Cancel ctx to stop it early (Ctrl-C): the run
// then ends as if --duration had elapsed.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseArgs(args, stderr, os.Getenv)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "peercall join: %v\n", err)
		if errors.Is(err, errUsage) {
			return exitUsage
		}
		return exitFailed
	}
	return run(ctx, o, stdout, stderr)
}

func run(ctx context.Context, o *options, stdout, stderr io.Writer) int {
	stderr = &lockedWriter{w: stderr}
	report := &Report{Room: o.room, Peers: []PeerReport{}, Errors: []string{}}
	fail := func(reason string) int {
		report.Errors = append(report.Errors, reason)
		report.OK = false
		if o.jsonOut {
			_ = writeJSON(stdout, report)
		} else {
			writeSummary(stdout, report)
		}
		fmt.Fprintf(stderr, "peercall join: %s\n", reason)
		return exitFailed
	}

	video, audio, err := media.NewTracks("peercall-join")
	if err != nil {
		return fail(err.Error())
	}
	start := time.Now()
	tr := newTracker(start)
	// Without --verbose stderr carries only the final one-line reason;
	// pion warns about routine things, such as packets on a closing
	// connection.
	logger := slog.New(slog.DiscardHandler)
	if o.verbose {
		tr.log = &eventLog{w: stderr}
		logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	// A run that stops early leaves the room at once.
	runCtx, stop := context.WithCancel(ctx)
	defer stop()

	room, err := client.Join(runCtx, client.Config{
		URL:           o.url,
		Room:          o.room,
		Name:          o.name,
		Tracks:        []webrtc.TrackLocal{video, audio},
		Token:         o.token,
		RelayOnly:     o.relayOnly,
		Reconnect:     o.reconnect,
		Logger:        logger,
		OnPeerJoined:  tr.onPeerJoined,
		OnPeerLeft:    tr.onPeerLeft,
		OnPeerUpdated: tr.onPeerUpdated,
		OnTrack: func(p *client.Peer, t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
			tr.onTrack(p, t)
		},
		OnPeerConnectionState: tr.onConnectionState,
		OnData:                tr.onData,
	})
	if err != nil {
		return fail(joinError(o, err))
	}
	report.ParticipantID = room.Self().ID
	tr.log.printf(tr.since(), "joined room %q as %q (%s)", o.room, o.name, report.ParticipantID)

	var players sync.WaitGroup
	players.Add(2)
	go func() { defer players.Done(); media.Play(runCtx, o.video, video) }()
	go func() { defer players.Done(); media.Play(runCtx, o.audio, audio) }()

	var deadline <-chan time.Time
	switch {
	case o.duration > 0:
		deadline = time.After(o.duration)
	case o.expectPeers > 0:
		deadline = time.After(o.timeout)
	}
	earlyStop := o.expectPeers > 0 && o.duration == 0
	var deliveredAt time.Time // when the expected peers had all delivered
	tick := time.NewTicker(checkEvery)
	defer tick.Stop()
	var reason string // why the run failed; "" if it did not
wait:
	for {
		select {
		case <-ctx.Done():
			break wait
		case <-deadline:
			break wait
		case <-room.Done():
			reason = "lost the connection to the server"
			if err := room.Err(); err != nil {
				reason = "disconnected: " + describe(err)
			}
			break wait
		case <-tr.changed:
		case <-tick.C:
		}
		tr.sendAcks()
		if !earlyStop {
			continue
		}
		delivered, done := tr.progress()
		if done >= o.expectPeers {
			break wait
		}
		if delivered >= o.expectPeers {
			if deliveredAt.IsZero() {
				deliveredAt = time.Now()
			} else if time.Since(deliveredAt) >= linger {
				break wait
			}
		}
	}

	// Read the selected pairs while the peer connections still exist.
	for _, s := range tr.all() {
		s.refreshCandidateType()
	}
	report.Peers = tr.peerReports(tr.since())
	stop()
	if err := room.Close(); err != nil && reason == "" {
		report.Errors = append(report.Errors, "leave: "+err.Error())
	}
	players.Wait()
	waitTimeout(&tr.readers, readersWait)

	if reason == "" && o.expectPeers > 0 {
		reason = missingMedia(report.Peers, o.expectPeers)
	}
	if reason != "" {
		return fail(reason)
	}
	report.OK = true
	if o.jsonOut {
		if err := writeJSON(stdout, report); err != nil {
			fmt.Fprintf(stderr, "peercall join: write report: %v\n", err)
			return exitFailed
		}
	} else {
		writeSummary(stdout, report)
	}
	return exitOK
}

// joinError words a failed join for the one-line message: a refusal by the
// server as `room_full: room "demo" is full (6 of 6)`, anything else with
// the server's URL.
func joinError(o *options, err error) string {
	var ce *client.Error
	if errors.As(err, &ce) {
		return describe(err)
	}
	return fmt.Sprintf("join %s: %s", o.url, err)
}

// describe shows a server's refusal as "code: message", e.g.
// `room_full: room "demo" is full (6 of 6)`.
func describe(err error) string {
	var ce *client.Error
	if errors.As(err, &ce) {
		return fmt.Sprintf("%s: %s", ce.Code, ce.Message)
	}
	return err.Error()
}

// waitTimeout waits for wg, or gives up after d: a stuck track reader must
// not keep the command from exiting.
func waitTimeout(wg *sync.WaitGroup, d time.Duration) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
	}
}
