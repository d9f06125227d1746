package client

import "testing"

func TestChatMessagesAreRecognised(t *testing.T) {
	for in, want := range map[string]string{
		`{"type":"chat","text":"hello","ts":1}`: "hello",
	} {
		if got, ok := parseChat([]byte(in)); !ok || got != want {
			t.Errorf("parseChat(%s) = %q, %v", in, got, ok)
		}
	}
	for _, in := range []string{``, `hello`, `{"type":"data","text":"x"}`, `{"type":"chat","text":5}`, `[]`} {
		if _, ok := parseChat([]byte(in)); ok {
			t.Errorf("parseChat(%s) accepted", in)
		}
	}
}
