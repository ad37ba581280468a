package daemon

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// rateLimiter allows each name (a payment key, a client address) perMinute
// events a minute, with bursts up to perMinute: a token bucket per name.
// Names whose bucket is full again are forgotten once many are tracked, so
// strangers cannot grow it without bound.
type rateLimiter struct {
	every time.Duration
	burst int

	mu sync.Mutex
	m  map[string]*rate.Limiter
}

// maxTrackedNames is where idle names start being forgotten.
const maxTrackedNames = 10_000

func newRateLimiter(perMinute int) *rateLimiter {
	return &rateLimiter{every: time.Minute / time.Duration(perMinute), burst: perMinute, m: map[string]*rate.Limiter{}}
}

func (l *rateLimiter) allow(name string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim, ok := l.m[name]
	if !ok {
		if len(l.m) >= maxTrackedNames {
			l.forgetIdle()
		}
		lim = rate.NewLimiter(rate.Every(l.every), l.burst)
		l.m[name] = lim
	}
	return lim.Allow()
}

// forgetIdle drops the names whose bucket has refilled: forgetting them
// changes nothing they could do.
func (l *rateLimiter) forgetIdle() {
	now := time.Now()
	for name, lim := range l.m {
		if lim.TokensAt(now) >= float64(l.burst) {
			delete(l.m, name)
		}
	}
}
