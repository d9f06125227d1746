package turnserver

import "sync/atomic"

// Stats is a snapshot of the server's counters.
type Stats struct {
	// Allocations is the number of relay allocations open now.
	Allocations int64
	// AllocationsTotal counts allocations created since start.
	AllocationsTotal uint64
	// RelayedBytes counts payload bytes read from and written to relay
	// sockets (both directions; without TURN framing). Packets a peer
	// sends to a relay without a permission are counted, then dropped.
	RelayedBytes uint64
	// AuthFailures counts requests refused for bad credentials: malformed,
	// expired, wrong realm or wrong password (message integrity). The
	// initial unauthenticated request of every TURN exchange, which the
	// protocol always answers with 401, is not counted.
	AuthFailures uint64
	// QuotaRejections counts Allocate requests refused with 486 because
	// the user had MaxAllocationsPerUser allocations.
	QuotaRejections uint64
	// PeerDenials counts CreatePermission and ChannelBind requests refused
	// by the peer filter (see AllowedPeer).
	PeerDenials uint64
	// FastPathPackets counts packets relayed on bound channels by the
	// batched fast path, in both directions, rather than by pion/turn's
	// per-packet handlers (see Config.PionDataPath).
	FastPathPackets uint64
}

// counters are the server's live counters. Each is an atomic, so Stats is
// cheap and callers on hot paths do not contend on a lock.
type counters struct {
	allocations      atomic.Int64
	allocationsTotal atomic.Uint64
	authFailures     atomic.Uint64
	quotaRejections  atomic.Uint64
	peerDenials      atomic.Uint64
	fastPackets      atomic.Uint64
}

// byteCounter counts relayed bytes for one listening socket's relays. It is
// padded to a cache line so that relays of different sockets, served on
// different cores, do not share one.
type byteCounter struct {
	n atomic.Uint64
	_ [56]byte
}

// Stats returns a snapshot of the server's counters. It only loads
// atomics and is safe to call often (e.g. from a metrics scrape).
func (s *Server) Stats() Stats {
	var relayed uint64
	for _, c := range s.relayBytes {
		relayed += c.n.Load()
	}
	return Stats{
		Allocations:      s.counters.allocations.Load(),
		AllocationsTotal: s.counters.allocationsTotal.Load(),
		RelayedBytes:     relayed,
		AuthFailures:     s.counters.authFailures.Load(),
		QuotaRejections:  s.counters.quotaRejections.Load(),
		PeerDenials:      s.counters.peerDenials.Load(),
		FastPathPackets:  s.counters.fastPackets.Load(),
	}
}
