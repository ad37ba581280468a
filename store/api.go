package store

import (
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The methods below run one read in its own read-only transaction. There
// are no such shortcuts for writes: in a node every change to the store is
// a Raft command applied by the consensus FSM inside Update, and a write
// around it would make this replica differ from the others. (Tests have
// one-call writers in writers_test.go.)

// Cursor returns the chain cursor; ok is false before the first one.
func (s *Store) Cursor() (c Cursor, ok bool, err error) {
	err = s.View(func(tx *Tx) error { c, ok, err = tx.Cursor(); return err })
	return c, ok, err
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

// NodeAgreements returns every node's agreement counters, by peer id.
func (s *Store) NodeAgreements() (m map[string]NodeAgreement, err error) {
	err = s.View(func(tx *Tx) error { m, err = tx.NodeAgreements(); return err })
	return m, err
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

// EvictionPlan runs Tx.EvictionPlan on a consistent view.
func (s *Store) EvictionPlan(budget uint64, keep map[BlobHash]bool) (plan []BlobHash, err error) {
	err = s.View(func(tx *Tx) error { plan, err = tx.EvictionPlan(budget, keep); return err })
	return plan, err
}

// BlobBytes is the total size of stored blobs.
func (s *Store) BlobBytes() (n uint64, err error) {
	err = s.View(func(tx *Tx) error { n = tx.BlobBytes(); return nil })
	return n, err
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

// Sealed returns a keystore entry.
func (s *Store) Sealed(name string) (b []byte, err error) {
	err = s.View(func(tx *Tx) error { b, err = tx.Sealed(name); return err })
	return b, err
}

// SealedNames lists keystore entry names with prefix.
func (s *Store) SealedNames(prefix string) (names []string, err error) {
	err = s.View(func(tx *Tx) error { names = tx.SealedNames(prefix); return nil })
	return names, err
}

// String describes the store for logs.
func (s *Store) String() string { return fmt.Sprintf("store(%s)", s.path) }
