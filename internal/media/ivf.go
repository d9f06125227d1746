package media

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"time"

	"github.com/pion/webrtc/v4"
)

// IVF layout (https://wiki.multimedia.cx/index.php/IVF), little endian:
//
//	file header, 32 bytes:
//	  0  "DKIF"
//	  4  version (0)      u16
//	  6  header size (32) u16
//	  8  fourcc ("VP80")
//	 12  width, height    u16 u16
//	 16  timebase denominator (rate)  u32
//	 20  timebase numerator (scale)   u32
//	 24  frame count      u32
//	 28  unused
//	each frame:
//	  0  frame size       u32
//	  4  pts in timebase  u64
//	 12  frame data
const (
	ivfFileHeaderSize  = 32
	ivfFrameHeaderSize = 12
)

// defaultFrameDuration is used for a frame whose duration the timestamps do
// not tell (a one-frame clip with a fine timebase).
const defaultFrameDuration = time.Second / 30

// ParseIVF checks that b is an IVF file carrying VP8 that starts with a
// keyframe, and splits it into frames. A frame lasts until the next frame's
// timestamp; the last frame lasts as long as the one before it.
func ParseIVF(b []byte) (*Clip, error) {
	if len(b) < ivfFileHeaderSize || string(b[:4]) != "DKIF" {
		return nil, fmt.Errorf("%w (no DKIF signature)", ErrNotVP8IVF)
	}
	if fourcc := string(b[8:12]); fourcc != "VP80" {
		return nil, fmt.Errorf("%w (fourcc %s)", ErrNotVP8IVF, printable(fourcc))
	}
	hdrSize := int(binary.LittleEndian.Uint16(b[6:8]))
	den := binary.LittleEndian.Uint32(b[16:20])
	num := binary.LittleEndian.Uint32(b[20:24])
	if hdrSize < ivfFileHeaderSize || hdrSize > len(b) {
		return nil, fmt.Errorf("%w (bad header size %d)", ErrNotVP8IVF, hdrSize)
	}
	if den == 0 || num == 0 {
		return nil, fmt.Errorf("%w (bad timebase %d/%d)", ErrNotVP8IVF, num, den)
	}
	tick := time.Duration(float64(time.Second) * float64(num) / float64(den))

	clip := &Clip{
		Codec:  webrtc.MimeTypeVP8,
		Width:  int(binary.LittleEndian.Uint16(b[12:14])),
		Height: int(binary.LittleEndian.Uint16(b[14:16])),
	}
	var pts []uint64
	for off := hdrSize; off < len(b); {
		if len(b)-off < ivfFrameHeaderSize {
			return nil, fmt.Errorf("IVF frame header at byte %d: %w", off, ErrTruncated)
		}
		size := int(binary.LittleEndian.Uint32(b[off : off+4]))
		p := binary.LittleEndian.Uint64(b[off+4 : off+12])
		off += ivfFrameHeaderSize
		if size > len(b)-off {
			return nil, fmt.Errorf("IVF frame %d (%d bytes at byte %d): %w", len(clip.Frames), size, off, ErrTruncated)
		}
		if size == 0 {
			// A dropped frame: the previous frame lasts longer.
			off += size
			continue
		}
		clip.Frames = append(clip.Frames, Frame{Data: b[off : off+size : off+size]})
		pts = append(pts, p)
		off += size
	}
	if len(clip.Frames) == 0 {
		return nil, fmt.Errorf("IVF: %w", ErrEmptyClip)
	}
	if !vp8Keyframe(clip.Frames[0].Data) {
		return nil, ErrNoKeyframe
	}
	last := defaultFrameDuration
	if tick >= 5*time.Millisecond {
		last = tick
	}
	for i := range clip.Frames {
		d := last
		if i+1 < len(pts) && pts[i+1] > pts[i] {
			d = time.Duration(pts[i+1]-pts[i]) * tick
		}
		clip.Frames[i].Duration = clampDuration(d)
		last = clip.Frames[i].Duration
	}
	return clip, nil
}

// vp8Keyframe reports whether frame is a VP8 keyframe: bit 0 of the frame
// tag is 0, and the start code 9d 01 2a follows (RFC 6386 section 9.1).
func vp8Keyframe(frame []byte) bool {
	return len(frame) >= 10 && frame[0]&1 == 0 &&
		frame[3] == 0x9d && frame[4] == 0x01 && frame[5] == 0x2a
}

// printable quotes s unless it is plain printable ASCII, so a binary
// fourcc does not garble an error message.
func printable(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e || s[i] == ' ' {
			return strconv.Quote(s)
		}
	}
	return s
}
