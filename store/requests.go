package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/outlayer/outlayer/internal/textcut"
)

// Tx is one bbolt transaction. Get one from Store.Update or Store.View; it is
// valid only inside that callback. Every method that changes state validates
// everything first and writes only when it is going to succeed, so a failed
// operation leaves no partial writes behind even inside a larger batch.
//
// Time is always an argument (the Raft leader's clock carried in the
// command), never read from the local clock, so replicas stay identical.
type Tx struct {
	tx         *bolt.Tx
	evicted    []BlobHash       // blob cache entries to drop after commit
	countDelta map[Status]int64 // per-status counter changes, written at commit
}

func (t *Tx) bucket(name []byte) *bolt.Bucket {
	b := t.tx.Bucket(name)
	if t.tx.Writable() {
		// Keys mostly arrive in increasing order (ids, times), where bbolt's
		// default half-full split leaves every page half empty and doubles
		// the file and every snapshot. Page layout is not content: replicas
		// stay identical whatever the fill.
		b.FillPercent = 0.9
	}
	return b
}

func badInput(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), ErrBadInput)
}

func checkNow(now time.Time) error {
	if now.IsZero() {
		return badInput("the operation time is zero; pass the leader's clock")
	}
	return nil
}

// canonicalTime strips the monotonic reading and location so the same instant
// always encodes to the same bytes.
func canonicalTime(t time.Time) time.Time { return t.UTC().Round(0) }

// Cursor returns the chain cursor; ok is false before the first Enqueue or
// AdvanceCursor.
func (t *Tx) Cursor() (c Cursor, ok bool, err error) {
	raw := t.bucket(bucketMeta).Get(keyCursor)
	if raw == nil {
		return Cursor{}, false, nil
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return Cursor{}, false, fmt.Errorf("decode chain cursor: %w", err)
	}
	return c, true, nil
}

// checkCursor returns whether next moves the cursor, or an error if it would
// move it backwards (or sideways: same height, different hash).
func (t *Tx) checkCursor(next Cursor) (advance bool, err error) {
	cur, ok, err := t.Cursor()
	if err != nil {
		return false, err
	}
	if !ok {
		return true, nil
	}
	switch {
	case next.Height > cur.Height:
		return true, nil
	case next.Height < cur.Height:
		return false, fmt.Errorf("cursor at block %d, asked to go back to %d: %w", cur.Height, next.Height, ErrCursorRegression)
	case next.Hash != cur.Hash:
		return false, fmt.Errorf("cursor at block %d has hash %q, asked for the same height with hash %q: %w", cur.Height, cur.Hash, next.Hash, ErrCursorRegression)
	}
	return false, nil
}

func (t *Tx) putCursor(c Cursor) error {
	raw, err := json.Marshal(c)
	if err != nil {
		return err
	}
	return t.bucket(bucketMeta).Put(keyCursor, raw)
}

// AdvanceCursor moves the chain cursor forward (a block range with no
// requests). Repeating the current cursor is a no-op; going back is
// ErrCursorRegression.
func (t *Tx) AdvanceCursor(c Cursor) error {
	advance, err := t.checkCursor(c)
	if err != nil || !advance {
		return err
	}
	return t.putCursor(c)
}

// Enqueue records a request seen on chain and, in the same transaction,
// advances the chain cursor to cursor (nil leaves it alone).
//
// It is idempotent on the request id: a request already known is left
// exactly as it is (the first write wins) and AlreadyKnown is returned,
// while the cursor still advances.
//
// A request the cluster cannot execute (no code source, a malformed data id
// or deposit, ...) is not refused: refusing it would either stall the chain
// watcher at that block or drop the request and leave the caller waiting for
// the yield timeout. It is stored as failed with the reason, returns
// EnqueuedInvalid, and is resolved on chain as a failure like any other.
//
// Only a cursor that would move backwards (ErrCursorRegression) or a zero
// time (ErrBadInput) refuses the call, and then nothing is written.
func (t *Tx) Enqueue(req Request, cursor *Cursor, now time.Time) (EnqueueOutcome, error) {
	outs, err := t.EnqueueBatch([]Request{req}, cursor, now)
	if err != nil {
		return 0, err
	}
	return outs[0], nil
}

