package joincmd

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// eventLog prints progress events, one line each, stamped with the time
// since joining began. A nil *eventLog prints nothing.
type eventLog struct {
	w io.Writer // safe for concurrent use (a lockedWriter)
}

func (l *eventLog) printf(at time.Duration, format string, args ...any) {
	if l == nil {
		return
	}
	line := fmt.Sprintf("%8.3fs ", at.Seconds()) + fmt.Sprintf(format, args...) + "\n"
	_, _ = io.WriteString(l.w, line)
}

// lockedWriter serializes writes, so the SDK's log, events and the final
// message can share one stderr that is not safe for concurrent use.
type lockedWriter struct {
	mu sync.Mutex // guards w
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}
