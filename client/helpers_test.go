package client

// Test helpers shared by the package's internal and external (client_test)
// tests. Exported names here exist only in test builds.

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"

	"github.com/peercall/peercall/internal/testutil"
)

// LeakCheck records the goroutine count now and, when the test ends (after
// cleanups registered later, such as a test server's), waits for the count
// to come back down, failing with a stack dump if it does not. pion leaves
// some goroutines running briefly after Close, hence the polling.
func LeakCheck(t testing.TB) {
	t.Helper()
	base := runtime.NumGoroutine()
	t.Cleanup(func() {
		err := testutil.Poll(20*time.Second, func() error {
			if n := runtime.NumGoroutine(); n > base {
				return fmt.Errorf("%d goroutines, %d at start", n, base)
			}
			return nil
		})
		if err != nil {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Errorf("goroutine leak: %v\n%s", err, buf)
		}
	})
}

// Media is a synthetic VP8 video and Opus audio source.
type Media struct {
	Audio, Video *webrtc.TrackLocalStaticSample
	stop         chan struct{}
	wg           sync.WaitGroup
}

// NewMedia starts writing a 20 ms audio frame and a video frame every 20 ms
// to two new tracks, until the test ends. pion does not decode, so the
// payloads need only look plausible.
func NewMedia(t testing.TB, streamID string) *Media {
	t.Helper()
	return NewMediaEvery(t, streamID, 20*time.Millisecond)
}

// NewMediaEvery is NewMedia writing a frame of each kind every interval.
func NewMediaEvery(t testing.TB, streamID string, interval time.Duration) *Media {
	t.Helper()
	audio, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus}, "audio", streamID)
	if err != nil {
		t.Fatal(err)
	}
	video, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, "video", streamID)
	if err != nil {
		t.Fatal(err)
	}
	m := &Media{Audio: audio, Video: video, stop: make(chan struct{})}
	opus := []byte{0xf8, 0xff, 0xfe}
	vp8 := make([]byte, 200)
	copy(vp8, []byte{0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x10, 0x00, 0x10, 0x00})
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-m.stop:
				return
			case <-tick.C:
			}
			_ = audio.WriteSample(mediaSample(opus))
			_ = video.WriteSample(mediaSample(vp8))
		}
	}()
	t.Cleanup(m.Stop)
	return m
}

func mediaSample(b []byte) media.Sample {
	return media.Sample{Data: b, Duration: 20 * time.Millisecond}
}

// Stop stops writing. Idempotent.
func (m *Media) Stop() {
	select {
	case <-m.stop:
	default:
		close(m.stop)
	}
	m.wg.Wait()
}

// Tracks returns the tracks to publish.
func (m *Media) Tracks() []webrtc.TrackLocal { return []webrtc.TrackLocal{m.Audio, m.Video} }

// RTPCounter counts RTP packets received per peer and kind.
type RTPCounter struct {
	mu sync.Mutex
	n  map[string]*atomic.Int64 // "peerID/kind"
}

// NewRTPCounter returns an empty counter.
func NewRTPCounter() *RTPCounter { return &RTPCounter{n: map[string]*atomic.Int64{}} }

func (c *RTPCounter) counter(peer, kind string) *atomic.Int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := peer + "/" + kind
	if c.n[k] == nil {
		c.n[k] = new(atomic.Int64)
	}
	return c.n[k]
}

// OnTrack is a Config.OnTrack that reads the track until it ends, counting
// packets.
func (c *RTPCounter) OnTrack(p *Peer, track *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
	n := c.counter(p.ID(), track.Kind().String())
	for {
		if _, _, err := track.ReadRTP(); err != nil {
			return
		}
		n.Add(1)
	}
}

// Count returns the packets of kind ("audio" or "video") received from peer.
func (c *RTPCounter) Count(peer, kind string) int64 { return c.counter(peer, kind).Load() }

// WantAV returns nil once at least min audio and min video packets have
// arrived from each of peers.
func (c *RTPCounter) WantAV(min int64, peers ...string) error {
	var missing []string
	for _, p := range peers {
		for _, k := range []string{"audio", "video"} {
			if n := c.Count(p, k); n < min {
				missing = append(missing, fmt.Sprintf("%s/%s=%d", p, k, n))
			}
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("too few RTP packets: %s", strings.Join(missing, " "))
	}
	return nil
}