// EnqueueBatch is Enqueue for several requests (typically one block's worth)
// with one cursor move, all in one transaction.
func (t *Tx) EnqueueBatch(reqs []Request, cursor *Cursor, now time.Time) ([]EnqueueOutcome, error) {
	if err := checkNow(now); err != nil {
		return nil, err
	}
	now = canonicalTime(now)
	advance := false
	if cursor != nil {
		var err error
		if advance, err = t.checkCursor(*cursor); err != nil {
			return nil, err
		}
	}
	reqsB := t.bucket(bucketRequests)
	outs := make([]EnqueueOutcome, len(reqs))
	for i := range reqs {
		id := u64key(reqs[i].ID)
		if reqsB.Get(id) != nil {
			outs[i] = AlreadyKnown // includes a repeat within this batch
			continue
		}
		if reqs[i].ID < CallIDBase && t.WasPruned(reqs[i].ID) {
			// Settled and dropped by retention: seen again (a watcher
			// reading from an old id), it must not run twice.
			outs[i] = AlreadyKnown
			continue
		}
		job := &Job{Request: reqs[i], QueuedAt: now, UpdatedAt: now}
		t.setStatus(job, StatusQueued)
		outs[i] = Enqueued
		if err := job.Request.validate(); err != nil {
			t.setStatus(job, StatusFailed)
			job.Error = "the request cannot be executed: " + err.Error()
			job.DoneAt = now
			outs[i] = EnqueuedInvalid
		}
		if err := t.putJob(job); err != nil {
			return nil, err
		}
		if job.Status == StatusQueued {
			if err := t.bucket(bucketQueue).Put(id, nil); err != nil {
				return nil, err
			}
		} else if err := t.bucket(bucketUnresolved).Put(id, nil); err != nil {
			return nil, err
		}
		// A sender that cannot form an index key (a NUL, or absurdly long)
		// is not a NEAR account; the request is failed and not indexed.
		if validIndexPart("sender", job.Sender) == nil {
			if err := t.bucket(bucketBySender).Put(compositeKey(id, job.Sender), nil); err != nil {
				return nil, err
			}
		}
	}
	if advance {
		if err := t.putCursor(*cursor); err != nil {
			return nil, err
		}
	}
	return outs, nil
}

// Get returns the request with this id, or ErrNotFound.
func (t *Tx) Get(id uint64) (*Job, error) {
	raw := t.bucket(bucketRequests).Get(u64key(id))
	if raw == nil {
		return nil, fmt.Errorf("request %d: %w", id, ErrNotFound)
	}
	return decodeJob(raw)
}

func decodeJob(raw []byte) (*Job, error) {
	var j Job
	if err := json.Unmarshal(raw, &j); err != nil {
		return nil, fmt.Errorf("decode request record: %w", err)
	}
	return &j, nil
}

func (t *Tx) putJob(j *Job) error {
	raw, err := json.Marshal(j)
	if err != nil {
		return fmt.Errorf("encode request %d: %w", j.ID, err)
	}
	return t.bucket(bucketRequests).Put(u64key(j.ID), raw)
}

// setStatus moves a job to status s and notes the change for the per-status
// counters, which Store.Update writes once at the end of the transaction.
func (t *Tx) setStatus(j *Job, s Status) {
	if j.Status == s {
		return
	}
	if t.countDelta == nil {
		t.countDelta = make(map[Status]int64)
	}
	if j.Status != "" {
		t.countDelta[j.Status]--
	}
	t.countDelta[s]++
	j.Status = s
}

// flushCounts writes the counter changes of this transaction, in a fixed
// order so replicas write identical pages.
func (t *Tx) flushCounts() error {
	for _, s := range allStatuses {
		if d := t.countDelta[s]; d != 0 {
			if err := t.addCount(s, d); err != nil {
				return err
			}
		}
	}
	t.countDelta = nil
	return nil
}

