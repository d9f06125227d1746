package httpserver

import (
	"crypto/rand"
	"math/big"
	"strings"
)

var adjectives = strings.Fields(`amber azure bold brave bright calm clever coral cosmic crisp dapper
eager fancy gentle golden happy humble jolly keen lively lucky mellow misty
nimble noble olive plucky proud quick quiet rapid rosy rustic silver snowy
sunny swift tidy vivid warm witty zesty`)

var nouns = strings.Fields(`badger beaver bison cedar comet crane dolphin eagle falcon fern finch
fox gecko harbor heron ibis koala lark lemur lynx maple marten meadow
otter owl panda pebble pine puffin quail raven river robin salmon seal
sparrow tiger tulip walrus willow wren yak`)

// lowercase base32 without confusable padding
const suffixAlphabet = "abcdefghijkmnpqrstuvwxyz23456789"

// NewRoomName returns a readable, unguessable room name such as
// "brave-otter-k3m9qz7twp": two words (about 11 bits) and ten random
// characters (50 bits). It satisfies protocol.ValidRoomName.
func NewRoomName() string {
	var b strings.Builder
	b.WriteString(pick(adjectives))
	b.WriteByte('-')
	b.WriteString(pick(nouns))
	b.WriteByte('-')
	for range 10 {
		b.WriteByte(suffixAlphabet[randInt(len(suffixAlphabet))])
	}
	return b.String()
}

func pick(words []string) string { return words[randInt(len(words))] }

func randInt(n int) int {
	v, err := rand.Int(rand.Reader, big.NewInt(int64(n)))
	if err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return int(v.Int64())
}
