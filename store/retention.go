package store

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"
)

// Retention: settled requests are dropped after a window.
//
// A request is settled when nothing will ever change it again: it is
// resolved (the resolve transaction landed, or its HTTPS call settled) or
// expired (the chain stopped waiting). Such a request, with everything kept
// for it (its run record, its sender index entry, its call and the call's
// index entry), may be pruned; nothing else may. The leader plans which
// (PrunePlan, from its replica) and a command applies it (PruneRequests),
// which checks every id again, so a plan made from a stale view can only
// prune less, never something still needed.
//
// Two marks in meta remember what was pruned, so a dropped id never comes
// back and never looks like one that did not exist:
//
//   - pruned_chain_below: one above the highest on-chain request id
//     pruned. HighestChainID never answers below the id under it, so the
//     chain watcher, which asks the contract for pending requests above
//     the highest id it knows, never sees a pruned request again;
//   - pruned_call_below: the same for HTTPS-call request ids. Call ids
//     come from their own counter (call_seq), which pruning never lowers.
var (
	keyPrunedChainBelow = []byte("pruned_chain_below")
	keyPrunedCallBelow  = []byte("pruned_call_below")
	keyPrunedCount      = []byte("pruned_count")
)

// MaxPruneIDs bounds one PruneRequests: a bigger plan is proposed as
// several commands, so no single entry holds the FSM for long.
const MaxPruneIDs = 1000

// Settled reports whether a request in status s will never change again.
func (s Status) Settled() bool { return s == StatusResolved || s == StatusExpired }

// PruneOutcome is what one PruneRequests did.
type PruneOutcome struct {
	// Pruned is how many requests were dropped.
	Pruned int `json:"pruned"`
	// Kept is how many ids of the plan were left alone because they are
	// not (or no longer) prunable; Gone how many were already absent.
	Kept int `json:"kept"`
	Gone int `json:"gone"`
}

// Retention is what the leader keeps: settled requests closed within
// Window, and, when KeepSettled > 0, at most that many settled requests
// (the newest ids) whatever their age. A zero Window keeps every request
// the count cap allows; both zero keep everything.
type Retention struct {
	Window      time.Duration
	KeepSettled int
	// MinAge is the age below which nothing is pruned even past the count
	// cap: a request just closed may still be read by whoever resolved it.
	MinAge time.Duration
}

// retentionHead is the part of a Job a retention plan looks at; decoding
// only these fields keeps a scan of the whole bucket cheap.
type retentionHead struct {
	Status   Status    `json:"status"`
	QueuedAt time.Time `json:"queued_at"`
	ClosedAt time.Time `json:"closed_at,omitzero"`
}

// PrunePlan returns up to limit ids (lowest first) of settled requests
// that r allows dropping at now, and the cutoff to propose with them: the
// latest close time among them, so that the command, which prunes nothing
// closed after its cutoff, cannot drop more than the plan meant even if
// its ids were wrong. It writes nothing.
func (t *Tx) PrunePlan(r Retention, now time.Time, limit int) (ids []uint64, closedBefore time.Time, err error) {
	if err := checkNow(now); err != nil {
		return nil, time.Time{}, err
	}
	if limit <= 0 || limit > MaxPruneIDs {
		limit = MaxPruneIDs
	}
	now = canonicalTime(now)
	oldest := now.Add(-max(r.MinAge, 0))
	var windowCut time.Time
	if r.Window > 0 {
		windowCut = now.Add(-r.Window)
	}
	// Past the count cap, the oldest settled ids go whatever their age.
	over := 0
	if r.KeepSettled > 0 {
		c := t.Counts()
		if n := int(c[StatusResolved] + c[StatusExpired]); n > r.KeepSettled {
			over = n - r.KeepSettled
		}
	}
	if r.Window <= 0 && over == 0 {
		return nil, time.Time{}, nil
	}
	cur := t.bucket(bucketRequests).Cursor()
	k, v := cur.First()
	for ; k != nil && len(ids) < limit; k, v = cur.Next() {
		var h retentionHead
		if err := json.Unmarshal(v, &h); err != nil {
			return nil, time.Time{}, fmt.Errorf("decode request %d: %w", binary.BigEndian.Uint64(k), err)
		}
		// Ids grow with the time they were queued (the watcher enqueues
		// on-chain ids in order; call ids come from a counter), and a
		// request closes after it was queued: once one was queued after
		// the window's cut, no later id of its kind can be inside it. So
		// a plan reads what it may drop and what is still open, not every
		// request the window keeps.
		if over == 0 && !windowCut.IsZero() && h.QueuedAt.After(windowCut) {
			if binary.BigEndian.Uint64(k) >= CallIDBase {
				break
			}
			if first, _ := cur.Seek(u64key(CallIDBase)); first == nil {
				break
			}
			cur.Prev() // the loop's Next lands on the first call id
			continue
		}
		if !h.Status.Settled() || h.ClosedAt.IsZero() || h.ClosedAt.After(oldest) {
			continue
		}
		switch {
		case over > 0:
			over--
		case !windowCut.IsZero() && !h.ClosedAt.After(windowCut):
		default:
			continue
		}
		ids = append(ids, binary.BigEndian.Uint64(k))
		if h.ClosedAt.After(closedBefore) {
			closedBefore = h.ClosedAt
		}
	}
	return ids, closedBefore, nil
}