var allStatuses = [...]Status{StatusQueued, StatusAssigned, StatusCompleted, StatusFailed, StatusResolved, StatusExpired}

func countKey(s Status) []byte { return []byte("count/" + string(s)) }

func (t *Tx) addCount(s Status, delta int64) error {
	b := t.bucket(bucketMeta)
	var n uint64
	if raw := b.Get(countKey(s)); len(raw) == 8 {
		n = binary.BigEndian.Uint64(raw)
	}
	if delta < 0 && n < uint64(-delta) {
		return fmt.Errorf("status counter %s would go below zero: %w", s, ErrCorrupt)
	}
	return b.Put(countKey(s), u64key(uint64(int64(n)+delta)))
}

// Counts returns how many requests are in each status, kept as counters in
// the same transactions as the requests, so it costs nothing to read.
func (t *Tx) Counts() map[Status]uint64 {
	out := make(map[Status]uint64)
	b := t.bucket(bucketMeta)
	for _, s := range allStatuses {
		var n uint64
		if raw := b.Get(countKey(s)); len(raw) == 8 {
			n = binary.BigEndian.Uint64(raw)
		}
		if n := int64(n) + t.countDelta[s]; n > 0 {
			out[s] = uint64(n)
		}
	}
	return out
}

func leaseKey(until time.Time, id uint64) []byte {
	return append(timeKey(until), u64key(id)...)
}

// Assign leases a queued request to node until leaseUntil. A request whose
// lease has run out (now >= LeaseUntil) may be assigned again directly; its
// old attempt is marked expired. Anything else is ErrInvalidTransition.
//
// Assign does not bound attempts: RequeueExpired does, and a scheduler that
// calls it before assigning never exceeds the bound.
func (t *Tx) Assign(id uint64, node string, leaseUntil, now time.Time) (*Job, error) {
	return t.AssignAgreeing(id, node, leaseUntil, 1, now)
}

// AssignAgreeing is Assign for a request that needs k agreeing executors
// (k <= 1: one, the plain path). The first assignment fixes k on the
// request (Job.Agreement); later ones keep it whatever they pass. A node
// that already returned a result for the request is refused
// (ErrInvalidTransition): its executors are distinct nodes.
func (t *Tx) AssignAgreeing(id uint64, node string, leaseUntil time.Time, k int, now time.Time) (*Job, error) {
	if err := checkNow(now); err != nil {
		return nil, err
	}
	if k < 0 || k > MaxAgreement {
		return nil, badInput("assign request %d: %d agreeing executors asked; between 1 and %d are allowed", id, k, MaxAgreement)
	}
	if node == "" {
		return nil, badInput("assign request %d: node id is empty", id)
	}
	if err := validIndexPart("node id", node); err != nil {
		return nil, fmt.Errorf("assign request %d: %w: %w", id, err, ErrBadInput)
	}
	if !leaseUntil.After(now) {
		return nil, badInput("assign request %d: lease end %s is not after now %s", id, leaseUntil.UTC().Format(time.RFC3339Nano), now.UTC().Format(time.RFC3339Nano))
	}
	now, leaseUntil = canonicalTime(now), canonicalTime(leaseUntil)
	job, err := t.Get(id)
	if err != nil {
		return nil, err
	}
	if job.Agreement.Ran(node) {
		return nil, fmt.Errorf("assign request %d to %s: that node already returned a result for it; its executors must be distinct: %w", id, node, ErrInvalidTransition)
	}
	if job.Status == StatusAssigned && job.Agreement != nil {
		// An agreement request may have several executors at once:
		// leases that ran out end first, then node is added beside the
		// others (or takes the request alone when none is left).
		for _, l := range job.Holders() {
			if !now.Before(l.Until) {
				if err := t.dropLease(job, l.Node, AttemptExpired, now); err != nil {
					return nil, err
				}
			}
		}
		if _, holds := job.LeaseOf(node); holds {
			return nil, fmt.Errorf("assign request %d to %s: that node holds a lease on it already: %w", id, node, ErrInvalidTransition)
		}
		if n := len(job.Holders()); n >= MaxAgreement {
			return nil, fmt.Errorf("assign request %d to %s: it has %d executors at once already: %w", id, node, n, ErrInvalidTransition)
		} else if n > 0 {
			job.Extra = append(job.Extra, Lease{Node: node, Until: leaseUntil})
			return job, t.addLease(job, node, leaseUntil, now)
		}
		t.setStatus(job, StatusQueued) // no lease left: assigned afresh below
	}
	switch {
	case job.Status == StatusQueued:
	case job.Status == StatusAssigned && !now.Before(job.LeaseUntil):
		if err := t.endLease(job, AttemptExpired, now); err != nil {
			return nil, err
		}
	case job.Status == StatusAssigned:
		return nil, fmt.Errorf("assign request %d to %s: it is leased to %s until %s: %w", id, node, job.Node, job.LeaseUntil.Format(time.RFC3339Nano), ErrInvalidTransition)
	default:
		return nil, fmt.Errorf("assign request %d to %s: it is %s: %w", id, node, job.Status, ErrInvalidTransition)
	}
	if err := t.bucket(bucketQueue).Delete(u64key(id)); err != nil {
		return nil, err
	}
	if k > 1 && job.Agreement == nil {
		job.Agreement = &Agreement{K: k}
	}
	t.setStatus(job, StatusAssigned)
	job.Node = node
	job.LeaseUntil = leaseUntil
	return job, t.addLease(job, node, leaseUntil, now)
}

