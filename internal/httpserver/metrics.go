package httpserver

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// newMetrics registers the server's metrics on a registry of its own, read
// from the parts' counters at scrape time (nothing on the hot paths).
func (s *Server) newMetrics() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	gauge := func(name, help string, f func() float64) {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "peercall", Name: name, Help: help}, f))
	}
	counter := func(name, help string, f func() float64) {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "peercall", Name: name, Help: help}, f))
	}
	gauge("connections", "Open signaling WebSocket connections.", func() float64 { return float64(s.signal.Stats().Connections) })
	gauge("rooms", "Rooms with at least one participant.", func() float64 { return float64(s.backend.Stats().Rooms) })
	gauge("participants", "Participants in all rooms.", func() float64 { return float64(s.backend.Stats().Participants) })
	counter("signal_messages_received_total", "Signaling frames read from clients.", func() float64 { return float64(s.signal.Stats().MessagesIn) })
	counter("signal_messages_relayed_total", "Offers, answers and candidates relayed between participants.", func() float64 { return float64(s.signal.Stats().MessagesRelayed) })
	counter("signal_errors_total", "Error frames sent to clients.", func() float64 { return float64(s.signal.Stats().Errors) })
	counter("signal_slow_consumers_total", "Connections dropped for not reading their messages.", func() float64 { return float64(s.signal.Stats().SlowConsumers) })
	counter("signal_rate_limited_total", "Frames, joins and connections refused by a rate or count limit.", func() float64 { return float64(s.signal.Stats().RateLimited) })
	counter("signal_keepalive_expired_total", "Connections dropped for keepalive silence.", func() float64 { return float64(s.signal.Stats().KeepaliveExpired) })
	if c := s.cluster; c != nil {
		up := func() float64 {
			if c.ClusterStats().Healthy {
				return 1
			}
			return 0
		}
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "peercall", Name: "cluster_node_info", Help: "This node's cluster ID (always 1).",
			ConstLabels: prometheus.Labels{"node": c.Node()}}, func() float64 { return 1 }))
		gauge("cluster_redis_up", "1 while this node reaches Redis and listens on its channel, else 0.", up)
		gauge("cluster_nodes", "Live nodes seen at the last heartbeat.", func() float64 { return float64(c.ClusterStats().Nodes) })
		gauge("cluster_redis_rtt_seconds", "Round trip of the last heartbeat to Redis.", func() float64 { return c.ClusterStats().RedisRTT.Seconds() })
		counter("cluster_redis_commands_total", "Redis commands sent by this node (a script counts as one).", func() float64 { return float64(c.ClusterStats().RedisCommands) })
		counter("cluster_redis_errors_total", "Redis commands of this node that failed.", func() float64 { return float64(c.ClusterStats().RedisErrors) })
	}
	if s.turn != nil {
		gauge("turn_allocations", "Current TURN allocations.", func() float64 { return float64(s.turn.Stats().Allocations) })
		counter("turn_allocations_total", "TURN allocations created.", func() float64 { return float64(s.turn.Stats().AllocationsTotal) })
		counter("turn_relayed_bytes_total", "Bytes relayed by TURN, both directions.", func() float64 { return float64(s.turn.Stats().RelayedBytes) })
		counter("turn_fast_path_packets_total", "ChannelData packets relayed by peercall's batched fast path (the rest go through pion/turn).", func() float64 { return float64(s.turn.Stats().FastPathPackets) })
		counter("turn_auth_failures_total", "TURN requests refused for bad or expired credentials.", func() float64 { return float64(s.turn.Stats().AuthFailures) })
		counter("turn_quota_rejections_total", "TURN allocations refused by the per-participant quota.", func() float64 { return float64(s.turn.Stats().QuotaRejections) })
		counter("turn_peer_denials_total", "TURN permissions refused by the relay peer filter.", func() float64 { return float64(s.turn.Stats().PeerDenials) })
	}
	return reg
}
