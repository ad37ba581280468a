package store

import "time"

// One-call writers for tests: each runs one Tx method in its own
// transaction. They live in a test file so that production code cannot
// write to a replica around Raft (see api.go); tests of the store's rules
// use them to keep each step one line.

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

// PutBlob runs Tx.PutBlob in its own transaction.
func (s *Store) PutBlob(h BlobHash, data []byte, source *BlobSource, now time.Time) error {
	return s.Update(func(tx *Tx) error { return tx.PutBlob(h, data, source, now) })
}

// TouchBlob runs Tx.TouchBlob in its own transaction.
func (s *Store) TouchBlob(h BlobHash, now time.Time) error {
	return s.Update(func(tx *Tx) error { return tx.TouchBlob(h, now) })
}

// EvictBlobs runs Tx.EvictBlobs in its own transaction and drops the blobs
// from the cache.
func (s *Store) EvictBlobs(hashes []BlobHash) (freed uint64, err error) {
	err = s.Update(func(tx *Tx) error { freed, err = tx.EvictBlobs(hashes); return err })
	return freed, err
}

// PutNode runs Tx.PutNode in its own transaction.
func (s *Store) PutNode(n Node) error {
	return s.Update(func(tx *Tx) error { return tx.PutNode(n) })
}

// RemoveNode runs Tx.RemoveNode in its own transaction.
func (s *Store) RemoveNode(peerID string) error {
	return s.Update(func(tx *Tx) error { return tx.RemoveNode(peerID) })
}

// PutSealed runs Tx.PutSealed in its own transaction.
func (s *Store) PutSealed(name string, sealed []byte) error {
	return s.Update(func(tx *Tx) error { return tx.PutSealed(name, sealed) })
}

// DeleteSealed runs Tx.DeleteSealed in its own transaction.
func (s *Store) DeleteSealed(name string) error {
	return s.Update(func(tx *Tx) error { return tx.DeleteSealed(name) })
}

// AssignAgreeing runs Tx.AssignAgreeing in its own transaction.
func (s *Store) AssignAgreeing(id uint64, node string, leaseUntil time.Time, k int, now time.Time) (job *Job, err error) {
	err = s.Update(func(tx *Tx) error { job, err = tx.AssignAgreeing(id, node, leaseUntil, k, now); return err })
	return job, err
}
