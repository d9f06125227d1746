package netsim

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/peercall/peercall/internal/testutil"
)

type addrReport struct {
	ParticipantID string `json:"participant_id"`
	Peers         []struct {
		ID             string `json:"id"`
		LastMediaAgeMS *int64 `json:"last_media_age_ms"`
		Video          struct {
			Packets  int   `json:"packets"`
			MaxGapMS int64 `json:"max_gap_ms"`
		}
	} `json:"peers"`
}

// TestAnAddressChangeRecoversByICERestart moves one peer to a new address
// in the middle of a call, as when a laptop moves from Wi-Fi to a phone's
// hotspot: the old media path and the old signaling socket are dead. The
// client reconnects, resumes its session and restarts ICE with new
// candidates; the call goes on with the same participants.
func TestAnAddressChangeRecoversByICERestart(t *testing.T) {
	l := newLab(t)
	core, srv := l.internet()
	a, b := l.ns("a"), l.ns("b")
	l.attach(core, a, "eth0", "198.51.100.31/24")
	l.attach(core, b, "eth0", "198.51.100.32/24")
	url := l.serve(srv)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	const duration = 45 * time.Second
	pa := l.startJoin(ctx, a, url, "a", "--duration="+duration.String())
	pb := l.startJoin(ctx, b, url, "b", "--duration="+duration.String())
	testutil.Eventually(t, 30*time.Second, func() error {
		for _, p := range []*joinProc{pa, pb} {
			if !strings.Contains(p.stderr.String(), "first video packet") {
				return fmt.Errorf("no video yet")
			}
		}
		return nil
	})
	l.sh("ip", "-n", a, "addr", "flush", "dev", "eth0")
	l.sh("ip", "-n", a, "addr", "add", "198.51.100.41/24", "dev", "eth0")

	var reps [2]addrReport
	for i, p := range []*joinProc{pa, pb} {
		if err := <-p.done; err != nil {
			t.Fatalf("join %d: %v\n%s", i, err, p.stderr)
		}
		if err := json.Unmarshal([]byte(p.stdout.String()), &reps[i]); err != nil {
			t.Fatalf("join %d report: %v: %s", i, err, p.stdout)
		}
	}
	for i, r := range reps {
		if len(r.Peers) != 1 || r.Peers[0].ID != reps[1-i].ParticipantID {
			t.Fatalf("participant %d saw %+v; want the same peer throughout", i, r.Peers)
		}
		p := r.Peers[0]
		// Media flowing again at the end means the call recovered.
		if p.LastMediaAgeMS == nil || *p.LastMediaAgeMS > 1000 {
			t.Fatalf("participant %d: no media at the end (last packet %d ms before); the call did not recover\n%s", i, *p.LastMediaAgeMS, []*joinProc{pa, pb}[i].stderr)
		}
		gap := time.Duration(p.Video.MaxGapMS) * time.Millisecond
		t.Logf("participant %d: media recovered; it stopped for %v at worst", i, gap)
		if gap > 20*time.Second {
			t.Errorf("participant %d: media stopped for %v; recovery should take seconds, not the keepalive's", i, gap)
		}
	}
}
