package turnclient

import (
	"bytes"
	"testing"
)

func TestChannelDataIsPaddedAndParsesBack(t *testing.T) {
	for _, n := range []int{0, 1, 3, 4, 5, 200} {
		payload := bytes.Repeat([]byte{0xab}, n)
		msg := AppendChannelData([]byte("prefix"), 0x4001, payload)[len("prefix"):]
		if len(msg)%4 != 0 || len(msg) < 4+n || len(msg) > 4+n+3 {
			t.Errorf("%d-byte payload: %d-byte message, want 4+%d padded to a multiple of 4", n, len(msg), n)
		}
		number, got, ok := ParseChannelData(msg)
		if !ok || number != 0x4001 || !bytes.Equal(got, payload) {
			t.Errorf("%d-byte payload parsed as %#x %d bytes %v", n, number, len(got), ok)
		}
	}
	if _, _, ok := ParseChannelData([]byte{0x40, 0, 0, 9, 1}); ok {
		t.Error("a length beyond the datagram parsed")
	}
	if _, _, ok := ParseDataIndication([]byte{0x40, 0, 0, 0}); ok {
		t.Error("ChannelData parsed as a Data indication")
	}
}
