package turnserver

import (
	"fmt"
	"testing"

	"github.com/pion/stun/v4"

	"github.com/peercall/peercall/internal/testutil"
)

func TestQuota(t *testing.T) {
	checkGoroutines(t)
	const limit = 3
	// Several sockets, so that one user's allocations land on different
	// sockets and allocation managers and the quota must still hold.
	s := startServer(t, Config{MaxAllocationsPerUser: limit, Sockets: 4})
	u, p, _ := s.Credentials("alice")

	// The subtests share the parent's allocations, so they use the parent
	// t for dialClient and allocate: cleanups of a subtest would close
	// them when the subtest ends.
	parent := t
	t.Run("a user's allocations up to the quota succeed", func(t *testing.T) {
		for i := range limit {
			if _, err := allocate(parent, dialClient(parent, s, u, p, i%2 == 1)); err != nil {
				t.Fatalf("allocation %d: %v", i+1, err)
			}
		}
		if n := s.quota.count("alice"); n != limit {
			t.Fatalf("quota count %d, want %d", n, limit)
		}
	})
	t.Run("the allocation past the quota is refused with 486", func(t *testing.T) {
		if _, err := allocate(parent, dialClient(parent, s, u, p, false)); turnErrorCode(err) != stun.CodeAllocQuotaReached {
			t.Fatalf("Allocate: %v, want 486", err)
		}
		if st := s.Stats(); st.QuotaRejections == 0 || st.Allocations != limit { // a retransmitted request is refused again
			t.Fatalf("Stats = %+v", st)
		}
	})
	t.Run("another user is not limited by alice's quota", func(t *testing.T) {
		ub, pb, _ := s.Credentials("bob")
		if _, err := allocate(parent, dialClient(parent, s, ub, pb, false)); err != nil {
			t.Fatalf("Allocate: %v", err)
		}
	})
}

func TestQuotaIsReleasedOnDeallocation(t *testing.T) {
	checkGoroutines(t)
	s := startServer(t, Config{MaxAllocationsPerUser: 1})
	u, p, _ := s.Credentials("alice")

	first, err := allocate(t, dialClient(t, s, u, p, false))
	if err != nil {
		t.Fatalf("first Allocate: %v", err)
	}
	if _, err := allocate(t, dialClient(t, s, u, p, false)); turnErrorCode(err) != stun.CodeAllocQuotaReached {
		t.Fatalf("second Allocate: %v, want 486", err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, waitFor, func() error {
		if n := s.quota.count("alice"); n != 0 {
			return fmt.Errorf("quota count %d after deallocation", n)
		}
		return nil
	})
	if _, err := allocate(t, dialClient(t, s, u, p, false)); err != nil {
		t.Fatalf("Allocate after deallocation: %v", err)
	}
}
