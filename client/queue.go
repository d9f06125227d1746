package client

import "sync"

// queue is an unbounded FIFO read by one goroutine. Producers never block,
// which keeps pion callbacks and the WebSocket reader from waiting on a slow
// consumer (and rules out lock-order deadlocks between them).
type queue[T any] struct {
	wake chan struct{} // capacity 1; signalled on push and close

	mu     sync.Mutex // guards the following
	items  []T
	closed bool
}

func newQueue[T any]() *queue[T] {
	return &queue[T]{wake: make(chan struct{}, 1)}
}

// push appends v. It reports false, dropping v, once the queue is closed.
func (q *queue[T]) push(v T) bool {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return false
	}
	q.items = append(q.items, v)
	q.mu.Unlock()
	q.signal()
	return true
}

// close stops further pushes; items already queued can still be taken.
func (q *queue[T]) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.signal()
}

func (q *queue[T]) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// take removes and returns everything queued, and whether the queue is
// closed.
func (q *queue[T]) take() ([]T, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	items := q.items
	q.items = nil
	return items, q.closed
}
