package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Program storage: the key-value data programs keep between runs
// (outlayer_v1's storage functions), and the run records that say what each
// run observed. The daemon decides the namespaces (which program, which
// caller, which scope); here a namespace is an opaque, prefix-free byte
// string and a run's storage work arrives as ProgEffects, applied with its
// result by the consensus Complete command.
//
// The buckets are created on first write, so stores and snapshots from
// before program storage need no migration.
var (
	bucketProgKV    = []byte("prog_kv")      // namespace ‖ key → value
	bucketProgUsage = []byte("prog_usage")   // code identity → bytes stored (u64)
	bucketRecords   = []byte("run_records")  // request id → run record
	bucketPending   = []byte("prog_pending") // request id → ProgEffects awaiting agreement
	// bucketProgProjects names the project of a project's code identity,
	// so the leader can ask the chain whether it still exists.
	bucketProgProjects = []byte("prog_projects") // code identity → project id
)

// Errors of program storage.
var (
	// ErrStorageConflict: something a run read changed before its writes
	// could apply; the run must be done again.
	ErrStorageConflict = errors.New("storage changed since the run read it")
	// ErrStorageQuota: the writes would put the program above its quota.
	ErrStorageQuota = errors.New("storage quota exceeded")
	// ErrStorageBudget: the writes would put the program storage of all
	// programs together above the node-wide budget. It wraps
	// ErrStorageQuota: to the run it is the same failure.
	ErrStorageBudget = fmt.Errorf("node-wide storage budget exceeded: %w", ErrStorageQuota)
)

// keyProgBytes in meta is the bytes all programs store together (the sum
// of prog_usage), kept with every write so the budget check is one read.
var keyProgBytes = []byte("prog_bytes")

// Limits of program storage and records.
const (
	MaxProgKeyBytes   = 512
	MaxProgValueBytes = 64 << 10
	// MaxRecordBytes bounds a run record kept with a request.
	MaxRecordBytes = 8 << 20
)

// ProgRead is a value a run read from the store (not from its own writes):
// the run is valid only while the key still holds exactly this.
type ProgRead struct {
	NS      []byte `json:"ns"`
	Key     []byte `json:"key"`
	Present bool   `json:"present"`
	Value   []byte `json:"value,omitempty"`
}

// ProgRange is a page of keys a run listed from the store: valid while
// the same query gives the same keys.
type ProgRange struct {
	NS     []byte   `json:"ns"`
	Prefix []byte   `json:"prefix,omitempty"`
	After  []byte   `json:"after,omitempty"`
	Limit  int      `json:"limit"`
	Keys   [][]byte `json:"keys,omitempty"`
}

// ProgWrite is one key's final state after a run: a value, or deleted.
type ProgWrite struct {
	NS     []byte `json:"ns"`
	Key    []byte `json:"key"`
	Value  []byte `json:"value,omitempty"`
	Delete bool   `json:"delete,omitempty"`
}

// ProgEffects is a run's storage transaction: what it read and what it
// wrote, for one program (Code, its identity for the quota).
type ProgEffects struct {
	Code string `json:"code"`
	// RecordHash is the hash of the record of the run that made these
	// effects: they apply only with a result carrying the same record.
	RecordHash string `json:"record_hash,omitempty"`
	Quota      uint64 `json:"quota"`
	// Budget, when set, bounds the bytes all programs store together (the
	// executing node's --storage-budget): writes that grow the total past
	// it fail with ErrStorageBudget.
	Budget uint64 `json:"budget,omitempty"`
	// Project is the project id ("owner/name") of a project's run, whose
	// storage is dropped when the project is deleted on chain.
	Project string      `json:"project,omitempty"`
	Reads   []ProgRead  `json:"reads,omitempty"`
	Ranges  []ProgRange `json:"ranges,omitempty"`
	Writes  []ProgWrite `json:"writes,omitempty"`
}

func progKey(ns, key []byte) []byte {
	out := make([]byte, 0, len(ns)+len(key))
	return append(append(out, ns...), key...)
}

