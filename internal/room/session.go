package room

import (
	"encoding/json"

	"github.com/peercall/peercall/protocol"
)

// The Local backend's Session is *member.

func (m *member) Self() protocol.Participant {
	m.room.mu.Lock()
	defer m.room.mu.Unlock()
	return m.info
}

func (m *member) Others() []protocol.Participant { return m.others }

func (m *member) Relay(msgType, to string, payload json.RawMessage) error {
	if !protocol.IsRelay(msgType) {
		return ErrBadRelay
	}
	r := m.room
	r.mu.Lock()
	defer r.mu.Unlock()
	if m.left {
		return ErrLeft
	}
	for _, o := range r.members {
		if o.info.ID == to && o != m {
			o.sink.Send(protocol.AppendRelay(nil, msgType, m.info.ID, payload))
			return nil
		}
	}
	return ErrUnknownPeer
}

func (m *member) Update(name string, st protocol.State) error {
	r := m.room
	r.mu.Lock()
	defer r.mu.Unlock()
	if m.left {
		return ErrLeft
	}
	m.info.Name, m.info.State = name, st
	frame := mustMarshal(protocol.PeerUpdated{Type: protocol.TypePeerUpdated, Participant: m.info})
	for _, o := range r.members {
		if o != m {
			o.sink.Send(frame)
		}
	}
	return nil
}

func (m *member) Leave(reason string) { m.leave(reason) }
