package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/outlayer/outlayer/consensus"
	"github.com/outlayer/outlayer/contracts"
	"github.com/outlayer/outlayer/contracts/near"
	"github.com/outlayer/outlayer/store"
)

// keyWatcher is the leader's view of the contract's payment keys. Like the
// request watcher it reads views at the final block, not event logs: the
// contract bumps get_payment_keys_seq on every create, top-up and delete,
// and list_payment_keys pages every live key. When the sequence moved, the
// watcher reads every key at that height and proposes what the replica
// lacks: KeyCreate for a new key, KeyTopUp with the chain's total for a
// grown balance (a total, not a delta: applied twice or late it counts
// once), KeyDelete for a key no longer listed. Every command is idempotent,
// so a new leader, which starts from sequence 0, simply syncs once.
type keyWatcher struct {
	replica  keyReplica
	propose  proposer
	chain    chainReader
	contract string
	poll     time.Duration
	log      *slog.Logger
	// seq is the key sequence the replica was last synced to (this term).
	seq uint64
	// synced: seq is meaningful (a sync completed this term).
	synced bool
}

// keyReplica is what the key watcher reads. *store.Store implements it.
type keyReplica interface {
	PaymentKey(owner string, nonce uint32) (*store.PaymentKey, error)
	PaymentKeys() ([]*store.PaymentKey, error)
}

// keyPage is the largest page list_payment_keys returns.
const keyPage = 100

func (w *keyWatcher) run(ctx context.Context) {
	pollEvery(ctx, w.poll, 30*time.Second, w.log, "syncing payment keys from the contract", w.pollOnce)
}

func (w *keyWatcher) pollOnce(ctx context.Context) error {
	blk, err := w.chain.Block(ctx, near.Final())
	if err != nil {
		return fmt.Errorf("reading the final block: %w", err)
	}
	ref := near.AtHeight(blk.Header.Height)
	var seq uint64
	if err := w.chain.ViewFunctionAt(ctx, w.contract, contracts.MethodGetPaymentKeysSeq, nil, &seq, ref); err != nil {
		return fmt.Errorf("reading the payment-key sequence: %w", err)
	}
	if w.synced && seq == w.seq {
		return nil
	}
	live := map[string]bool{}
	for from := uint64(0); ; {
		limit := uint64(keyPage)
		var page []contracts.PaymentKeyView
		if err := w.chain.ViewFunctionAt(ctx, w.contract, contracts.MethodListPaymentKeys,
			contracts.ListPaymentKeysArgs{FromIndex: &from, Limit: &limit}, &page, ref); err != nil {
			return fmt.Errorf("listing payment keys from id %d: %w", from, err)
		}
		for _, k := range page {
			live[store.FormatKeyName(k.Owner, k.Nonce)] = true
			if err := w.sync(ctx, k); err != nil {
				return err
			}
			from = max(from, k.ID+1)
		}
		if len(page) < keyPage {
			break
		}
	}
	known, err := w.replica.PaymentKeys()
	if err != nil {
		return fmt.Errorf("reading the replica's payment keys: %w", err)
	}
	for _, k := range known {
		// Only keys that came from the contract's views can leave them.
		if k.ChainID == 0 || k.Deleted() || live[store.FormatKeyName(k.Owner, k.Nonce)] {
			continue
		}
		ev := store.KeyDeleted{EventID: fmt.Sprintf("delete/%s/%d", k.Owner, k.Nonce), Owner: k.Owner, Nonce: k.Nonce}
		if _, err := w.propose.Apply(ctx, &consensus.KeyDelete{Event: ev}); err != nil {
			return fmt.Errorf("deleting payment key %s: %w", store.FormatKeyName(k.Owner, k.Nonce), err)
		}
		w.log.Info("payment key deleted on chain", "key", store.FormatKeyName(k.Owner, k.Nonce))
	}
	w.seq, w.synced = seq, true
	return nil
}

// sync brings one key of the chain into the replica.
func (w *keyWatcher) sync(ctx context.Context, v contracts.PaymentKeyView) error {
	name := store.FormatKeyName(v.Owner, v.Nonce)
	total, ok := u64Of(v.InitialBalance)
	if !ok {
		w.log.Error("payment key balance is beyond what the cluster counts (2^64-1 units); the key is not synced", "key", name)
		return nil
	}
	have, err := w.replica.PaymentKey(v.Owner, v.Nonce)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if have == nil {
		maxPerCall, ok := u64Of(v.MaxPerCall)
		if !ok {
			maxPerCall = 0 // beyond any budget: no limit
		}
		ev := store.KeyCreated{EventID: fmt.Sprintf("create/%d", v.ID), ChainID: v.ID, Owner: v.Owner, Nonce: v.Nonce,
			KeyHash: v.KeyHash, ProjectIDs: v.ProjectIDs, MaxPerCall: maxPerCall}
		if _, err := w.propose.Apply(ctx, &consensus.KeyCreate{Event: ev}); err != nil {
			return fmt.Errorf("recording payment key %s: %w", name, err)
		}
		w.log.Info("payment key created on chain", "key", name, "projects", len(v.ProjectIDs))
		have = &store.PaymentKey{KeyHash: v.KeyHash}
	}
	if have.KeyHash != v.KeyHash {
		w.log.Error("payment key on chain has another hash than the cluster's copy; keys are write-once, so it is left alone", "key", name)
		return nil
	}
	if total > have.InitialBalance {
		ev := store.KeyToppedUp{EventID: fmt.Sprintf("topup/%d/%d", v.ID, v.TopUps), Owner: v.Owner, Nonce: v.Nonce, Total: total}
		if _, err := w.propose.Apply(ctx, &consensus.KeyTopUp{Event: ev}); err != nil {
			return fmt.Errorf("topping up payment key %s: %w", name, err)
		}
		w.log.Info("payment key topped up on chain", "key", name, "initial_balance", total)
	}
	return nil
}

// u64Of is a token amount as a uint64, when it fits.
func u64Of(v near.U128) (uint64, bool) { return v.Lo, v.Hi == 0 }
