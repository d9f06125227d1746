package media

import "errors"

// Errors returned for clips that cannot be played. They are wrapped with
// details, so test them with errors.Is.
var (
	// ErrNotVP8IVF means the data is not an IVF file carrying VP8.
	ErrNotVP8IVF = errors.New("not a VP8 IVF file")
	// ErrNotOggOpus means the data is not an Ogg file carrying Opus.
	ErrNotOggOpus = errors.New("not an Ogg Opus file")
	// ErrTruncated means the clip ends in the middle of a frame or page.
	ErrTruncated = errors.New("truncated")
	// ErrEmptyClip means the clip has no media frames.
	ErrEmptyClip = errors.New("no media frames")
	// ErrNoKeyframe means a VP8 clip does not start with a keyframe, so it
	// cannot loop seamlessly.
	ErrNoKeyframe = errors.New("first VP8 frame is not a keyframe")
)
