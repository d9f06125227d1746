package signal

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// ipLimits counts connections and rate-limits joins per client IP address
// (ClientAddr: behind trusted proxies, the address they forwarded).
type ipLimits struct {
	maxConns  int        // <= 0: unlimited
	joinRate  rate.Limit // joins per second; 0: unlimited
	joinBurst int

	mu    sync.Mutex // guards the maps
	conns map[string]int
	joins map[string]*joinBucket
}

type joinBucket struct {
	lim  *rate.Limiter
	seen time.Time
}

func newIPLimits(maxConns, joinsPerMinute int) *ipLimits {
	l := &ipLimits{maxConns: maxConns, conns: map[string]int{}, joins: map[string]*joinBucket{}}
	if joinsPerMinute > 0 {
		l.joinRate = rate.Limit(float64(joinsPerMinute) / 60)
		l.joinBurst = max(1, joinsPerMinute/4)
	}
	return l
}

// addConn counts a connection from ip, or reports false at the limit.
func (l *ipLimits) addConn(ip string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.maxConns > 0 && l.conns[ip] >= l.maxConns {
		return false
	}
	l.conns[ip]++
	return true
}

func (l *ipLimits) removeConn(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conns[ip] <= 1 {
		delete(l.conns, ip)
	} else {
		l.conns[ip]--
	}
}

// allowJoin reports whether ip may join now.
func (l *ipLimits) allowJoin(ip string, now time.Time) bool {
	if l.joinRate == 0 {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.joins[ip]
	if b == nil {
		if len(l.joins) >= 4096 {
			l.sweepLocked(now)
		}
		b = &joinBucket{lim: rate.NewLimiter(l.joinRate, l.joinBurst)}
		l.joins[ip] = b
	}
	b.seen = now
	return b.lim.AllowN(now, 1)
}

// sweepLocked forgets addresses whose bucket has refilled.
func (l *ipLimits) sweepLocked(now time.Time) {
	full := time.Duration(float64(l.joinBurst)/float64(l.joinRate)) * time.Second
	for ip, b := range l.joins {
		if now.Sub(b.seen) > full {
			delete(l.joins, ip)
		}
	}
}
