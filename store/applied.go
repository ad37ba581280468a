package store

import (
	"encoding/binary"
	"fmt"
)

// keyAppliedIndex records the last Raft log index whose effects the file
// holds. The consensus FSM writes it in the same transaction as the
// entries it covers, so the data and the index can never disagree: a
// restarted node keeps its file and skips the entries it already holds.
var keyAppliedIndex = []byte("raft_applied_index")

// SetAppliedIndex records idx as the last Raft log index applied to this
// file. Call it inside the Update that applies that entry. The index only
// moves forward; a lower one is refused with ErrBadInput and changes
// nothing.
func (t *Tx) SetAppliedIndex(idx uint64) error {
	cur, err := t.AppliedIndex()
	if err != nil {
		return err
	}
	if idx < cur {
		return badInput("applied index %d is below the recorded %d; the index only moves forward", idx, cur)
	}
	return t.bucket(bucketMeta).Put(keyAppliedIndex, u64key(idx))
}

// AppliedIndex is the last Raft log index recorded by SetAppliedIndex, or 0
// when none was.
func (t *Tx) AppliedIndex() (uint64, error) {
	raw := t.tx.Bucket(bucketMeta).Get(keyAppliedIndex)
	switch len(raw) {
	case 0:
		return 0, nil
	case 8:
		return binary.BigEndian.Uint64(raw), nil
	}
	return 0, fmt.Errorf("applied index record is %d bytes, not 8: %w", len(raw), ErrCorrupt)
}

// AppliedIndex is Tx.AppliedIndex in its own read transaction.
func (s *Store) AppliedIndex() (idx uint64, err error) {
	err = s.View(func(tx *Tx) error {
		idx, err = tx.AppliedIndex()
		return err
	})
	return idx, err
}

// Sync flushes the file to stable storage. A store opened with NoSync
// calls it before a clean shutdown, so the file may be trusted on the
// next start.
func (s *Store) Sync() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.db == nil {
		return ErrClosed
	}
	if err := s.db.Sync(); err != nil {
		return fmt.Errorf("store: sync %s: %w", s.path, err)
	}
	return nil
}
