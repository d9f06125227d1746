package signal

import "sync"

// buffer is a pooled byte slice. A connection holds one only while a
// message is in flight: idle connections hold none.
type buffer struct {
	b []byte
	// class is the index of the pool the buffer returns to; -1 for a buffer
	// too big for any pool.
	class int
}

// Buffer classes: 4 KiB holds every offer, answer and candidate seen in
// practice; 64 KiB the default largest message with its header.
var bufferClasses = [...]int{4 << 10, 16 << 10, 64<<10 + maxHeaderLen}

var bufferPools [len(bufferClasses)]sync.Pool

func init() {
	for i, size := range bufferClasses {
		bufferPools[i].New = func() any { return &buffer{b: make([]byte, size), class: i} }
	}
}

// getBuffer returns a buffer of at least n bytes.
func getBuffer(n int) *buffer {
	for i, size := range bufferClasses {
		if n <= size {
			return bufferPools[i].Get().(*buffer)
		}
	}
	return &buffer{b: make([]byte, n), class: -1}
}

// putBuffer returns b to its pool. b must not be used afterwards.
func putBuffer(b *buffer) {
	if b != nil && b.class >= 0 {
		bufferPools[b.class].Put(b)
	}
}
