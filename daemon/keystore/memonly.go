package keystore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/outlayer/outlayer/store"
)

// runMemoryOnly is Run for a memory-only keystore: the only place the
// master can come from is another member's memory. It ends with the
// master, with ctx, or with ErrMasterLost once it has proof that no node
// holds it: after a linearizable read, the cluster has a fingerprint (a
// master existed), every other member in the node table answered that
// it does not hold the master either, the table did not change while it
// asked, and no node has a sealed copy it could recover.
//
// That proof is sound because nothing ever creates a second master (see
// Bootstrap): a member that answered "not held" can only obtain the
// master later from some node that held it earlier, and the earliest such
// holder would have answered with the master when it was asked.
func (k *Keystore) runMemoryOnly(ctx context.Context) error {
	lastWarn := time.Time{}
	return untilReady(ctx, k, func() error {
		lost, err := k.fetchMemoryOnly(ctx)
		if err == nil {
			return nil
		}
		if lost {
			k.markLost()
			k.log.Error("the keystore cannot serve secrets", "err", ErrMasterLost)
			return backoff.Permanent(fmt.Errorf("keystore: %w", ErrMasterLost))
		}
		if ctx.Err() == nil && time.Since(lastWarn) > 10*time.Second {
			k.log.Warn("could not receive the master secret from a member yet", "err", err)
			lastWarn = time.Now()
		}
		return err
	})
}

// fetchMemoryOnly makes one attempt; lost reports the proof above.
func (k *Keystore) fetchMemoryOnly(ctx context.Context) (lost bool, _ error) {
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	err := k.cfg.Cluster.LinearizableRead(rctx)
	cancel()
	if err != nil {
		return false, fmt.Errorf("read the cluster state: %w", err)
	}
	if _, err := k.cfg.Cluster.Store().Sealed(entryCheck); errors.Is(err, store.ErrNotFound) {
		// Never a master: the bootstrap node creates it; this node must
		// not, or two nodes could create two.
		return false, errors.New("the cluster has no master secret yet (the node that bootstraps the cluster creates it)")
	} else if err != nil {
		return false, fmt.Errorf("read the master fingerprint: %w", err)
	}
	before, err := k.memberIDs()
	if err != nil {
		return false, err
	}
	noneHolds, ferr := k.fetch(ctx)
	if ferr == nil {
		return false, nil
	}
	if !noneHolds || ctx.Err() != nil {
		return false, ferr
	}
	rctx, cancel = context.WithTimeout(ctx, 5*time.Second)
	err = k.cfg.Cluster.LinearizableRead(rctx)
	cancel()
	if err != nil {
		return false, fmt.Errorf("%w; then re-read the cluster state: %w", ferr, err)
	}
	after, err := k.memberIDs()
	if err != nil {
		return false, err
	}
	if !slices.Equal(before, after) {
		return false, fmt.Errorf("%w (the member list changed while asking; asking again)", ferr)
	}
	sealed, err := k.cfg.Cluster.Store().SealedNames(entryNodePrefix)
	if err != nil {
		return false, fmt.Errorf("list sealed copies: %w", err)
	}
	if len(sealed) > 0 {
		// Some node keeps a sealed copy (a mixed cluster, or one that used
		// a sealer before): it may still recover and hand it over.
		return false, fmt.Errorf("%w; waiting for one of the %d nodes with a sealed copy to recover it", ferr, len(sealed))
	}
	return true, ferr
}

func (k *Keystore) memberIDs() ([]string, error) {
	nodes, err := k.cfg.Cluster.Store().Nodes()
	if err != nil {
		return nil, fmt.Errorf("read the node table: %w", err)
	}
	ids := make([]string, 0, len(nodes))
	for _, n := range nodes {
		ids = append(ids, n.PeerID)
	}
	slices.Sort(ids)
	return ids, nil
}
