package turnserver

import "errors"

// Configuration errors returned (wrapped) by New.
var (
	// ErrInvalidListenAddr means Config.ListenAddr is not host:port with an
	// IP literal (or empty) host and a numeric port.
	ErrInvalidListenAddr = errors.New("turnserver: invalid listen address")
	// ErrInvalidPublicIP means Config.PublicIP is not an IP address, or is
	// one that cannot be advertised (unspecified or multicast).
	ErrInvalidPublicIP = errors.New("turnserver: invalid public IP")
	// ErrInvalidConfig means a numeric or string field of Config is out of
	// range (negative durations or counts, a realm with control characters).
	ErrInvalidConfig = errors.New("turnserver: invalid config")
	// ErrListen means binding the UDP sockets or the TCP listener failed.
	ErrListen = errors.New("turnserver: listen")
)

// Credential errors returned (wrapped) by ParseRESTUsername and
// VerifyRESTCredentials.
var (
	// ErrMalformedUsername means a REST username is not
	// "<unix-expiry>:<user>" with a decimal expiry and a non-empty user.
	ErrMalformedUsername = errors.New("turnserver: malformed REST username")
	// ErrCredentialsExpired means the username's expiry is in the past.
	ErrCredentialsExpired = errors.New("turnserver: credentials expired")
	// ErrWrongPassword means the password is not the HMAC of the username.
	ErrWrongPassword = errors.New("turnserver: wrong password")
)

// Relay errors, seen by pion/turn (which answers 508 or 440) and in logs.
var (
	// errAddressFamily: the client asked for a relay in an address family
	// the server does not advertise.
	errAddressFamily = errors.New("turnserver: relay address family not supported")
	// errTCPRelayDisabled: RFC 6062 TCP relay allocations are not offered.
	errTCPRelayDisabled = errors.New("turnserver: TCP relay allocations are disabled")
)

// errWrongRealm: the request's REALM is not the server's.
var errWrongRealm = errors.New("turnserver: wrong realm")
