package media

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	pionmedia "github.com/pion/webrtc/v4/pkg/media"
)

func TestDefaultVideoIsA3sVP8ClipWithAKeyframeEverySecond(t *testing.T) {
	clip, err := ParseIVF(DefaultVideo())
	if err != nil {
		t.Fatal(err)
	}
	if clip.Codec != webrtc.MimeTypeVP8 || clip.Width != 640 || clip.Height != 360 {
		t.Errorf("got %s %dx%d, want video/VP8 640x360", clip.Codec, clip.Width, clip.Height)
	}
	if len(clip.Frames) != 45 {
		t.Errorf("got %d frames, want 45 (3 s at 15 fps)", len(clip.Frames))
	}
	for i, f := range clip.Frames {
		if f.Duration != time.Second/15 {
			t.Fatalf("frame %d lasts %v, want 1/15 s", i, f.Duration)
		}
	}
	if d := clip.Duration(); d < 2990*time.Millisecond || d > 3010*time.Millisecond {
		t.Errorf("clip lasts %v, want 3 s", d)
	}
	// A receiver that joins mid-loop must not wait long for a keyframe,
	// counting the wrap from the last frame to the first.
	var sinceKey time.Duration
	for i := 0; i < 2*len(clip.Frames); i++ {
		f := clip.Frames[i%len(clip.Frames)]
		if vp8Keyframe(f.Data) {
			sinceKey = 0
		} else if sinceKey += f.Duration; sinceKey >= time.Second {
			t.Fatalf("%v without a keyframe before frame %d", sinceKey, i%len(clip.Frames))
		}
	}
}

func TestDefaultAudioIsA3sOpusClipIn20msPackets(t *testing.T) {
	clip, err := ParseOggOpus(DefaultAudio())
	if err != nil {
		t.Fatal(err)
	}
	if clip.Codec != webrtc.MimeTypeOpus || clip.Channels != 1 || clip.SampleRate != 48000 {
		t.Errorf("got %s, %d channels at %d Hz; want audio/opus mono 48 kHz", clip.Codec, clip.Channels, clip.SampleRate)
	}
	for i, f := range clip.Frames {
		if f.Duration != 20*time.Millisecond {
			t.Fatalf("packet %d lasts %v, want 20 ms", i, f.Duration)
		}
	}
	if d := clip.Duration(); d < 3*time.Second || d > 3040*time.Millisecond {
		t.Errorf("clip lasts %v (%d packets), want 3 s plus encoder padding", d, len(clip.Frames))
	}
}

func TestDefaultClipsAreSmall(t *testing.T) {
	if n := len(DefaultVideo()) + len(DefaultAudio()); n > 300<<10 {
		t.Errorf("embedded clips are %d bytes; keep them under 300 KB", n)
	}
}

func TestOggGranulesAgreeWithPacketDurations(t *testing.T) {
	// The last page's granule position counts 48 kHz samples from the
	// start, including the pre-skip; the packets' TOC durations must cover
	// it to within one packet.
	b := DefaultAudio()
	last := bytes.LastIndex(b, []byte("OggS"))
	granule := binary.LittleEndian.Uint64(b[last+6:])
	clip, err := ParseOggOpus(b)
	if err != nil {
		t.Fatal(err)
	}
	fromGranule := time.Duration(granule) * time.Second / 48000
	if diff := clip.Duration() - fromGranule; diff < 0 || diff > 20*time.Millisecond {
		t.Errorf("packets last %v, last granule says %v", clip.Duration(), fromGranule)
	}
}

func TestParseIVFRejects(t *testing.T) {
	good := DefaultVideo()
	h264 := bytes.Clone(good)
	copy(h264[8:12], "H264")
	badTimebase := bytes.Clone(good)
	binary.LittleEndian.PutUint32(badTimebase[16:20], 0)
	noKey := bytes.Clone(good[:32])
	noKey = append(noKey, ivfFrame(0, []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10})...)
	for _, tc := range []struct {
		name string
		in   []byte
		want error
		msg  string
	}{
		{"an Ogg file as video", DefaultAudio(), ErrNotVP8IVF, "no DKIF signature"},
		{"an empty file", nil, ErrNotVP8IVF, "no DKIF signature"},
		{"an H.264 IVF file", h264, ErrNotVP8IVF, "not a VP8 IVF file (fourcc H264)"},
		{"a zero timebase", badTimebase, ErrNotVP8IVF, "bad timebase"},
		{"a file cut inside a frame", good[:len(good)-7], ErrTruncated, "truncated"},
		{"a header without frames", good[:32], ErrEmptyClip, "no media frames"},
		{"a clip starting with an inter frame", noKey, ErrNoKeyframe, "keyframe"},
	} {
		t.Run("rejects "+tc.name, func(t *testing.T) {
			_, err := ParseIVF(tc.in)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("got %v, want %v containing %q", err, tc.want, tc.msg)
			}
		})
	}
}

