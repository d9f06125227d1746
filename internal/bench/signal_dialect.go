package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Server kinds of the signal suite.
const (
	serverPeercall = "peercall"
	serverPeerJS   = "peerjs-server"
)

// frameKind classifies a frame received from a signaling server.
type frameKind int

const (
	kindOther frameKind = iota
	kindOffer
	kindAnswer
	kindCandidate
	kindPong
	kindPeerJoined
	kindError
)

// dialect is one server's wire protocol, as much of it as the workloads use.
type dialect interface {
	// dial connects and introduces the client: peercall joins room (and
	// returns the IDs of those already in it); peerjs-server registers id.
	// It returns the client's own ID.
	dial(ctx context.Context, addr, room, id string, seed uint32) (c *wsConn, self string, others []string, err error)
	// ping is the keepalive frame.
	ping() []byte
	// relay builds a frame carrying payload to the participant to.
	relay(k frameKind, to string, payload []byte) []byte
	// classify tells what a received frame is, and its sender for relayed
	// frames (or the newcomer for peer_joined).
	classify(frame []byte) (frameKind, string)
}

func dialectFor(server string) dialect {
	if server == serverPeerJS {
		return peerjsDialect{}
	}
	return peercallDialect{}
}

// frameType extracts the "type" of a frame whose first member is "type", as
// both servers write it. It falls back to decoding.
func frameType(frame []byte) string {
	const p = `{"type":"`
	if bytes.HasPrefix(frame, []byte(p)) {
		rest := frame[len(p):]
		if i := bytes.IndexByte(rest, '"'); i >= 0 {
			return string(rest[:i])
		}
	}
	var v struct {
		Type string `json:"type"`
	}
	json.Unmarshal(frame, &v)
	return v.Type
}

// stringField returns the value of the first "name":"value" in frame.
func stringField(frame []byte, name string) string {
	key := []byte(`"` + name + `":"`)
	i := bytes.Index(frame, key)
	if i < 0 {
		return ""
	}
	rest := frame[i+len(key):]
	if j := bytes.IndexByte(rest, '"'); j >= 0 {
		return string(rest[:j])
	}
	return ""
}

// peercallDialect speaks docs/protocol.md.
type peercallDialect struct{}

func (peercallDialect) dial(ctx context.Context, addr, room, _ string, seed uint32) (*wsConn, string, []string, error) {
	c, err := dialWS(ctx, addr, "/ws", seed)
	if err != nil {
		return nil, "", nil, err
	}
	join := `{"type":"join","version":1,"room":"` + room + `","name":"bench"}`
	if err := c.write([]byte(join)); err != nil {
		c.close()
		return nil, "", nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		c.nc.SetReadDeadline(dl)
		defer c.nc.SetReadDeadline(zeroTime)
	}
	for {
		f, err := c.read()
		if err != nil {
			c.close()
			return nil, "", nil, fmt.Errorf("waiting for joined: %w", err)
		}
		switch frameType(f) {
		case "joined":
			var j struct {
				Self struct {
					ID string `json:"id"`
				} `json:"self"`
				Participants []struct {
					ID string `json:"id"`
				} `json:"participants"`
			}
			if err := json.Unmarshal(f, &j); err != nil {
				c.close()
				return nil, "", nil, fmt.Errorf("joined: %w", err)
			}
			var others []string
			for _, p := range j.Participants {
				others = append(others, p.ID)
			}
			return c, j.Self.ID, others, nil
		case "error":
			c.close()
			return nil, "", nil, fmt.Errorf("join refused: %s", f)
		}
	}
}

func (peercallDialect) ping() []byte { return []byte(`{"type":"ping"}`) }

func (peercallDialect) relay(k frameKind, to string, payload []byte) []byte {
	t := map[frameKind]string{kindOffer: "offer", kindAnswer: "answer", kindCandidate: "candidate"}[k]
	b := make([]byte, 0, len(payload)+64)
	b = append(b, `{"type":"`+t+`","to":"`+to+`","payload":`...)
	b = append(b, payload...)
	return append(b, '}')
}

func (peercallDialect) classify(f []byte) (frameKind, string) {
	switch frameType(f) {
	case "offer":
		return kindOffer, stringField(f, "from")
	case "answer":
		return kindAnswer, stringField(f, "from")
	case "candidate":
		return kindCandidate, stringField(f, "from")
	case "pong":
		return kindPong, ""
	case "peer_joined":
		return kindPeerJoined, stringField(f, "id")
	case "error":
		return kindError, ""
	}
	return kindOther, ""
}

