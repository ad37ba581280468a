package daemon

import (
	"context"
	"sync"
	"time"
)

// notifier wakes loops when the local replica applies new Raft entries.
// consensus exposes the store's applied index (StoreIndex, not Raft's
// AppliedIndex, which moves a moment before the store holds the entry: a
// loop woken by it could read the store too early and then sleep a whole
// timer period) but no callback, so one goroutine watches the index (an
// atomic read) every few milliseconds and closes a
// channel when it moves; each waiter picks up the channel, reads the store,
// and waits on the next one. Loops still fall back to a timer, so nothing
// depends on catching every change.
type notifier struct {
	index func() uint64
	mu    sync.Mutex
	ch    chan struct{}
	last  uint64
}

func newNotifier(index func() uint64) *notifier {
	return &notifier{index: index, ch: make(chan struct{})}
}

// C returns a channel that is closed at the next change.
func (a *notifier) C() <-chan struct{} {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.ch
}

// Poke wakes every waiter now (a local event such as a finished run).
func (a *notifier) Poke() {
	a.mu.Lock()
	defer a.mu.Unlock()
	close(a.ch)
	a.ch = make(chan struct{})
}

func (a *notifier) run(ctx context.Context) {
	t := time.NewTicker(3 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if i := a.index(); i != a.last {
			a.last = i
			a.Poke()
		}
	}
}

// wait blocks until the replica changes, d passes, or ctx ends; it reports
// whether ctx is still live.
func (a *notifier) wait(ctx context.Context, ch <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-ch:
	case <-t.C:
	}
	return true
}
