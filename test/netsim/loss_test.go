package netsim

import (
	"testing"
)

// TestTheCallSurvivesPacketLoss drops 5% of the UDP packets through one
// NAT router, at random, both ways: the call connects and stays up, and the
// receivers' statistics report the loss (peercall join's loss_pct, from the
// RTP sequence numbers).
func TestTheCallSurvivesPacketLoss(t *testing.T) {
	l := newLab(t)
	core, srv := l.internet()
	lossy := "meta l4proto udp numgen random mod 100 < 5 drop"
	a := l.natted(core, "a", "198.51.100.21", 0, "masquerade", lossy)
	b := l.natted(core, "b", "198.51.100.22", 64, "masquerade", "")
	url := l.serve(srv)
	ra, rb, err := l.call(url, a, b, nil, "--duration", "12s")
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range []joinReport{ra, rb} {
		if len(r.Peers) != 1 {
			t.Fatalf("peer %d: %+v", i, r)
		}
		p := r.Peers[0]
		if p.Video.Packets == 0 || p.Audio.Packets == 0 {
			t.Fatalf("peer %d got no media: %+v", i, p)
		}
		// Audio shows the path's loss; video's is mostly repaired by NACK
		// retransmissions before the application sees it.
		if p.Audio.LossPct == nil || *p.Audio.LossPct < 1 || *p.Audio.LossPct > 15 {
			t.Fatalf("peer %d: audio loss reported as %.2f%%, want about 5%%", i, deref(p.Audio.LossPct))
		}
		if p.Video.MaxGapMS > 2000 {
			t.Errorf("peer %d: video stopped for %d ms", i, p.Video.MaxGapMS)
		}
		t.Logf("peer %d: %d video packets, loss %.1f%% video / %.1f%% audio, longest gap %d ms", i, p.Video.Packets, *p.Video.LossPct, deref(p.Audio.LossPct), p.Video.MaxGapMS)
	}
}

func deref(f *float64) float64 {
	if f == nil {
		return -1
	}
	return *f
}