// peerjsDialect speaks peerjs-server 1.0.2's WebSocket protocol.
type peerjsDialect struct{}

func (peerjsDialect) dial(ctx context.Context, addr, _, id string, seed uint32) (*wsConn, string, []string, error) {
	path := "/peerjs?key=peerjs&id=" + id + "&token=t" + strconv.FormatUint(uint64(seed), 36)
	c, err := dialWS(ctx, addr, path, seed)
	if err != nil {
		return nil, "", nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		c.nc.SetReadDeadline(dl)
		defer c.nc.SetReadDeadline(zeroTime)
	}
	f, err := c.read()
	if err != nil {
		c.close()
		return nil, "", nil, fmt.Errorf("waiting for OPEN: %w", err)
	}
	if t := frameType(f); t != "OPEN" {
		c.close()
		return nil, "", nil, fmt.Errorf("expected OPEN, got %s", strings.TrimSpace(string(f)))
	}
	return c, id, nil, nil
}

func (peerjsDialect) ping() []byte { return []byte(`{"type":"HEARTBEAT"}`) }

func (peerjsDialect) relay(k frameKind, to string, payload []byte) []byte {
	t := map[frameKind]string{kindOffer: "OFFER", kindAnswer: "ANSWER", kindCandidate: "CANDIDATE"}[k]
	b := make([]byte, 0, len(payload)+64)
	b = append(b, `{"type":"`+t+`","dst":"`+to+`","payload":`...)
	b = append(b, payload...)
	return append(b, '}')
}

func (peerjsDialect) classify(f []byte) (frameKind, string) {
	switch frameType(f) {
	case "OFFER":
		return kindOffer, stringField(f, "src")
	case "ANSWER":
		return kindAnswer, stringField(f, "src")
	case "CANDIDATE":
		return kindCandidate, stringField(f, "src")
	case "ERROR", "ID-TAKEN", "LEAVE", "EXPIRE":
		return kindError, ""
	}
	return kindOther, ""
}

// Payloads shaped like what browsers send: an SDP offer of about 3 KB and an
// ICE candidate of about 250 bytes on the wire. Both servers get the same
// payload bytes; only the envelope differs.
var (
	offerPayload     = makeOfferPayload(2900)
	answerPayload    = bytes.Replace(offerPayload, []byte(`"type":"offer"`), []byte(`"type":"answer"`), 1)
	candidatePayload = []byte(`{"candidate":"candidate:3190259398 1 udp 2122260223 192.0.2.44 54321 typ host generation 0 ufrag x8Fh network-id 1 network-cost 10","sdpMid":"0","sdpMLineIndex":0,"usernameFragment":"x8Fh"}`)
)

func makeOfferPayload(size int) []byte {
	lines := []string{
		"v=0", "o=- 4611731400430051336 2 IN IP4 127.0.0.1", "s=-", "t=0 0",
		"a=group:BUNDLE 0 1", "a=extmap-allow-mixed", "a=msid-semantic: WMS stream",
		"m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126", "c=IN IP4 0.0.0.0",
		"a=rtcp:9 IN IP4 0.0.0.0", "a=ice-ufrag:x8Fh", "a=ice-pwd:Qk2n7Jb8i0bC0kK1bq4XH5tq",
		"a=ice-options:trickle", "a=fingerprint:sha-256 6B:8B:5D:EA:59:04:20:23:29:C8:87:1C:CC:87:32:BE:DD:8C:66:A5:8E:50:55:EA:5C:D3:B6:5C:09:5E:D6:BC",
		"a=setup:actpass", "a=mid:0", "a=sendrecv", "a=rtcp-mux", "a=rtpmap:111 opus/48000/2",
		"a=rtcp-fb:111 transport-cc", "a=fmtp:111 minptime=10;useinbandfec=1",
		"m=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103 104 105 106 107 108 109 127 125 39 40 45 46 98 99 100 101",
		"a=rtpmap:96 VP8/90000", "a=rtcp-fb:96 goog-remb", "a=rtcp-fb:96 transport-cc", "a=rtcp-fb:96 ccm fir",
		"a=rtcp-fb:96 nack", "a=rtcp-fb:96 nack pli", "a=rtpmap:97 rtx/90000", "a=fmtp:97 apt=96",
	}
	var sdp strings.Builder
	for i := 0; sdp.Len() < size-40; i++ {
		sdp.WriteString(lines[i%len(lines)])
		sdp.WriteString(`\r\n`)
	}
	return []byte(`{"type":"offer","sdp":"` + sdp.String() + `"}`)
}
