package daemon

import (
	"context"
	"errors"
	"time"

	"github.com/outlayer/outlayer/consensus"
	"github.com/outlayer/outlayer/store"
)

// How long a stopping node spends handing its leases back. Releasing is an
// optimisation (a lease that is not released still expires and is requeued),
// so a slow or leaderless cluster must not hold the shutdown up for long.
const (
	releaseCallTimeout  = 2 * time.Second
	releaseSweepTimeout = 5 * time.Second
)

// releaseWhileDraining hands back, as they arrive, the assignments the
// draining worker refuses, so another node can run them now rather than
// after this node's lease. It returns a function that stops it and waits.
// Each lease is tried once here; the final sweep retries what failed.
func (w *worker) releaseWhileDraining() (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tried := map[uint64]time.Time{}
		for {
			ch := w.wake.C()
			w.releaseIdle(ctx, tried)
			if !w.wake.wait(ctx, ch, 250*time.Millisecond) {
				return
			}
		}
	}()
	return func() { cancel(); <-done }
}

// releaseHeld is the final sweep once no run is left: every live lease this
// node still holds (runs cancelled at the drain deadline, assignments that
// came in while draining) is handed back.
func (w *worker) releaseHeld() {
	ctx, cancel := context.WithTimeout(context.Background(), releaseSweepTimeout)
	defer cancel()
	if n := w.releaseIdle(ctx, map[uint64]time.Time{}); n > 0 {
		w.log.Info("handed leases back to the cluster", "released", n)
	}
}

// releaseIdle proposes Release for each live lease of this node that no run
// is working on and that is not in tried with the same lease end, and
// reports how many were released. Failures are logged, not returned: the
// lease then simply expires.
func (w *worker) releaseIdle(ctx context.Context, tried map[uint64]time.Time) int {
	jobs, err := w.replica.AssignedTo(w.self)
	if err != nil {
		w.log.Warn("reading this node's assignments to hand them back; their leases will expire instead", "err", err)
		return 0
	}
	released := 0
	for _, j := range jobs {
		if ctx.Err() != nil {
			break
		}
		j, ok := ownLease(j, w.self)
		if !ok || !time.Now().Before(j.LeaseUntil) || tried[j.ID].Equal(j.LeaseUntil) {
			continue
		}
		w.mu.Lock()
		_, running := w.running[j.ID]
		w.mu.Unlock()
		if running {
			continue
		}
		tried[j.ID] = j.LeaseUntil
		if w.release(ctx, j) {
			released++
		}
	}
	return released
}

func (w *worker) release(ctx context.Context, j *store.Job) bool {
	log := w.log.With("request_id", j.ID)
	ctx, cancel := context.WithTimeout(ctx, releaseCallTimeout)
	defer cancel()
	_, err := w.propose.Apply(ctx, &consensus.Release{ID: j.ID, Node: w.self})
	switch {
	case err == nil:
		w.metrics.released.Inc()
		log.Info("lease handed back; another node will run the request")
		return true
	case errors.Is(err, store.ErrNotHolder), errors.Is(err, store.ErrInvalidTransition), errors.Is(err, store.ErrNotFound):
		log.Debug("lease not released: it already changed hands", "err", err)
	default:
		log.Warn("could not hand the lease back; it will expire and the request run elsewhere then", "err", err)
	}
	return false
}