func TestParseOggOpusRejects(t *testing.T) {
	good := DefaultAudio()
	corrupt := bytes.Clone(good)
	corrupt[len(corrupt)-1] ^= 0xff
	vorbis := bytes.Clone(good)
	copy(vorbis[28:36], "\x01vorbis\x00")
	fixCRC(vorbis)
	for _, tc := range []struct {
		name string
		in   []byte
		want error
		msg  string
	}{
		{"an IVF file as audio", DefaultVideo(), ErrNotOggOpus, "no OggS signature"},
		{"an empty file", nil, ErrNotOggOpus, "no OggS signature"},
		{"a corrupt page", corrupt, ErrNotOggOpus, "checksum"},
		{"a cut page", good[:len(good)-5], ErrTruncated, "truncated"},
		{"Ogg Vorbis", vorbis, ErrNotOggOpus, "not OpusHead"},
	} {
		t.Run("rejects "+tc.name, func(t *testing.T) {
			_, err := ParseOggOpus(tc.in)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("got %v, want %v containing %q", err, tc.want, tc.msg)
			}
		})
	}
}

func TestParseOggOpusJoinsPacketsAcrossPagesAndSplitsPages(t *testing.T) {
	head := append([]byte("OpusHead\x01\x02\x38\x01\x80\xbb\x00\x00\x00\x00\x00"), []byte{}...)
	tags := []byte("OpusTags\x00\x00\x00\x00\x00\x00\x00\x00")
	big := bytes.Repeat([]byte{0xfc}, 600) // CELT 20 ms, spans pages
	small := []byte{0xfc, 1, 2}            // CELT 20 ms
	two := []byte{0xfd, 1, 2}              // code 1: two 20 ms frames
	three := []byte{0xf3, 0x03, 1}         // CELT 10 ms, code 3, 3 frames
	var b []byte
	b = append(b, oggPage(0x02, 0, [][]byte{head}, false)...)
	b = append(b, oggPage(0, 1, [][]byte{tags}, false)...)
	// big's first 510 bytes end page 2 unfinished; page 3 continues it
	// and holds three more packets.
	b = append(b, oggPage(0, 2, [][]byte{big[:510]}, true)...)
	b = append(b, oggPage(0x01, 3, [][]byte{big[510:], small, two, three}, false)...)
	clip, err := ParseOggOpus(b)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		n int
		d time.Duration
	}{{600, 20 * time.Millisecond}, {3, 20 * time.Millisecond}, {3, 40 * time.Millisecond}, {3, 30 * time.Millisecond}}
	if len(clip.Frames) != len(want) {
		t.Fatalf("got %d packets, want %d", len(clip.Frames), len(want))
	}
	for i, w := range want {
		if f := clip.Frames[i]; len(f.Data) != w.n || f.Duration != w.d {
			t.Errorf("packet %d: %d bytes, %v; want %d bytes, %v", i, len(f.Data), f.Duration, w.n, w.d)
		}
	}
	if clip.Channels != 2 {
		t.Errorf("got %d channels, want 2", clip.Channels)
	}
}

// fakeClock advances instantly to every deadline it is asked to sleep
// until, and cancels its context after a number of sleeps.
type fakeClock struct {
	now    time.Time
	sleeps int
	stopAt int
	cancel context.CancelFunc
}

func (c *fakeClock) Now() time.Time { return c.now }

func (c *fakeClock) SleepUntil(ctx context.Context, t time.Time) bool {
	if t.After(c.now) {
		c.now = t
	}
	c.sleeps++
	if c.sleeps == c.stopAt {
		c.cancel()
	}
	return ctx.Err() == nil
}

type recorder struct {
	mu      sync.Mutex
	samples []pionmedia.Sample
}

func (r *recorder) WriteSample(s pionmedia.Sample) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.samples = append(r.samples, s)
	return errors.New("one peer connection failed") // must not stop Play
}

func TestPlayLoopsTheClipAtItsFrameRate(t *testing.T) {
	clip, err := ParseIVF(DefaultVideo())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start := time.Unix(1000, 0)
	// Ten seconds of video: 150 frames, over three loops of 45.
	clk := &fakeClock{now: start, stopAt: 150, cancel: cancel}
	rec := &recorder{}
	play(ctx, clip, rec, clk)

	if len(rec.samples) != 150 {
		t.Fatalf("wrote %d samples in 10 s at 15 fps, want 150", len(rec.samples))
	}
	if got := clk.now.Sub(start); got < 10*time.Second-time.Microsecond || got > 10*time.Second {
		t.Errorf("the clock advanced %v, want 10 s", got)
	}
	for i, s := range rec.samples {
		f := clip.Frames[i%len(clip.Frames)]
		if !bytes.Equal(s.Data, f.Data) || s.Duration != f.Duration {
			t.Fatalf("sample %d is not frame %d of the clip", i, i%len(clip.Frames))
		}
	}
	if !vp8Keyframe(rec.samples[45].Data) {
		t.Error("the second loop does not start with a keyframe")
	}
}