// addLease records node's new lease on job (already set on job): its
// attempt and index entries; it writes the job.
func (t *Tx) addLease(job *Job, node string, until, now time.Time) error {
	job.UpdatedAt = now
	job.Attempts = append(job.Attempts, Attempt{Node: node, AssignedAt: now, LeaseUntil: until, Outcome: AttemptLeased})
	if err := t.bucket(bucketLeases).Put(leaseKey(until, job.ID), nil); err != nil {
		return err
	}
	if err := t.bucket(bucketByNode).Put(compositeKey(u64key(job.ID), node), nil); err != nil {
		return err
	}
	return t.putJob(job)
}

// dropLease ends node's lease on an assigned job in memory (the attempt's
// outcome, the index entries; the next lease becomes the first when it was
// the first). The status is the caller's to set, and the caller writes
// the job.
func (t *Tx) dropLease(job *Job, node string, outcome AttemptOutcome, now time.Time) error {
	holders := job.Holders()
	idx := -1
	for i, l := range holders {
		if l.Node == node {
			idx = i
		}
	}
	if idx < 0 {
		return nil
	}
	until := holders[idx].Until
	rest := append(holders[:idx:idx], holders[idx+1:]...)
	shared := false // another lease ends at the same instant: the key stays
	for _, l := range rest {
		shared = shared || l.Until.Equal(until)
	}
	if !shared {
		if err := t.bucket(bucketLeases).Delete(leaseKey(until, job.ID)); err != nil {
			return err
		}
	}
	if err := t.bucket(bucketByNode).Delete(compositeKey(u64key(job.ID), node)); err != nil {
		return err
	}
	for i := len(job.Attempts) - 1; i >= 0; i-- {
		if a := &job.Attempts[i]; a.Node == node && a.Outcome == AttemptLeased {
			a.Outcome, a.EndedAt = outcome, now
			break
		}
	}
	job.Node, job.LeaseUntil, job.Extra = "", time.Time{}, nil
	if len(rest) > 0 {
		job.Node, job.LeaseUntil = rest[0].Node, rest[0].Until
		job.Extra = append([]Lease(nil), rest[1:]...)
		if len(job.Extra) == 0 {
			job.Extra = nil
		}
	}
	return nil
}