// ProgGet returns the value of key in namespace ns.
func (t *Tx) ProgGet(ns, key []byte) ([]byte, bool) {
	b := t.tx.Bucket(bucketProgKV)
	if b == nil {
		return nil, false
	}
	v := b.Get(progKey(ns, key))
	if v == nil {
		return nil, false
	}
	return bytes.Clone(v), true
}

// ProgList returns up to limit keys of namespace ns that start with prefix
// and sort after after (all of them when after is empty), in byte order,
// without the namespace.
func (t *Tx) ProgList(ns, prefix, after []byte, limit int) [][]byte {
	b := t.tx.Bucket(bucketProgKV)
	if b == nil || limit <= 0 {
		return nil
	}
	full := progKey(ns, prefix)
	c := b.Cursor()
	var k []byte
	if len(after) > 0 && bytes.Compare(progKey(ns, after), full) > 0 {
		k, _ = c.Seek(progKey(ns, after))
		if k != nil && bytes.Equal(k, progKey(ns, after)) {
			k, _ = c.Next()
		}
	} else {
		k, _ = c.Seek(full)
	}
	var out [][]byte
	for ; k != nil && bytes.HasPrefix(k, full) && len(out) < limit; k, _ = c.Next() {
		out = append(out, bytes.Clone(k[len(ns):]))
	}
	return out
}

