package media

import "testing"

// The parsers take files from users: they must never panic, and a clip
// they accept must be playable.
func checkClip(t *testing.T, c *Clip) {
	if len(c.Frames) == 0 {
		t.Fatal("accepted a clip without frames")
	}
	for i, f := range c.Frames {
		if len(f.Data) == 0 || f.Duration < minFrameDuration || f.Duration > maxFrameDuration {
			t.Fatalf("frame %d: %d bytes, %v", i, len(f.Data), f.Duration)
		}
	}
}

func FuzzParseIVF(f *testing.F) {
	f.Add(DefaultVideo()[:4000])
	f.Add([]byte("DKIF\x00\x00\x20\x00VP80"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if c, err := ParseIVF(b); err == nil {
			checkClip(t, c)
		}
	})
}

func FuzzParseOggOpus(f *testing.F) {
	f.Add(DefaultAudio()[:2000])
	f.Add([]byte("OggS"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if c, err := ParseOggOpus(b); err == nil {
			checkClip(t, c)
		}
	})
}
