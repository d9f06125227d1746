package media

import (
	"context"
	"time"

	"github.com/pion/webrtc/v4"
	pionmedia "github.com/pion/webrtc/v4/pkg/media"
)

// maxLag is how far playback may fall behind its schedule (a stalled
// process, a suspended laptop) before the schedule restarts from now rather
// than sending the missed frames in a burst.
const maxLag = 500 * time.Millisecond

// SampleWriter is what Play writes to; *webrtc.TrackLocalStaticSample
// implements it.
type SampleWriter interface {
	WriteSample(pionmedia.Sample) error
}

// PlayVideoIVF plays a VP8 IVF clip into track in a loop, in real time,
// until ctx is done. It returns an error only if ivf is not a valid clip
// (see ParseIVF); otherwise it returns nil once ctx is done.
func PlayVideoIVF(ctx context.Context, ivf []byte, track *webrtc.TrackLocalStaticSample) error {
	clip, err := ParseIVF(ivf)
	if err != nil {
		return err
	}
	Play(ctx, clip, track)
	return nil
}

// PlayAudioOgg plays an Ogg Opus clip into track in a loop, in real time,
// until ctx is done. It returns an error only if ogg is not a valid clip
// (see ParseOggOpus); otherwise it returns nil once ctx is done.
func PlayAudioOgg(ctx context.Context, ogg []byte, track *webrtc.TrackLocalStaticSample) error {
	clip, err := ParseOggOpus(ogg)
	if err != nil {
		return err
	}
	Play(ctx, clip, track)
	return nil
}

// Play writes the clip's frames to w in a loop until ctx is done, each
// frame when its time comes. Frames are scheduled against the start time,
// not the previous write, so the rate does not drift.
//
// Write errors are ignored: a track shared by several peer connections
// reports the failure of one of them, and the others must keep getting
// media. Samples written before a track is bound are dropped by pion.
func Play(ctx context.Context, clip *Clip, w SampleWriter) {
	play(ctx, clip, w, realClock{})
}

// clock lets tests run Play without waiting.
type clock interface {
	Now() time.Time
	// SleepUntil returns when t has come (true) or ctx is done (false).
	SleepUntil(ctx context.Context, t time.Time) bool
}

func play(ctx context.Context, clip *Clip, w SampleWriter, clk clock) {
	if len(clip.Frames) == 0 {
		<-ctx.Done()
		return
	}
	next := clk.Now()
	for i := 0; ; i = (i + 1) % len(clip.Frames) {
		if ctx.Err() != nil {
			return
		}
		f := clip.Frames[i]
		_ = w.WriteSample(pionmedia.Sample{Data: f.Data, Duration: f.Duration})
		next = next.Add(f.Duration)
		if now := clk.Now(); now.Sub(next) > maxLag {
			next = now
		}
		if !clk.SleepUntil(ctx, next) {
			return
		}
	}
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) SleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}
