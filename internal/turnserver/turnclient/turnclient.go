// Package turnclient is a minimal TURN client over UDP (RFC 8656) for load
// generators and tests: it allocates a relay, creates permissions, binds
// channels and refreshes, and leaves the data itself to its caller, who
// writes ChannelData (see AppendChannelData) straight to the socket, as
// fast as it likes, with no per-packet work in this package.
//
// It works against any TURN server with long-term credentials, e.g. TURN
// REST credentials from turnserver.RESTCredentials against peercall's
// embedded server or coturn.
package turnclient

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/pion/stun/v4"
)

// Defaults of a Client's transaction timing.
const (
	// DefaultRTO is the wait for a response before a request is sent
	// again.
	DefaultRTO = 500 * time.Millisecond
	// DefaultAttempts is how often a request is sent before giving up.
	DefaultAttempts = 7
)

// ErrTimeout means that a request got no response.
var ErrTimeout = errors.New("turnclient: no response")

// Client is one TURN allocation's control channel on a UDP socket. Its
// methods must not run concurrently, and nothing else may read from the
// socket while one runs: a transaction reads (and discards) whatever
// arrives until its response does.
type Client struct {
	conn     *net.UDPConn
	server   netip.AddrPort
	username string
	password string
	// RTO and Attempts override DefaultRTO and DefaultAttempts when set.
	RTO      time.Duration
	Attempts int

	realm, nonce string
	integrity    stun.MessageIntegrity
	buf          []byte
}

// New returns a Client of the TURN server at server, speaking from conn
// with the given long-term credentials.
func New(conn *net.UDPConn, server netip.AddrPort, username, password string) *Client {
	return &Client{conn: conn, server: server, username: username, password: password, buf: make([]byte, 1500)}
}

// Allocate requests a UDP relay and returns its address
// (XOR-RELAYED-ADDRESS).
func (c *Client) Allocate() (netip.AddrPort, error) {
	res, err := c.do(stun.MethodAllocate, requestedTransportUDP)
	if err != nil {
		return netip.AddrPort{}, err
	}
	var relay stun.XORMappedAddress
	if err := relay.GetFromAs(res, stun.AttrXORRelayedAddress); err != nil {
		return netip.AddrPort{}, fmt.Errorf("turnclient: allocate response: %w", err)
	}
	ip, ok := netip.AddrFromSlice(relay.IP)
	if !ok {
		return netip.AddrPort{}, fmt.Errorf("turnclient: allocate response: bad relay address %v", relay.IP)
	}
	return netip.AddrPortFrom(ip.Unmap(), uint16(relay.Port)), nil
}

// CreatePermission installs a permission for peer's IP address.
func (c *Client) CreatePermission(peer netip.AddrPort) error {
	_, err := c.do(stun.MethodCreatePermission, peerAddress(peer))
	return err
}

// ChannelBind binds channel number (0x4000–0x7FFF) to peer, which also
// installs a permission for it.
func (c *Client) ChannelBind(number uint16, peer netip.AddrPort) error {
	v := make([]byte, 4)
	binary.BigEndian.PutUint16(v, number)
	_, err := c.do(stun.MethodChannelBind, stun.RawAttribute{Type: stun.AttrChannelNumber, Value: v}, peerAddress(peer))
	return err
}

// Refresh refreshes the allocation for lifetime; 0 deletes it.
func (c *Client) Refresh(lifetime time.Duration) error {
	v := make([]byte, 4)
	binary.BigEndian.PutUint32(v, uint32(lifetime/time.Second))
	_, err := c.do(stun.MethodRefresh, stun.RawAttribute{Type: stun.AttrLifetime, Value: v})
	return err
}

// Send sends data to peer in a Send indication (no channel needed, only a
// permission).
func (c *Client) Send(peer netip.AddrPort, data []byte) error {
	m, err := stun.Build(stun.TransactionID, stun.NewType(stun.MethodSend, stun.ClassIndication),
		peerAddress(peer), stun.RawAttribute{Type: stun.AttrData, Value: data}, stun.Fingerprint)
	if err != nil {
		return err
	}
	_, err = c.conn.WriteToUDPAddrPort(m.Raw, c.server)
	return err
}

// do runs one authenticated transaction: it answers 401 and 438 with the
// realm and nonce given, and returns the success response or the error
// response as a *stun.TurnError.
func (c *Client) do(method stun.Method, attrs ...stun.Setter) (*stun.Message, error) {
	for range 3 { // first try, 401 (no nonce yet), 438 (stale nonce)
		authed := c.nonce != ""
		setters := []stun.Setter{stun.TransactionID, stun.NewType(method, stun.ClassRequest)}
		setters = append(setters, attrs...)
		if c.nonce != "" {
			setters = append(setters, stun.NewUsername(c.username), stun.NewRealm(c.realm), stun.NewNonce(c.nonce), c.integrity)
		}
		setters = append(setters, stun.Fingerprint)
		req, err := stun.Build(setters...)
		if err != nil {
			return nil, err
		}
		res, err := c.roundTrip(req)
		if err != nil {
			return nil, fmt.Errorf("turnclient: %s: %w", method, err)
		}
		if res.Type.Class == stun.ClassSuccessResponse {
			return res, nil
		}
		var code stun.ErrorCodeAttribute
		if err := code.GetFrom(res); err != nil {
			return nil, fmt.Errorf("turnclient: %s: error response without a code", method)
		}
		retry := code.Code == stun.CodeStaleNonce || code.Code == stun.CodeUnauthorized && !authed
		if !retry || c.learnNonce(res) != nil {
			return nil, &stun.TurnError{StunMessageType: res.Type, ErrorCodeAttr: code}
		}
	}
	return nil, fmt.Errorf("turnclient: %s: still unauthorized with a fresh nonce", method)
}

