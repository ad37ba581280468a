package store

import (
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The methods below run one Tx method in its own transaction. Callers that
// apply several operations at once (a Raft batch) use Update instead.

// Enqueue runs Tx.Enqueue in its own transaction.
func (s *Store) Enqueue(req Request, cursor *Cursor, now time.Time) (out EnqueueOutcome, err error) {
	err = s.Update(func(tx *Tx) error { out, err = tx.Enqueue(req, cursor, now); return err })
	return out, err
}

// EnqueueBatch runs Tx.EnqueueBatch in its own transaction.
func (s *Store) EnqueueBatch(reqs []Request, cursor *Cursor, now time.Time) (out []EnqueueOutcome, err error) {
	err = s.Update(func(tx *Tx) error { out, err = tx.EnqueueBatch(reqs, cursor, now); return err })
	return out, err
}

// AdvanceCursor runs Tx.AdvanceCursor in its own transaction.
func (s *Store) AdvanceCursor(c Cursor) error {
	return s.Update(func(tx *Tx) error { return tx.AdvanceCursor(c) })
}

// Cursor returns the chain cursor; ok is false before the first one.
func (s *Store) Cursor() (c Cursor, ok bool, err error) {
	err = s.View(func(tx *Tx) error { c, ok, err = tx.Cursor(); return err })
	return c, ok, err
}

// Assign runs Tx.Assign in its own transaction.
func (s *Store) Assign(id uint64, node string, leaseUntil, now time.Time) (job *Job, err error) {
	err = s.Update(func(tx *Tx) error { job, err = tx.Assign(id, node, leaseUntil, now); return err })
	return job, err
}

// Complete runs Tx.Complete in its own transaction.
func (s *Store) Complete(id uint64, node string, res Result, now time.Time) (out CompleteOutcome, err error) {
	err = s.Update(func(tx *Tx) error { out, err = tx.Complete(id, node, res, now); return err })
	return out, err
}

// Release runs Tx.Release in its own transaction.
func (s *Store) Release(id uint64, node string, now time.Time) (job *Job, err error) {
	err = s.Update(func(tx *Tx) error { job, err = tx.Release(id, node, now); return err })
	return job, err
}

// RequeueExpired runs Tx.RequeueExpired in its own transaction.
func (s *Store) RequeueExpired(now time.Time, maxAttempts int) (out []Requeued, err error) {
	err = s.Update(func(tx *Tx) error { out, err = tx.RequeueExpired(now, maxAttempts); return err })
	return out, err
}

// Fail runs Tx.Fail in its own transaction.
func (s *Store) Fail(id uint64, reason string, now time.Time) (job *Job, err error) {
	err = s.Update(func(tx *Tx) error { job, err = tx.Fail(id, reason, now); return err })
	return job, err
}

// MarkResolved runs Tx.MarkResolved in its own transaction.
func (s *Store) MarkResolved(id uint64, txHash string, now time.Time) (job *Job, err error) {
	err = s.Update(func(tx *Tx) error { job, err = tx.MarkResolved(id, txHash, now); return err })
	return job, err
}

// MarkExpired runs Tx.MarkExpired in its own transaction.
func (s *Store) MarkExpired(id uint64, reason string, now time.Time) (job *Job, err error) {
	err = s.Update(func(tx *Tx) error { job, err = tx.MarkExpired(id, reason, now); return err })
	return job, err
}

// Get returns one request.
func (s *Store) Get(id uint64) (job *Job, err error) {
	err = s.View(func(tx *Tx) error { job, err = tx.Get(id); return err })
	return job, err
}

// Queued returns queued requests, lowest id first.
func (s *Store) Queued(limit int) (jobs []*Job, err error) {
	err = s.View(func(tx *Tx) error { jobs, err = tx.Queued(limit); return err })
	return jobs, err
}

// Leases returns leases ending at or before until, soonest first.
func (s *Store) Leases(until time.Time, limit int) (jobs []*Job, err error) {
	err = s.View(func(tx *Tx) error { jobs, err = tx.Leases(until, limit); return err })
	return jobs, err
}

// Unresolved returns completed or failed requests awaiting resolve.
func (s *Store) Unresolved(limit int) (jobs []*Job, err error) {
	err = s.View(func(tx *Tx) error { jobs, err = tx.Unresolved(limit); return err })
	return jobs, err
}

// Counts returns how many requests are in each status.
func (s *Store) Counts() (c map[Status]uint64, err error) {
	err = s.View(func(tx *Tx) error { c = tx.Counts(); return nil })
	return c, err
}

// AssignedTo returns the requests currently leased to node.
func (s *Store) AssignedTo(node string) (jobs []*Job, err error) {
	err = s.View(func(tx *Tx) error { jobs, err = tx.AssignedTo(node); return err })
	return jobs, err
}

// Latest returns one page of history, newest first.
func (s *Store) Latest(p Page) (res PageResult, err error) {
	err = s.View(func(tx *Tx) error { res, err = tx.Latest(p); return err })
	return res, err
}

// BySender returns one page of account's requests, newest first.
func (s *Store) BySender(account string, p Page) (res PageResult, err error) {
	err = s.View(func(tx *Tx) error { res, err = tx.BySender(account, p); return err })
	return res, err
}

// PutBlob runs Tx.PutBlob in its own transaction.
func (s *Store) PutBlob(h BlobHash, data []byte, source *BlobSource, now time.Time) error {
	return s.Update(func(tx *Tx) error { return tx.PutBlob(h, data, source, now) })
}

// Blob returns a blob's bytes through the ristretto cache. The returned slice
// is shared with the cache: do not modify it. Blobs are content-addressed,
// so a cached copy can never be stale, only (briefly, after an eviction)
// still present.
func (s *Store) Blob(h BlobHash) ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.db == nil {
		return nil, ErrClosed
	}
	key := string(h[:])
	if s.blobs != nil {
		if b, ok := s.blobs.Get(key); ok {
			return b, nil
		}
	}
	var data []byte
	err := s.db.View(func(btx *bolt.Tx) error {
		var err error
		data, err = (&Tx{tx: btx}).Blob(h)
		return err
	})
	if err != nil {
		return nil, err
	}
	if s.blobs != nil {
		s.blobs.Set(key, data, int64(len(data)))
	}
	return data, nil
}