// lateClock is a fakeClock whose time jumps ahead once, as if the process
// stalled.
type lateClock struct {
	fakeClock
	stallAt int
	stall   time.Duration
}

func (c *lateClock) SleepUntil(ctx context.Context, t time.Time) bool {
	if c.sleeps == c.stallAt {
		c.now = c.now.Add(c.stall)
	}
	return c.fakeClock.SleepUntil(ctx, t)
}

func TestPlayDoesNotBurstAfterAStall(t *testing.T) {
	clip, err := ParseOggOpus(DefaultAudio())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start := time.Unix(1000, 0)
	clk := &lateClock{fakeClock: fakeClock{now: start, stopAt: 100, cancel: cancel}, stallAt: 10, stall: 5 * time.Second}
	play(ctx, clip, &recorder{}, clk)
	// 100 packets of 20 ms plus the 5 s stall, which is skipped, not made
	// up by sending 250 packets at once.
	if got, want := clk.now.Sub(start), 7*time.Second; got < want-50*time.Millisecond || got > want+50*time.Millisecond {
		t.Errorf("100 packets took %v of clock time, want about %v", got, want)
	}
}

type countingWriter struct {
	mu sync.Mutex
	n  int
}

func (c *countingWriter) WriteSample(pionmedia.Sample) error {
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
	return nil
}

func (c *countingWriter) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

func TestPlayInRealTimeNeverRunsAhead(t *testing.T) {
	clip, err := ParseOggOpus(DefaultAudio())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &countingWriter{}
	done := make(chan struct{})
	start := time.Now()
	go func() { Play(ctx, clip, w); close(done) }()
	time.Sleep(300 * time.Millisecond)
	n := w.count()
	elapsed := time.Since(start)
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Play did not return after its context was cancelled")
	}
	// A loaded machine may write fewer; it must never write more than
	// the elapsed time allows.
	if max := int(elapsed/(20*time.Millisecond)) + 1; n < 1 || n > max {
		t.Errorf("wrote %d packets in %v, want 1 to %d", n, elapsed, max)
	}
}

func TestPlayVideoIVFRejectsABadClipAndStopsWithItsContext(t *testing.T) {
	video, audio, err := NewTracks("stream")
	if err != nil {
		t.Fatal(err)
	}
	if video.Codec().MimeType != webrtc.MimeTypeVP8 || audio.Codec().MimeType != webrtc.MimeTypeOpus {
		t.Fatalf("tracks are %s and %s", video.Codec().MimeType, audio.Codec().MimeType)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := PlayVideoIVF(ctx, DefaultAudio(), video); !errors.Is(err, ErrNotVP8IVF) {
		t.Errorf("PlayVideoIVF(Ogg) = %v, want ErrNotVP8IVF", err)
	}
	if err := PlayAudioOgg(ctx, DefaultVideo(), audio); !errors.Is(err, ErrNotOggOpus) {
		t.Errorf("PlayAudioOgg(IVF) = %v, want ErrNotOggOpus", err)
	}
	errs := make(chan error, 2)
	go func() { errs <- PlayVideoIVF(ctx, DefaultVideo(), video) }()
	go func() { errs <- PlayAudioOgg(ctx, DefaultAudio(), audio) }()
	cancel()
	for range 2 {
		select {
		case err := <-errs:
			if err != nil {
				t.Errorf("got %v after cancel, want nil", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Play did not return after its context was cancelled")
		}
	}
}

// ivfFrame encodes one IVF frame.
func ivfFrame(pts uint64, data []byte) []byte {
	b := make([]byte, 12, 12+len(data))
	binary.LittleEndian.PutUint32(b, uint32(len(data)))
	binary.LittleEndian.PutUint64(b[4:], pts)
	return append(b, data...)
}

// oggPage encodes one Ogg page holding packets; if open, the last packet
// continues on the next page (its length must be a multiple of 255).
func oggPage(headerType byte, seq uint32, packets [][]byte, open bool) []byte {
	var lacing, data []byte
	for i, p := range packets {
		n := len(p)
		for n >= 255 {
			lacing = append(lacing, 255)
			n -= 255
		}
		if !open || i < len(packets)-1 {
			lacing = append(lacing, byte(n))
		}
		data = append(data, p...)
	}
	h := make([]byte, 27, 27+len(lacing)+len(data))
	copy(h, "OggS")
	h[5] = headerType
	binary.LittleEndian.PutUint32(h[14:], 7)
	binary.LittleEndian.PutUint32(h[18:], seq)
	h[26] = byte(len(lacing))
	page := append(append(h, lacing...), data...)
	binary.LittleEndian.PutUint32(page[22:], oggCRC(page))
	return page
}

// fixCRC recomputes the CRC of the first page of b after an edit.
func fixCRC(b []byte) {
	n := 27 + int(b[26])
	for _, l := range b[27:n] {
		n += int(l)
	}
	binary.LittleEndian.PutUint32(b[22:], oggCRC(b[:n]))
}
