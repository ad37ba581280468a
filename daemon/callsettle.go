package daemon

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/outlayer/outlayer/consensus"
	"github.com/outlayer/outlayer/store"
)

// settler is the leader's loop that settles HTTPS calls: every call whose
// request completed or failed is charged by one CallSettle command, which
// releases exactly what the call reserved. It is what the resolver is for
// a request from the chain. A new leader starts from the replica alone:
// a call whose settlement its predecessor proposed and committed is
// settled already (the command is a no-op then); one it did not is
// settled now.
type settler struct {
	replica replica
	propose proposer
	wake    wakeup
	log     *slog.Logger
}

func (s *settler) run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	var mu sync.Mutex
	inflight := map[string]bool{}
	sem := make(chan struct{}, 32)
	for {
		ch := s.wake.C()
		jobs, err := s.replica.Unresolved(0)
		if err != nil && ctx.Err() == nil {
			s.log.Warn("reading calls to settle", "err", err)
		}
		for _, j := range jobs {
			if j.Call == "" {
				continue
			}
			mu.Lock()
			busy := inflight[j.Call]
			inflight[j.Call] = true
			mu.Unlock()
			if busy {
				continue
			}
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			wg.Add(1)
			go func(id string) {
				defer wg.Done()
				defer func() { <-sem }()
				s.settle(ctx, id)
				mu.Lock()
				delete(inflight, id)
				mu.Unlock()
			}(j.Call)
		}
		if !s.wake.wait(ctx, ch, 200*time.Millisecond) {
			return
		}
	}
}

func (s *settler) settle(ctx context.Context, id string) {
	res, err := s.propose.Apply(ctx, &consensus.CallSettle{ID: id})
	switch {
	case err == nil && res.Call != nil:
		s.log.Info("call settled", "call_id", id, "request_id", res.Call.JobID, "status", res.Call.Status,
			"compute_cost", res.Call.ComputeCost, "charged", res.Call.Charged, "released", res.Call.Reserved)
	case errors.Is(err, store.ErrInvalidTransition), errors.Is(err, store.ErrNotFound):
		s.log.Debug("call not settleable", "call_id", id, "err", err)
	case ctx.Err() == nil:
		// Retried at the next round: the command is idempotent.
		s.log.Warn("settling a call failed; retrying", "call_id", id, "err", err)
	}
}