// endLease closes every current lease of an assigned job in memory and
// removes their index entries; the caller sets the new status and writes
// the job.
func (t *Tx) endLease(job *Job, outcome AttemptOutcome, now time.Time) error {
	for _, l := range job.Holders() {
		if err := t.dropLease(job, l.Node, outcome, now); err != nil {
			return err
		}
	}
	return nil
}

// Complete records node's result for request id.
//
//   - From the current holder, strictly before its lease ends: Accepted; the
//     request becomes completed and waits to be resolved.
//   - From a node whose result is already recorded (accepted, or late for its
//     latest attempt): Duplicate; nothing changes, the first result stands.
//   - From a node that held an earlier lease, or holds the current lease but
//     past its end: Late; the result is kept on that attempt and not used.
//   - From a node that never held a lease: ErrNotHolder, nothing changes.
func (t *Tx) Complete(id uint64, node string, res Result, now time.Time) (CompleteOutcome, error) {
	if err := checkNow(now); err != nil {
		return 0, err
	}
	if node == "" {
		return 0, badInput("complete request %d: node id is empty", id)
	}
	if len(res.Output) > MaxOutputBytes {
		return 0, badInput("complete request %d: output is %d bytes; at most %d fit a NEAR transaction", id, len(res.Output), MaxOutputBytes)
	}
	if len(res.Attestation) > MaxAttestationBytes {
		return 0, badInput("complete request %d: attestation is %d bytes; at most %d are allowed", id, len(res.Attestation), MaxAttestationBytes)
	}
	now = canonicalTime(now)
	job, err := t.Get(id)
	if err != nil {
		return 0, err
	}
	res.Error = textcut.Head(res.Error, MaxErrorBytes)
	res.CompilationNote = textcut.Head(res.CompilationNote, MaxErrorBytes)
	res.Node = node
	res.ReceivedAt = now

	if until, holds := job.LeaseOf(node); job.Status == StatusAssigned && holds && now.Before(until) {
		if err := t.dropLease(job, node, AttemptCompleted, now); err != nil {
			return 0, err
		}
		job.UpdatedAt = now
		if job.Agreement != nil {
			if err := t.completeAgreeing(job, res); err != nil {
				return 0, err
			}
			return Accepted, t.putJob(job)
		}
		t.setStatus(job, StatusCompleted)
		job.Result = &res
		job.DoneAt = now
		if err := t.bucket(bucketUnresolved).Put(u64key(id), nil); err != nil {
			return 0, err
		}
		return Accepted, t.putJob(job)
	}
	if (job.Result != nil && job.Result.Node == node) || job.Agreement.Ran(node) {
		return Duplicate, nil
	}
	last := -1
	for i := range job.Attempts {
		if job.Attempts[i].Node == node {
			last = i
		}
	}
	if last < 0 {
		return 0, fmt.Errorf("complete request %d: node %s never held a lease on it: %w", id, node, ErrNotHolder)
	}
	if job.Attempts[last].LateResult != nil {
		return Duplicate, nil
	}
	job.Attempts[last].LateResult = &res
	job.UpdatedAt = now
	return Late, t.putJob(job)
}

// Bounds on what a result may carry: every replica keeps every result
// until the request is pruned (retention.go), so one node's bug must not
// grow them all without limit.
const (
	// MaxOutputBytes is NEAR's limit on a function call's arguments, which
	// the output must fit to be delivered at all.
	MaxOutputBytes = 4 << 20
	// MaxAttestationBytes is far above a TDX quote (about 5 KiB).
	MaxAttestationBytes = 64 << 10
	// MaxErrorBytes bounds error texts and notes; longer ones are cut.
	MaxErrorBytes = 4 << 10
)

