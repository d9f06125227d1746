package client

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/peercall/peercall/internal/testutil"
)

func TestFileChannelRejectsEveryOffer(t *testing.T) {
	text := func(s string) webrtc.DataChannelMessage {
		return webrtc.DataChannelMessage{IsString: true, Data: []byte(s)}
	}
	for _, c := range []struct {
		in   webrtc.DataChannelMessage
		want string
	}{
		{text(`{"t":"start","id":"f1","name":"a.txt","size":3,"mime":"text/plain"}`),
			`{"t":"reject","id":"f1","code":"unsupported","message":"this participant cannot receive files"}`},
		{text(`{"t":"start","id":7}`),
			`{"t":"reject","id":7,"code":"unsupported","message":"this participant cannot receive files"}`},
		{text(`{"t":"start"}`), ""},
		{text(`{"t":"end","id":"f1"}`), ""},
		{text(`{"t":"cancel","id":"f1"}`), ""},
		{text(`not json`), ""},
		{text(``), ""},
		{webrtc.DataChannelMessage{Data: []byte(`{"t":"start","id":"f1"}`)}, ""}, // binary: a chunk
	} {
		if got := string(fileChannelReply(c.in)); got != c.want {
			t.Errorf("reply to %q = %s, want %s", c.in.Data, got, c.want)
		}
	}
}

// A browser's file offer arrives on the negotiated channel with ID 1 and is
// refused at once.
func TestFileChannelAnswersAStartWithAReject(t *testing.T) {
	LeakCheck(t)
	pr := newPair(t, true, false)
	pr.waitFlowing(t)
	pr.a.mu.Lock()
	fdc := pr.a.fileDC
	pr.a.mu.Unlock()
	if fdc.ID() == nil || *fdc.ID() != fileChannelID || fdc.Label() != fileChannelLabel {
		t.Fatalf("file channel %q id %v", fdc.Label(), fdc.ID())
	}
	got := make(chan []byte, 4)
	fdc.OnMessage(func(m webrtc.DataChannelMessage) { got <- m.Data }) // act as the browser
	testutil.Eventually(t, 20*time.Second, func() error {
		if fdc.ReadyState() != webrtc.DataChannelStateOpen {
			return errors.New("file channel not open")
		}
		return nil
	})
	if err := fdc.SendText(`{"t":"start","id":"x1","name":"cat.png","size":1000,"mime":"image/png"}`); err != nil {
		t.Fatal(err)
	}
	select {
	case b := <-got:
		var m map[string]string
		if err := json.Unmarshal(b, &m); err != nil || m["t"] != "reject" || m["id"] != "x1" || m["code"] != "unsupported" {
			t.Errorf("answer %s", b)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no answer to start")
	}
}
