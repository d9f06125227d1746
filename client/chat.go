package client

import (
	"encoding/json"
	"time"
)

// The data channel carries UTF-8 JSON messages shared with the JS SDK
// (docs/protocol.md, "Data channels"): {"type":"chat","text":...,"ts":...}
// is a chat message; other types belong to applications.

// chatMessage is a chat message on the data channel.
type chatMessage struct {
	Type string `json:"type"` // "chat"
	Text string `json:"text"`
	TS   int64  `json:"ts"` // sender's clock, Unix ms
}

// SendChat sends a chat message to every peer, as the web app shows it.
func (r *Room) SendChat(text string) error {
	b, err := json.Marshal(chatMessage{Type: "chat", Text: text, TS: time.Now().UnixMilli()})
	if err != nil {
		return err
	}
	return r.Broadcast(b)
}

// parseChat returns the text of a chat message, or false.
func parseChat(data []byte) (string, bool) {
	if len(data) == 0 || data[0] != '{' {
		return "", false
	}
	var m chatMessage
	if json.Unmarshal(data, &m) != nil || m.Type != "chat" {
		return "", false
	}
	return m.Text, true
}
