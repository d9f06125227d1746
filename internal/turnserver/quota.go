package turnserver

import "sync"

// quota counts open allocations per credential user and refuses more than
// limit. An allocation is reserved by acquire when pion asks the QuotaHandler
// and released when its relay socket fails to open or closes, so the count
// is exact even when one user allocates on several sockets at once.
type quota struct {
	limit int

	mu   sync.Mutex     // guards the following
	open map[string]int // user -> reserved or open allocations
}

func newQuota(limit int) *quota {
	return &quota{limit: limit, open: make(map[string]int)}
}

// acquire reserves one allocation for user, or reports false at the quota.
func (q *quota) acquire(user string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.open[user] >= q.limit {
		return false
	}
	q.open[user]++
	return true
}

// release returns one allocation of user.
func (q *quota) release(user string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if n := q.open[user]; n > 1 {
		q.open[user] = n - 1
	} else {
		delete(q.open, user)
	}
}

// count returns user's reserved or open allocations.
func (q *quota) count(user string) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.open[user]
}
