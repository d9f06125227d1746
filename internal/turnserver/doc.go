// Package turnserver is peercall's embedded STUN/TURN server, built on
// pion/turn v5.
//
// It adds what a public deployment needs on top of pion's defaults:
//
//   - TURN REST credentials (coturn's use-auth-secret scheme), minted by
//     Server.Credentials and Server.ICEServers and checked against an
//     injectable clock, so coturn can replace the embedded server with the
//     same secret (see RESTCredentials and README.md);
//   - a relay peer filter (AllowedPeer) on every listener: pion relays to
//     any address by default, which makes an open relay into the server's
//     own networks (loopback, RFC 1918, cloud metadata);
//   - a per-user allocation quota (486 Allocation Quota Reached);
//   - several UDP sockets sharing the port with SO_REUSEPORT, each with its
//     own read goroutine and 4 MiB buffers, plus a TCP listener on the
//     same port;
//   - a fast path for data on bound channels over UDP (fastpath.go): pion
//     keeps every control decision, but ChannelData from clients and data
//     from peers with a channel are forwarded in batches (recvmmsg and
//     sendmmsg, with UDP GSO where packets to one peer have equal sizes,
//     see package udpbatch), without allocating, instead of one system
//     call and several allocations per packet in pion's handlers;
//   - cheap atomic counters (Server.Stats) and slog logging.
//
// Only UDP relays are offered (over UDP or TCP to the client), in the
// address family of the advertised public IP; RFC 6062 TCP relays are
// refused.
package turnserver