// Release hands node's current lease on request id back: the request goes
// back to the queue at once instead of waiting for the lease to run out, and
// the attempt is marked released. A result node sends afterwards is kept on
// that attempt as late and never used (Complete sees a node that no longer
// holds the lease).
//
// Only the current holder may release, and only strictly before its lease
// ends: from LeaseUntil on the lease is expired and RequeueExpired or Assign
// owns it (a released attempt is not counted toward the attempt bound, so
// letting a node release an expired lease would let it erase a failure).
// A request that is not assigned is ErrInvalidTransition, another node's
// lease ErrNotHolder, an unknown id ErrNotFound; a refusal writes nothing.
func (t *Tx) Release(id uint64, node string, now time.Time) (*Job, error) {
	if err := checkNow(now); err != nil {
		return nil, err
	}
	if node == "" {
		return nil, badInput("release request %d: node id is empty", id)
	}
	now = canonicalTime(now)
	job, err := t.Get(id)
	if err != nil {
		return nil, err
	}
	switch {
	case job.Status != StatusAssigned:
		return nil, fmt.Errorf("release request %d by %s: it is %s, not assigned: %w", id, node, job.Status, ErrInvalidTransition)
	}
	until, holds := job.LeaseOf(node)
	switch {
	case !holds:
		return nil, fmt.Errorf("release request %d by %s: it is leased to %s: %w", id, node, job.Node, ErrNotHolder)
	case !now.Before(until):
		return nil, fmt.Errorf("release request %d by %s: its lease ended at %s; expired leases are requeued, not released: %w", id, node, until.Format(time.RFC3339Nano), ErrInvalidTransition)
	}
	if err := t.dropLease(job, node, AttemptReleased, now); err != nil {
		return nil, err
	}
	job.UpdatedAt = now
	if len(job.Holders()) > 0 {
		return job, t.putJob(job) // its other executors run on
	}
	t.setStatus(job, StatusQueued)
	if err := t.bucket(bucketQueue).Put(u64key(id), nil); err != nil {
		return nil, err
	}
	return job, t.putJob(job)
}

// countedAttempts is the number of attempts that count toward the attempt
// bound: every lease except released and completed ones. A release is a
// node stepping aside (a graceful shutdown), not the request failing to
// run; counting it would let a rolling restart of the cluster fail requests
// that never misbehaved. A completed attempt is an executor of a k-of-n
// request that did its part (with k = 1 a completed attempt ends the
// request, so it is never counted anyway).
func countedAttempts(job *Job) int {
	n := 0
	for i := range job.Attempts {
		if o := job.Attempts[i].Outcome; o != AttemptReleased && o != AttemptCompleted {
			n++
		}
	}
	return n
}

// RequeueExpired ends every lease that ran out at or before now. A request
// that has had fewer than maxAttempts leases goes back to the queue; one that
// has had maxAttempts becomes failed with an error saying so, so that it is
// still resolved on chain and the caller refunded. Released attempts are not
// counted (see countedAttempts).
func (t *Tx) RequeueExpired(now time.Time, maxAttempts int) ([]Requeued, error) {
	if err := checkNow(now); err != nil {
		return nil, err
	}
	if maxAttempts < 1 {
		return nil, badInput("requeue: max attempts must be at least 1, got %d", maxAttempts)
	}
	now = canonicalTime(now)
	// Collect first: deleting under a bbolt cursor skips keys.
	limit := timeKey(now)
	var ids []uint64
	c := t.bucket(bucketLeases).Cursor()
	for k, _ := c.First(); k != nil && bytes.Compare(k[:8], limit) <= 0; k, _ = c.Next() {
		ids = append(ids, binary.BigEndian.Uint64(k[8:]))
	}
	out := make([]Requeued, 0, len(ids))
	seen := map[uint64]bool{}
	for _, id := range ids {
		if seen[id] {
			continue // two of its leases ran out
		}
		seen[id] = true
		job, err := t.Get(id)
		if err != nil {
			return nil, fmt.Errorf("requeue: lease index names request %d: %w", id, err)
		}
		var node string
		for _, l := range job.Holders() {
			if now.Before(l.Until) {
				continue
			}
			node = l.Node
			if err := t.dropLease(job, l.Node, AttemptExpired, now); err != nil {
				return nil, err
			}
		}
		job.UpdatedAt = now
		switch n := countedAttempts(job); {
		case len(job.Holders()) > 0 && n < maxAttempts:
			// Its other executors run on.
		case n >= maxAttempts:
			if err := t.endLease(job, AttemptCancelled, now); err != nil {
				return nil, err
			}
			t.setStatus(job, StatusFailed)
			job.Error = fmt.Sprintf("gave up after %d attempts: the lease of the last node (%s) expired without a result", n, node)
			job.DoneAt = now
			if err := t.bucket(bucketUnresolved).Put(u64key(id), nil); err != nil {
				return nil, err
			}
		default:
			t.setStatus(job, StatusQueued)
			if err := t.bucket(bucketQueue).Put(u64key(id), nil); err != nil {
				return nil, err
			}
		}
		if err := t.putJob(job); err != nil {
			return nil, err
		}
		out = append(out, Requeued{ID: id, Node: node, Status: job.Status})
	}
	return out, nil
}

