package testutil

import (
	"fmt"
	"testing"
	"time"
)

// Eventually polls cond every 10 ms until it returns nil or timeout passes,
// then fails the test with the last error. Use it to wait for events on these
// shared 2-core machines; never sleep and hope.
func Eventually(t testing.TB, timeout time.Duration, cond func() error) {
	t.Helper()
	if err := Poll(timeout, cond); err != nil {
		t.Fatal(err)
	}
}

// Poll is Eventually without a testing.TB: it returns the last error of cond
// after timeout, or nil as soon as cond succeeds.
func Poll(timeout time.Duration, cond func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %v: %w", timeout, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