// ProgUsage is the bytes (keys and values) a program stores.
func (t *Tx) ProgUsage(code string) uint64 {
	b := t.tx.Bucket(bucketProgUsage)
	if b == nil {
		return 0
	}
	if v := b.Get([]byte(code)); len(v) == 8 {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

// CheckProgEffects reports whether e can apply now: ErrStorageConflict when
// something it read changed, ErrStorageQuota when its writes do not fit,
// ErrBadInput for a malformed write. It writes nothing.
func (t *Tx) CheckProgEffects(e *ProgEffects) error {
	if e.Code == "" {
		return badInput("storage effects name no program")
	}
	for _, r := range e.Reads {
		v, ok := t.ProgGet(r.NS, r.Key)
		if ok != r.Present || !bytes.Equal(v, r.Value) {
			return fmt.Errorf("key %q: %w", r.Key, ErrStorageConflict)
		}
	}
	for _, r := range e.Ranges {
		got := t.ProgList(r.NS, r.Prefix, r.After, r.Limit)
		if len(got) != len(r.Keys) {
			return fmt.Errorf("keys listed under %q: %w", r.Prefix, ErrStorageConflict)
		}
		for i := range got {
			if !bytes.Equal(got[i], r.Keys[i]) {
				return fmt.Errorf("keys listed under %q: %w", r.Prefix, ErrStorageConflict)
			}
		}
	}
	_, err := t.progUsageAfter(e)
	return err
}

// progUsageAfter is the program's usage once e's writes apply.
func (t *Tx) progUsageAfter(e *ProgEffects) (uint64, error) {
	used := int64(t.ProgUsage(e.Code))
	for _, w := range e.Writes {
		if len(w.NS) == 0 || len(w.Key) == 0 || len(w.Key) > MaxProgKeyBytes || len(w.Value) > MaxProgValueBytes {
			return 0, badInput("storage write of key %q (%d bytes, value %d bytes) is outside the limits", w.Key, len(w.Key), len(w.Value))
		}
		if old, ok := t.ProgGet(w.NS, w.Key); ok {
			used -= int64(len(w.Key) + len(old))
		}
		if !w.Delete {
			used += int64(len(w.Key) + len(w.Value))
		}
	}
	if used < 0 {
		used = 0
	}
	before := t.ProgUsage(e.Code)
	if e.Quota > 0 && uint64(used) > e.Quota && uint64(used) > before {
		return 0, fmt.Errorf("the program would store %d bytes, above its quota of %d: %w", used, e.Quota, ErrStorageQuota)
	}
	if e.Budget > 0 && uint64(used) > before {
		total, err := t.ProgBytes()
		if err != nil {
			return 0, err
		}
		if after := total - min(total, before) + uint64(used); after > e.Budget {
			return 0, fmt.Errorf("all programs would store %d bytes together, above this cluster's storage budget of %d: %w", after, e.Budget, ErrStorageBudget)
		}
	}
	return uint64(used), nil
}

// ProgBytes is the bytes all programs store together. A store written
// before the total was kept has it summed from prog_usage once.
func (t *Tx) ProgBytes() (uint64, error) {
	if raw := t.bucket(bucketMeta).Get(keyProgBytes); raw != nil {
		if len(raw) != 8 {
			return 0, fmt.Errorf("program storage total is %d bytes, not 8: %w", len(raw), ErrCorrupt)
		}
		return binary.BigEndian.Uint64(raw), nil
	}
	var sum uint64
	if b := t.tx.Bucket(bucketProgUsage); b != nil {
		_ = b.ForEach(func(_, v []byte) error {
			if len(v) == 8 {
				sum += binary.BigEndian.Uint64(v)
			}
			return nil
		})
	}
	return sum, nil
}

// setProgUsage records code's usage (drop: removes its entry) and moves
// the total with it.
func (t *Tx) setProgUsage(usage *bolt.Bucket, code string, used uint64, drop bool) error {
	total, err := t.ProgBytes()
	if err != nil {
		return err
	}
	total = total - min(total, t.ProgUsage(code)) + used
	if drop {
		err = usage.Delete([]byte(code))
	} else {
		err = usage.Put([]byte(code), u64key(used))
	}
	if err != nil {
		return err
	}
	return t.bucket(bucketMeta).Put(keyProgBytes, u64key(total))
}

// MaxDropKeys bounds the keys one DropProgStorage deletes; a bigger
// program storage is dropped by several commands.
const MaxDropKeys = 10_000

// DropProgStorage deletes every key under the namespace prefixes (all of
// one program's storage: the daemon names them), at most limit keys (<= 0
// or above MaxDropKeys: MaxDropKeys). When nothing is left under them, the
// program's usage (code) is dropped from the totals; more says keys remain
// and the command must be proposed again. Dropping what is gone is a
// no-op, so the command is idempotent.
func (t *Tx) DropProgStorage(code string, prefixes [][]byte, limit int) (deleted int, more bool, err error) {
	if code == "" || len(prefixes) == 0 {
		return 0, false, badInput("drop program storage: no program or no namespace named")
	}
	for _, p := range prefixes {
		if len(p) == 0 {
			return 0, false, badInput("drop program storage of %q: an empty namespace prefix would name every program", code)
		}
	}
	if limit <= 0 || limit > MaxDropKeys {
		limit = MaxDropKeys
	}
	if kv := t.tx.Bucket(bucketProgKV); kv != nil {
		for _, p := range prefixes {
			// Collect first: deleting under a bbolt cursor skips keys.
			var keys [][]byte
			c := kv.Cursor()
			for k, _ := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, _ = c.Next() {
				if deleted+len(keys) == limit {
					more = true
					break
				}
				keys = append(keys, bytes.Clone(k))
			}
			for _, k := range keys {
				if err := kv.Delete(k); err != nil {
					return deleted, false, err
				}
			}
			deleted += len(keys)
			if more {
				return deleted, true, nil
			}
		}
	}
	if usage := t.tx.Bucket(bucketProgUsage); usage != nil && usage.Get([]byte(code)) != nil {
		if err := t.setProgUsage(usage, code, 0, true); err != nil {
			return deleted, false, err
		}
	}
	if projects := t.tx.Bucket(bucketProgProjects); projects != nil {
		if err := projects.Delete([]byte(code)); err != nil {
			return deleted, false, err
		}
	}
	return deleted, false, nil
}

// ApplyProgEffects checks e (CheckProgEffects) and applies its writes.
func (t *Tx) ApplyProgEffects(e *ProgEffects) error {
	if err := t.CheckProgEffects(e); err != nil {
		return err
	}
	used, err := t.progUsageAfter(e)
	if err != nil {
		return err
	}
	kv, err := t.tx.CreateBucketIfNotExists(bucketProgKV)
	if err != nil {
		return err
	}
	usage, err := t.tx.CreateBucketIfNotExists(bucketProgUsage)
	if err != nil {
		return err
	}
	for _, w := range e.Writes {
		if w.Delete {
			err = kv.Delete(progKey(w.NS, w.Key))
		} else {
			err = kv.Put(progKey(w.NS, w.Key), w.Value)
		}
		if err != nil {
			return err
		}
	}
	if e.Project != "" && len(e.Writes) > 0 {
		projects, err := t.tx.CreateBucketIfNotExists(bucketProgProjects)
		if err != nil {
			return err
		}
		if !bytes.Equal(projects.Get([]byte(e.Code)), []byte(e.Project)) {
			if err := projects.Put([]byte(e.Code), []byte(e.Project)); err != nil {
				return err
			}
		}
	}
	return t.setProgUsage(usage, e.Code, used, false)
}

// ProgProjects maps the code identity of every project that has stored
// something to its project id.
func (t *Tx) ProgProjects() map[string]string {
	out := map[string]string{}
	if b := t.tx.Bucket(bucketProgProjects); b != nil {
		_ = b.ForEach(func(k, v []byte) error { out[string(k)] = string(v); return nil })
	}
	return out
}

// ProgProjects is Tx.ProgProjects in its own read transaction.
func (s *Store) ProgProjects() (m map[string]string, err error) {
	err = s.View(func(tx *Tx) error { m = tx.ProgProjects(); return nil })
	return m, err
}

// PutRecord keeps a run's record with its request.
func (t *Tx) PutRecord(id uint64, record []byte) error {
	if len(record) > MaxRecordBytes {
		return badInput("the run record of request %d is %d bytes, above the cap of %d", id, len(record), MaxRecordBytes)
	}
	b, err := t.tx.CreateBucketIfNotExists(bucketRecords)
	if err != nil {
		return err
	}
	return b.Put(u64key(id), record)
}

// Record returns the run record kept with request id.
func (t *Tx) Record(id uint64) ([]byte, bool) {
	b := t.tx.Bucket(bucketRecords)
	if b == nil {
		return nil, false
	}
	v := b.Get(u64key(id))
	if v == nil {
		return nil, false
	}
	return bytes.Clone(v), true
}

// PendingEffects returns the storage effects kept for request id until
// its executors agree.
func (t *Tx) PendingEffects(id uint64) (*ProgEffects, error) {
	b := t.tx.Bucket(bucketPending)
	if b == nil {
		return nil, nil
	}
	v := b.Get(u64key(id))
	if v == nil {
		return nil, nil
	}
	var e ProgEffects
	if err := json.Unmarshal(v, &e); err != nil {
		return nil, fmt.Errorf("pending storage effects of request %d: %v: %w", id, err, ErrCorrupt)
	}
	return &e, nil
}

// PutPendingEffects keeps e for request id until its executors agree.
func (t *Tx) PutPendingEffects(id uint64, e *ProgEffects) error {
	raw, err := json.Marshal(e)
	if err != nil {
		return err
	}
	b, err := t.tx.CreateBucketIfNotExists(bucketPending)
	if err != nil {
		return err
	}
	return b.Put(u64key(id), raw)
}

// DeletePendingEffects drops request id's pending effects.
func (t *Tx) DeletePendingEffects(id uint64) error {
	if b := t.tx.Bucket(bucketPending); b != nil {
		return b.Delete(u64key(id))
	}
	return nil
}

// ProgBytes is Tx.ProgBytes in its own read transaction.
func (s *Store) ProgBytes() (n uint64, err error) {
	err = s.View(func(tx *Tx) error { n, err = tx.ProgBytes(); return err })
	return n, err
}

// ProgGet reads one program storage value from the replica.
func (s *Store) ProgGet(ns, key []byte) (v []byte, ok bool, err error) {
	err = s.View(func(tx *Tx) error { v, ok = tx.ProgGet(ns, key); return nil })
	return v, ok, err
}

// ProgList lists program storage keys from the replica (Tx.ProgList).
func (s *Store) ProgList(ns, prefix, after []byte, limit int) (keys [][]byte, err error) {
	err = s.View(func(tx *Tx) error { keys = tx.ProgList(ns, prefix, after, limit); return nil })
	return keys, err
}

// Record returns the run record of request id from the replica.
func (s *Store) Record(id uint64) (rec []byte, ok bool, err error) {
	err = s.View(func(tx *Tx) error { rec, ok = tx.Record(id); return nil })
	return rec, ok, err
}