// Fail gives up on a queued or assigned request (e.g. its yield deadline is
// too close, or its code source cannot be built) so it is resolved on chain
// as a failure with reason. Failing a failed request is a no-op.
func (t *Tx) Fail(id uint64, reason string, now time.Time) (*Job, error) {
	if err := checkNow(now); err != nil {
		return nil, err
	}
	if reason == "" {
		return nil, badInput("fail request %d: reason is empty; the caller will see it", id)
	}
	reason = textcut.Head(reason, MaxErrorBytes)
	now = canonicalTime(now)
	job, err := t.Get(id)
	if err != nil {
		return nil, err
	}
	switch job.Status {
	case StatusFailed:
		return job, nil
	case StatusQueued:
		if err := t.bucket(bucketQueue).Delete(u64key(id)); err != nil {
			return nil, err
		}
	case StatusAssigned:
		if err := t.endLease(job, AttemptCancelled, now); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("fail request %d: it is %s: %w", id, job.Status, ErrInvalidTransition)
	}
	t.setStatus(job, StatusFailed)
	job.Error = reason
	job.UpdatedAt = now
	job.DoneAt = now
	if err := t.bucket(bucketUnresolved).Put(u64key(id), nil); err != nil {
		return nil, err
	}
	return job, t.putJob(job)
}

// MarkResolved records that the resolve transaction txHash landed for a
// completed or failed request. Repeating it with the same hash is a no-op; a
// different hash for a resolved request is ErrInvalidTransition.
func (t *Tx) MarkResolved(id uint64, txHash string, now time.Time) (*Job, error) {
	if err := checkNow(now); err != nil {
		return nil, err
	}
	if txHash == "" {
		return nil, badInput("mark request %d resolved: transaction hash is empty", id)
	}
	now = canonicalTime(now)
	job, err := t.Get(id)
	if err != nil {
		return nil, err
	}
	switch {
	case job.Status == StatusResolved && job.ResolveTx == txHash:
		return job, nil
	case job.Status == StatusResolved:
		return nil, fmt.Errorf("mark request %d resolved by %s: already resolved by %s: %w", id, txHash, job.ResolveTx, ErrInvalidTransition)
	case !job.Status.AwaitsResolve():
		return nil, fmt.Errorf("mark request %d resolved: it is %s, not completed or failed: %w", id, job.Status, ErrInvalidTransition)
	}
	t.setStatus(job, StatusResolved)
	job.ResolveTx = txHash
	job.UpdatedAt = now
	job.ClosedAt = now
	if err := t.bucket(bucketUnresolved).Delete(u64key(id)); err != nil {
		return nil, err
	}
	return job, t.putJob(job)
}

