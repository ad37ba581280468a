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
//
// Stopping ends the loop between releases, never during one: a release
// already handed to Raft is let finish (within releaseCallTimeout). Were it
// cancelled, it could still commit with nobody counting it, and the final
// sweep would not see it either, the lease being no longer this node's.
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

// release proposes one Release. ctx ending stops the caller's loop, not this
// call: the proposal runs to its answer or to releaseCallTimeout, so that
// one that commits is counted.
func (w *worker) release(ctx context.Context, j *store.Job) bool {
	log := w.log.With("request_id", j.ID)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseCallTimeout)
	defer cancel()
	_, err := w.propose.Apply(ctx, &consensus.Release{ID: j.ID, Node: w.self})
	switch {
	case err == nil:
		w.metrics.released.Inc()
		log.Info("lease handed back; another node will run the request")
		return true
	case errors.Is(err, store.ErrNotHolder), errors.Is(err, store.ErrInvalidTransition), errors.Is(err, store.ErrNotFound):
		log.Debug("lease not released: it already changed hands", "err", err)
	case errors.Is(err, consensus.ErrIndeterminate) && w.releasedHere(j):
		// The answer was lost but this replica already shows the release.
		w.metrics.released.Inc()
		log.Info("lease handed back (confirmed from the replica after an unknown outcome); another node will run the request")
		return true
	default:
		log.Warn("could not hand the lease back; it will expire and the request run elsewhere then", "err", err)
	}
	return false
}

// releasedHere reports whether this node's replica records lease j (this
// node's, with j's lease end) as handed back. It is how an indeterminate
// Release learns that it did commit; a replica that has not applied it yet
// answers false, and the lease is then treated as not released.
func (w *worker) releasedHere(j *store.Job) bool {
	cur, err := w.replica.Get(j.ID)
	if err != nil {
		return false
	}
	for _, a := range cur.Attempts {
		if a.Node == w.self && a.LeaseUntil.Equal(j.LeaseUntil) && a.Outcome == store.AttemptReleased {
			return true
		}
	}
	return false
}
