package browsertest_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/peercall/peercall/internal/browsertest"
	"github.com/peercall/peercall/internal/testutil"
)

func TestMain(m *testing.M) { testutil.MainInLoopbackNamespace(m) }

const page = `<!doctype html><title>t</title><button id=b>share</button>
<script>
window.result = '';
document.getElementById('b').onclick = () => navigator.mediaDevices.getDisplayMedia({video: true})
  .then((s) => { window.result = 'ok ' + s.getVideoTracks()[0].label; }, (e) => { window.result = e.name; });
</script>`

func server(t *testing.T) string {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte(page))
	}))
	t.Cleanup(ts.Close)
	return ts.URL
}

func TestMedia(t *testing.T) {
	b := browsertest.Start(t)
	url := server(t)

	t.Run("granted pages get the fake camera and microphone", func(t *testing.T) {
		p := b.NewPage(t, browsertest.Named("granted"))
		p.Navigate(url)
		var kinds []string
		p.Eval(`navigator.mediaDevices.getUserMedia({audio: true, video: true}).then((s) => s.getTracks().map((t) => t.kind).sort())`, &kinds)
		if len(kinds) != 2 || kinds[0] != "audio" || kinds[1] != "video" {
			t.Fatalf("tracks = %v, want audio and video", kinds)
		}
	})

	t.Run("blocked pages get NotAllowedError", func(t *testing.T) {
		p := b.NewPage(t, browsertest.Named("blocked"), browsertest.BlockedMedia())
		p.Navigate(url)
		var name string
		p.Eval(`navigator.mediaDevices.getUserMedia({audio: true, video: true}).then(() => 'granted', (e) => e.name)`, &name)
		if name != "NotAllowedError" {
			t.Fatalf("getUserMedia = %s, want NotAllowedError", name)
		}
	})

	t.Run("screen capture works after a click with the fake media UI", func(t *testing.T) {
		// Without --use-fake-ui-for-media-stream getDisplayMedia waits for a
		// picker that headless Chromium never shows, CDP grant or not.
		fb := browsertest.Start(t, browsertest.WithFakeMediaUI())
		p := fb.NewPage(t, browsertest.Named("screen"))
		p.Navigate(url)
		p.Click("#b")
		p.Wait(0, "getDisplayMedia to settle", `window.result !== ''`)
		var res string
		p.Eval(`window.result`, &res)
		t.Logf("getDisplayMedia: %s", res)
		if len(res) < 2 || res[:2] != "ok" {
			t.Fatalf("getDisplayMedia = %s", res)
		}
	})

	t.Run("waiting reports the expression on timeout", func(t *testing.T) {
		p := b.NewPage(t)
		p.Navigate(url)
		if err := p.Poll(300_000_000, `false`); err == nil {
			t.Fatal("Poll of false succeeded")
		}
	})
}