// PruneRequests drops the settled requests among ids that closed at or
// before closedBefore, with their run records, sender index entries and
// HTTPS calls. An id that is not settled, closed later, has storage
// effects still pending, or runs a call that has not settled is kept; an
// absent id is counted as gone. Repeating a command changes nothing.
// closedBefore after now, or more than MaxPruneIDs ids, is ErrBadInput.
func (t *Tx) PruneRequests(ids []uint64, closedBefore, now time.Time) (PruneOutcome, error) {
	var out PruneOutcome
	if err := checkNow(now); err != nil {
		return out, err
	}
	if closedBefore.IsZero() || closedBefore.After(now) {
		return out, badInput("prune: the cutoff %s is not at or before the command's time %s", closedBefore.UTC().Format(time.RFC3339Nano), now.UTC().Format(time.RFC3339Nano))
	}
	if len(ids) > MaxPruneIDs {
		return out, badInput("prune: %d ids in one command; at most %d", len(ids), MaxPruneIDs)
	}
	chainBelow, callBelow := t.prunedMark(keyPrunedChainBelow), t.prunedMark(keyPrunedCallBelow)
	for _, id := range ids {
		job, err := t.Get(id)
		if err != nil {
			out.Gone++
			continue
		}
		if !job.Status.Settled() || job.ClosedAt.IsZero() || job.ClosedAt.After(closedBefore) {
			out.Kept++
			continue
		}
		if p, err := t.PendingEffects(id); err != nil || p != nil {
			out.Kept++
			continue
		}
		var call *Call
		if job.Call != "" {
			if call, err = t.Call(job.Call); err == nil && call.Status == CallPending {
				out.Kept++
				continue
			}
		}
		key := u64key(id)
		if err := t.bucket(bucketRequests).Delete(key); err != nil {
			return out, err
		}
		if validIndexPart("sender", job.Sender) == nil {
			if err := t.bucket(bucketBySender).Delete(compositeKey(key, job.Sender)); err != nil {
				return out, err
			}
		}
		if b := t.tx.Bucket(bucketRecords); b != nil {
			if err := b.Delete(key); err != nil {
				return out, err
			}
		}
		if call != nil {
			if err := t.bucket(bucketCalls).Delete([]byte(call.ID)); err != nil {
				return out, err
			}
			if err := t.bucket(bucketKeyCalls).Delete(append(payKeyID(call.Owner, call.Nonce), key...)); err != nil {
				return out, err
			}
		}
		if t.countDelta == nil {
			t.countDelta = make(map[Status]int64)
		}
		t.countDelta[job.Status]--
		if id >= CallIDBase {
			callBelow = max(callBelow, id+1)
		} else {
			chainBelow = max(chainBelow, id+1)
		}
		out.Pruned++
	}
	if out.Pruned == 0 {
		return out, nil
	}
	meta := t.bucket(bucketMeta)
	for _, m := range []struct {
		key []byte
		v   uint64
	}{{keyPrunedChainBelow, chainBelow}, {keyPrunedCallBelow, callBelow}, {keyPrunedCount, t.prunedMark(keyPrunedCount) + uint64(out.Pruned)}} {
		if m.v == 0 {
			continue
		}
		if err := meta.Put(m.key, u64key(m.v)); err != nil {
			return out, err
		}
	}
	return out, nil
}

func (t *Tx) prunedMark(key []byte) uint64 {
	if raw := t.bucket(bucketMeta).Get(key); len(raw) == 8 {
		return binary.BigEndian.Uint64(raw)
	}
	return 0
}

// WasPruned reports whether a request id that is not in the store was
// dropped by retention (or, for on-chain ids, lies at or below the highest
// one pruned: the contract numbers requests densely, so such an id was
// known and settled).
func (t *Tx) WasPruned(id uint64) bool {
	if id >= CallIDBase {
		return id < t.prunedMark(keyPrunedCallBelow)
	}
	return id < t.prunedMark(keyPrunedChainBelow)
}

// PrunedCount is how many requests retention dropped from this store.
func (t *Tx) PrunedCount() uint64 { return t.prunedMark(keyPrunedCount) }

// PrunePlan is Tx.PrunePlan on a consistent view.
func (s *Store) PrunePlan(r Retention, now time.Time, limit int) (ids []uint64, closedBefore time.Time, err error) {
	err = s.View(func(tx *Tx) error { ids, closedBefore, err = tx.PrunePlan(r, now, limit); return err })
	return ids, closedBefore, err
}

// WasPruned is Tx.WasPruned in its own read transaction.
func (s *Store) WasPruned(id uint64) (pruned bool, err error) {
	err = s.View(func(tx *Tx) error { pruned = tx.WasPruned(id); return nil })
	return pruned, err
}

// PrunedCount is Tx.PrunedCount in its own read transaction.
func (s *Store) PrunedCount() (n uint64, err error) {
	err = s.View(func(tx *Tx) error { n = tx.PrunedCount(); return nil })
	return n, err
}
