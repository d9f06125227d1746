package client

import (
	"encoding/json"

	"github.com/pion/webrtc/v4"
)

// The file channel (docs/protocol.md, "Data channels"): browsers send files
// on a second negotiated data channel, ID 1. This SDK does not receive
// files. It opens the channel anyway, so that the SCTP stream a browser
// uses exists, and refuses every offered file at once: the browser's
// transfer fails with a clear message instead of waiting for an answer.

const (
	// fileChannelLabel and fileChannelID identify the file data channel.
	fileChannelLabel = "file"
	fileChannelID    = 1
)

// fileReject is the answer to every {"t":"start"} on the file channel.
type fileReject struct {
	T       string          `json:"t"` // "reject"
	ID      json.RawMessage `json:"id"`
	Code    string          `json:"code"`
	Message string          `json:"message"`
}

// fileChannelReply returns the answer to a message received on the file
// channel, or nil: a reject for a start, nothing for anything else
// (binary chunks, end, cancel, malformed text).
func fileChannelReply(m webrtc.DataChannelMessage) []byte {
	if !m.IsString || len(m.Data) == 0 || m.Data[0] != '{' {
		return nil
	}
	var msg struct {
		T  string          `json:"t"`
		ID json.RawMessage `json:"id"`
	}
	if json.Unmarshal(m.Data, &msg) != nil || msg.T != "start" || len(msg.ID) == 0 {
		return nil
	}
	b, err := json.Marshal(fileReject{
		T: "reject", ID: msg.ID, Code: "unsupported",
		Message: "this participant cannot receive files",
	})
	if err != nil {
		return nil
	}
	return b
}

// createFileChannel opens the negotiated file channel on pc, answering
// every offered file with a reject.
func createFileChannel(pc *webrtc.PeerConnection) (*webrtc.DataChannel, error) {
	negotiated, id := true, uint16(fileChannelID)
	dc, err := pc.CreateDataChannel(fileChannelLabel, &webrtc.DataChannelInit{Negotiated: &negotiated, ID: &id})
	if err != nil {
		return nil, err
	}
	dc.OnMessage(func(m webrtc.DataChannelMessage) {
		if reply := fileChannelReply(m); reply != nil {
			_ = dc.SendText(string(reply))
		}
	})
	return dc, nil
}
