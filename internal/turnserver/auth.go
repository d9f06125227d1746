package turnserver

import (
	"net"

	"github.com/pion/stun/v4"
	"github.com/pion/turn/v5"
)

// authenticate is the turn.AuthHandler: it accepts REST usernames that are
// well formed and in the server's realm, and returns the user part as the
// userID, so quotas and logs attribute allocations to the participant. pion
// then checks the request's MESSAGE-INTEGRITY with the returned key, which
// fails for a wrong password (counted in onAuth).
//
// Expiry limits new allocations only. Refresh, CreatePermission and
// ChannelBind act on the allocation of the request's own 5-tuple, made
// with credentials that were valid then; refusing them once the
// credentials expire would end every relayed call longer than the
// credentials' lifetime (12 h) at its next refresh. The password is still
// checked on each of them.
func (s *Server) authenticate(ra *turn.RequestAttributes) (userID string, key []byte, ok bool) {
	var user string
	var err error
	if ra.Method == stun.MethodAllocate {
		user, _, err = checkRESTUsername(ra.Username, s.st.now())
	} else {
		user, _, err = ParseRESTUsername(ra.Username)
	}
	if err == nil && ra.Realm != s.st.realm {
		err = errWrongRealm
	}
	if err != nil {
		s.counters.authFailures.Add(1)
		s.st.logger.Debug("turn auth refused", "client", ra.SrcAddr, "method", ra.Method.String(), "err", err)
		return "", nil, false
	}
	return user, turn.GenerateAuthKey(ra.Username, ra.Realm, restPassword(s.st.secret, ra.Username)), true
}

// onAuth counts requests whose MESSAGE-INTEGRITY did not match the key
// authenticate returned: a wrong password.
func (s *Server) onAuth(src, _ net.Addr, proto, username, _, method string, verdict bool) {
	if verdict {
		return
	}
	s.counters.authFailures.Add(1)
	s.st.logger.Debug("turn auth refused", "client", src, "proto", proto, "method", method, "username", username, "err", ErrWrongPassword)
}

// checkQuota is the turn.QuotaHandler: it reserves one allocation for the
// user, which the relay socket releases when it closes.
func (s *Server) checkQuota(userID, _ string, src net.Addr) bool {
	if s.quota.acquire(userID) {
		return true
	}
	s.counters.quotaRejections.Add(1)
	s.st.logger.Debug("turn allocation quota reached", "user", userID, "client", src, "max", s.st.quota)
	return false
}

// permit is the turn.PermissionHandler of every listener.
func (s *Server) permit(client net.Addr, peer net.IP) bool {
	if AllowedPeer(peer, s.st.allowLoopback) {
		return true
	}
	s.counters.peerDenials.Add(1)
	s.st.logger.Debug("turn peer refused", "client", client, "peer", peer)
	return false
}
