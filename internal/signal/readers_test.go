package signal

import (
	"sync"
	"testing"
	"time"
)

func TestIdleReadersAreTrimmedOnlyWhenUnused(t *testing.T) {
	p := newReaderPool()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer p.close()
	// Stand-ins for readers: they take connections and never run them.
	const readers = 40
	for range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p.next() != nil {
			}
		}()
	}
	waitIdle := func(want int32) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for p.idle.Load() != want {
			if time.Now().After(deadline) {
				t.Fatalf("%d idle readers, want %d", p.idle.Load(), want)
			}
			time.Sleep(time.Millisecond)
		}
		// A reader counts itself idle just before it waits on work; trim
		// reaches only those that wait.
		time.Sleep(20 * time.Millisecond)
	}
	waitIdle(readers)
	p.trim() // the first interval started with none idle: nothing to end
	waitIdle(readers)
	// Busy: work for every reader keeps them all.
	for range 3 {
		for range readers {
			p.work <- &conn{}
		}
		p.lowIdle.Store(0) // as if all had been busy at once
		p.trim()
		waitIdle(readers)
		p.lowIdle.Store(0)
	}
	// Idle through a whole interval: half of those above the minimum end,
	// interval after interval.
	p.lowIdle.Store(p.idle.Load()) // an interval that starts with all idle
	p.trim()
	waitIdle(readers - (readers-minIdleReaders)/2)
	for range 20 {
		p.trim()
	}
	waitIdle(minIdleReaders + 1)
}
