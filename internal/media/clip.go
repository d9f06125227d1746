package media

import "time"

// Frame is one encoded frame (VP8) or packet (Opus) and how long it lasts.
type Frame struct {
	Data     []byte
	Duration time.Duration
}

// Clip is a parsed clip: its frames in order, ready to be played in a loop.
type Clip struct {
	// Codec is webrtc.MimeTypeVP8 or webrtc.MimeTypeOpus.
	Codec  string
	Frames []Frame
	// Width and Height are set for video clips.
	Width, Height int
	// Channels and SampleRate are set for audio clips, from the OpusHead.
	// SampleRate is the input rate the file declares; Opus always decodes
	// at 48 kHz.
	Channels   int
	SampleRate int
}

// Duration is the length of one pass through the clip.
func (c *Clip) Duration() time.Duration {
	var d time.Duration
	for _, f := range c.Frames {
		d += f.Duration
	}
	return d
}

// Limits on frame durations, so a broken timestamp cannot stall a loop or
// make it spin.
const (
	minFrameDuration = time.Millisecond
	maxFrameDuration = 5 * time.Second
)

func clampDuration(d time.Duration) time.Duration {
	return min(max(d, minFrameDuration), maxFrameDuration)
}