// learnNonce takes the realm and nonce of a 401 or 438 response.
func (c *Client) learnNonce(res *stun.Message) error {
	var realm stun.Realm
	var nonce stun.Nonce
	if err := nonce.GetFrom(res); err != nil {
		return err
	}
	if err := realm.GetFrom(res); err == nil {
		c.realm = realm.String()
	}
	c.nonce = nonce.String()
	c.integrity = stun.NewLongTermIntegrity(c.username, c.realm, c.password)
	return nil
}

// roundTrip sends req until a response with its transaction ID arrives.
func (c *Client) roundTrip(req *stun.Message) (*stun.Message, error) {
	rto, attempts := c.RTO, c.Attempts
	if rto <= 0 {
		rto = DefaultRTO
	}
	if attempts <= 0 {
		attempts = DefaultAttempts
	}
	defer c.conn.SetReadDeadline(time.Time{})
	for range attempts {
		if _, err := c.conn.WriteToUDPAddrPort(req.Raw, c.server); err != nil {
			return nil, err
		}
		deadline := time.Now().Add(rto)
		_ = c.conn.SetReadDeadline(deadline)
		for {
			n, from, err := c.conn.ReadFromUDPAddrPort(c.buf)
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					break // send again
				}
				return nil, err
			}
			if from.Addr().Unmap() != c.server.Addr().Unmap() || from.Port() != c.server.Port() || !stun.IsMessage(c.buf[:n]) {
				continue
			}
			res := &stun.Message{Raw: append([]byte(nil), c.buf[:n]...)}
			if err := res.Decode(); err != nil || res.TransactionID != req.TransactionID {
				continue
			}
			return res, nil
		}
	}
	return nil, ErrTimeout
}

var requestedTransportUDP = stun.RawAttribute{Type: stun.AttrRequestedTransport, Value: []byte{17, 0, 0, 0}}

// peerAddress is an XOR-PEER-ADDRESS attribute.
type peerAddress netip.AddrPort

func (p peerAddress) AddTo(m *stun.Message) error {
	ap := netip.AddrPort(p)
	a := stun.XORMappedAddress{IP: net.IP(ap.Addr().Unmap().AsSlice()), Port: int(ap.Port())}
	return a.AddToAs(m, stun.AttrXORPeerAddress)
}

// AppendChannelData appends a ChannelData message carrying payload on
// channel number to dst, padded to a multiple of 4 bytes.
func AppendChannelData(dst []byte, number uint16, payload []byte) []byte {
	dst = binary.BigEndian.AppendUint16(dst, number)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(payload)))
	dst = append(dst, payload...)
	for range (4 - len(payload)%4) % 4 {
		dst = append(dst, 0)
	}
	return dst
}

// ParseChannelData returns the channel number and payload of a ChannelData
// message; ok is false if b is not one.
func ParseChannelData(b []byte) (number uint16, payload []byte, ok bool) {
	if len(b) < 4 {
		return 0, nil, false
	}
	number = binary.BigEndian.Uint16(b)
	n := int(binary.BigEndian.Uint16(b[2:]))
	if number < 0x4000 || number > 0x7FFF || n > len(b)-4 {
		return 0, nil, false
	}
	return number, b[4 : 4+n], true
}

// ParseDataIndication returns the peer and data of a Data indication.
func ParseDataIndication(b []byte) (peer netip.AddrPort, data []byte, ok bool) {
	if !stun.IsMessage(b) {
		return netip.AddrPort{}, nil, false
	}
	m := &stun.Message{Raw: append([]byte(nil), b...)}
	if m.Decode() != nil || m.Type != stun.NewType(stun.MethodData, stun.ClassIndication) {
		return netip.AddrPort{}, nil, false
	}
	var xa stun.XORMappedAddress
	if xa.GetFromAs(m, stun.AttrXORPeerAddress) != nil {
		return netip.AddrPort{}, nil, false
	}
	data, err := m.Get(stun.AttrData)
	ip, ok := netip.AddrFromSlice(xa.IP)
	if err != nil || !ok {
		return netip.AddrPort{}, nil, false
	}
	return netip.AddrPortFrom(ip.Unmap(), uint16(xa.Port)), data, true
}