// MarkExpired records that the chain no longer waits for the request (the
// yield timed out, or the chain answered "already resolved" or "not found"),
// so it must never be resolved again. Allowed from any non-terminal status;
// repeating it is a no-op.
func (t *Tx) MarkExpired(id uint64, reason string, now time.Time) (*Job, error) {
	if err := checkNow(now); err != nil {
		return nil, err
	}
	if reason == "" {
		return nil, badInput("mark request %d expired: reason is empty", id)
	}
	reason = textcut.Head(reason, MaxErrorBytes)
	now = canonicalTime(now)
	job, err := t.Get(id)
	if err != nil {
		return nil, err
	}
	switch job.Status {
	case StatusExpired:
		return job, nil
	case StatusResolved:
		return nil, fmt.Errorf("mark request %d expired: it was resolved by %s: %w", id, job.ResolveTx, ErrInvalidTransition)
	case StatusQueued:
		if err := t.bucket(bucketQueue).Delete(u64key(id)); err != nil {
			return nil, err
		}
	case StatusAssigned:
		if err := t.endLease(job, AttemptCancelled, now); err != nil {
			return nil, err
		}
	case StatusCompleted, StatusFailed:
		if err := t.bucket(bucketUnresolved).Delete(u64key(id)); err != nil {
			return nil, err
		}
	}
	t.setStatus(job, StatusExpired)
	job.Error = reason
	job.UpdatedAt = now
	job.ClosedAt = now
	return job, t.putJob(job)
}

// idsIn walks an index bucket whose keys are prefix ‖ big-endian id and
// returns up to limit ids (limit <= 0: all) in key order.
func idsIn(b *bolt.Bucket, prefix []byte, limit int) []uint64 {
	var ids []uint64
	c := b.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		ids = append(ids, binary.BigEndian.Uint64(k[len(k)-8:]))
		if limit > 0 && len(ids) == limit {
			break
		}
	}
	return ids
}

func (t *Tx) jobs(ids []uint64) ([]*Job, error) {
	out := make([]*Job, 0, len(ids))
	for _, id := range ids {
		j, err := t.Get(id)
		if err != nil {
			return nil, fmt.Errorf("index names request %d: %w", id, err)
		}
		out = append(out, j)
	}
	return out, nil
}

// Queued returns up to limit queued requests (limit <= 0: all), lowest id
// first: the order the scheduler hands them out.
func (t *Tx) Queued(limit int) ([]*Job, error) {
	return t.jobs(idsIn(t.bucket(bucketQueue), nil, limit))
}

// CountQueued is the queue length.
func (t *Tx) CountQueued() int { return t.bucket(bucketQueue).Stats().KeyN }

// Leases returns assigned requests whose lease ends at or before until,
// soonest first, up to limit (limit <= 0: all). Pass a far-future time to
// list every lease.
func (t *Tx) Leases(until time.Time, limit int) ([]*Job, error) {
	end := timeKey(until)
	var ids []uint64
	c := t.bucket(bucketLeases).Cursor()
	seen := map[uint64]bool{}
	for k, _ := c.First(); k != nil && bytes.Compare(k[:8], end) <= 0; k, _ = c.Next() {
		id := binary.BigEndian.Uint64(k[8:])
		if seen[id] {
			continue // another lease of the same request
		}
		seen[id] = true
		ids = append(ids, id)
		if limit > 0 && len(ids) == limit {
			break
		}
	}
	return t.jobs(ids)
}

// Unresolved returns completed or failed requests not yet resolved on chain,
// lowest id first, up to limit (limit <= 0: all).
func (t *Tx) Unresolved(limit int) ([]*Job, error) {
	return t.jobs(idsIn(t.bucket(bucketUnresolved), nil, limit))
}

// AssignedTo returns the requests currently leased to node, lowest id first.
func (t *Tx) AssignedTo(node string) ([]*Job, error) {
	return t.jobs(idsIn(t.bucket(bucketByNode), compositeKey(nil, node), 0))
}

// sortedUnique is used for blob source lists so their encoding is canonical.
func sortedUnique(src []BlobSource) []BlobSource {
	slices.SortFunc(src, func(a, b BlobSource) int {
		return bytes.Compare(compositeKey(nil, a.Repo, a.Commit, a.Target), compositeKey(nil, b.Repo, b.Commit, b.Target))
	})
	return slices.Compact(src)
}