// BlobInfo returns a blob's accounting record.
func (s *Store) BlobInfo(h BlobHash) (info *BlobInfo, err error) {
	err = s.View(func(tx *Tx) error { info, err = tx.BlobInfo(h); return err })
	return info, err
}

// BlobBySource returns the blob built from source.
func (s *Store) BlobBySource(source BlobSource) (h BlobHash, ok bool, err error) {
	err = s.View(func(tx *Tx) error { h, ok = tx.BlobBySource(source); return nil })
	return h, ok, err
}

// TouchBlob runs Tx.TouchBlob in its own transaction.
func (s *Store) TouchBlob(h BlobHash, now time.Time) error {
	return s.Update(func(tx *Tx) error { return tx.TouchBlob(h, now) })
}

// EvictionPlan runs Tx.EvictionPlan on a consistent view.
func (s *Store) EvictionPlan(budget uint64, keep map[BlobHash]bool) (plan []BlobHash, err error) {
	err = s.View(func(tx *Tx) error { plan, err = tx.EvictionPlan(budget, keep); return err })
	return plan, err
}

// EvictBlobs runs Tx.EvictBlobs in its own transaction and drops the blobs
// from the cache.
func (s *Store) EvictBlobs(hashes []BlobHash) (freed uint64, err error) {
	err = s.Update(func(tx *Tx) error { freed, err = tx.EvictBlobs(hashes); return err })
	return freed, err
}

// BlobBytes is the total size of stored blobs.
func (s *Store) BlobBytes() (n uint64, err error) {
	err = s.View(func(tx *Tx) error { n = tx.BlobBytes(); return nil })
	return n, err
}

// PutNode runs Tx.PutNode in its own transaction.
func (s *Store) PutNode(n Node) error {
	return s.Update(func(tx *Tx) error { return tx.PutNode(n) })
}

// Node returns one member's record.
func (s *Store) Node(peerID string) (n *Node, err error) {
	err = s.View(func(tx *Tx) error { n, err = tx.Node(peerID); return err })
	return n, err
}

// Nodes lists all members.
func (s *Store) Nodes() (ns []*Node, err error) {
	err = s.View(func(tx *Tx) error { ns, err = tx.Nodes(); return err })
	return ns, err
}

// RemoveNode runs Tx.RemoveNode in its own transaction.
func (s *Store) RemoveNode(peerID string) error {
	return s.Update(func(tx *Tx) error { return tx.RemoveNode(peerID) })
}

// PutSealed runs Tx.PutSealed in its own transaction.
func (s *Store) PutSealed(name string, sealed []byte) error {
	return s.Update(func(tx *Tx) error { return tx.PutSealed(name, sealed) })
}

// Sealed returns a keystore entry.
func (s *Store) Sealed(name string) (b []byte, err error) {
	err = s.View(func(tx *Tx) error { b, err = tx.Sealed(name); return err })
	return b, err
}

// DeleteSealed runs Tx.DeleteSealed in its own transaction.
func (s *Store) DeleteSealed(name string) error {
	return s.Update(func(tx *Tx) error { return tx.DeleteSealed(name) })
}

// SealedNames lists keystore entry names with prefix.
func (s *Store) SealedNames(prefix string) (names []string, err error) {
	err = s.View(func(tx *Tx) error { names = tx.SealedNames(prefix); return nil })
	return names, err
}

// String describes the store for logs.
func (s *Store) String() string { return fmt.Sprintf("store(%s)", s.path) }
