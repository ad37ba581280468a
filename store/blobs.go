package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// MaxBlobSize bounds one WASM blob. Go wasip1 binaries are a few MiB; the
// bound keeps a hostile upload from growing the file (and every Raft entry
// and snapshot) without limit.
const MaxBlobSize = 128 << 20

func blobLRUKey(lastUsed time.Time, h BlobHash) []byte {
	return append(timeKey(lastUsed), h[:]...)
}

func sourceKey(s BlobSource) []byte { return compositeKey(nil, s.Repo, s.Commit, s.Target) }

// PutBlob stores a WASM blob under its sha256, which must equal want, and
// (when source is not nil) points the source index repo+commit+target at it.
// Storing a blob that is already present only adds the source and bumps its
// last use. A source that pointed at another blob (a rebuild, or a branch
// that moved) is re-pointed here.
func (t *Tx) PutBlob(want BlobHash, data []byte, source *BlobSource, now time.Time) error {
	if err := checkNow(now); err != nil {
		return err
	}
	if len(data) == 0 {
		return badInput("blob %s is empty", want)
	}
	if len(data) > MaxBlobSize {
		return badInput("blob %s is %d bytes; at most %d are allowed", want, len(data), MaxBlobSize)
	}
	if got := BlobHash(sha256.Sum256(data)); got != want {
		return badInput("blob content hashes to %s, not the claimed %s", got, want)
	}
	if source != nil {
		if err := source.validate(); err != nil {
			return fmt.Errorf("%w: %w", err, ErrBadInput)
		}
	}
	now = canonicalTime(now)

	info, err := t.BlobInfo(want)
	switch {
	case err == nil:
		if err := t.bucket(bucketBlobLRU).Delete(blobLRUKey(info.LastUsed, want)); err != nil {
			return err
		}
		if now.After(info.LastUsed) {
			info.LastUsed = now
		}
	case isNotFound(err):
		info = &BlobInfo{Hash: want, Size: uint64(len(data)), StoredAt: now, LastUsed: now}
		if err := t.bucket(bucketBlobs).Put(want[:], data); err != nil {
			return err
		}
		if err := t.addBlobBytes(int64(len(data))); err != nil {
			return err
		}
	default:
		return err
	}
	if source != nil {
		if err := t.pointSource(*source, want); err != nil {
			return err
		}
		info.Sources = sortedUnique(append(info.Sources, *source))
	}
	if err := t.bucket(bucketBlobLRU).Put(blobLRUKey(info.LastUsed, want), nil); err != nil {
		return err
	}
	return t.putBlobInfo(info)
}

// pointSource makes source name h, removing it from the blob it named before.
func (t *Tx) pointSource(source BlobSource, h BlobHash) error {
	key := sourceKey(source)
	if old := t.bucket(bucketBlobSource).Get(key); len(old) == len(h) && !bytes.Equal(old, h[:]) {
		var oldHash BlobHash
		copy(oldHash[:], old)
		if oldInfo, err := t.BlobInfo(oldHash); err == nil {
			oldInfo.Sources = slices.DeleteFunc(oldInfo.Sources, func(s BlobSource) bool { return s == source })
			if err := t.putBlobInfo(oldInfo); err != nil {
				return err
			}
		}
	}
	return t.bucket(bucketBlobSource).Put(key, h[:])
}

func (t *Tx) putBlobInfo(info *BlobInfo) error {
	raw, err := json.Marshal(info)
	if err != nil {
		return err
	}
	return t.bucket(bucketBlobInfo).Put(info.Hash[:], raw)
}

func (t *Tx) addBlobBytes(delta int64) error {
	total := int64(t.BlobBytes()) + delta
	if total < 0 {
		total = 0
	}
	return t.bucket(bucketMeta).Put(keyBlobBytes, u64key(uint64(total)))
}

// BlobBytes is the total size of all stored blobs.
func (t *Tx) BlobBytes() uint64 {
	raw := t.bucket(bucketMeta).Get(keyBlobBytes)
	if len(raw) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(raw)
}

// BlobInfo returns the accounting record of a blob, or ErrNotFound.
func (t *Tx) BlobInfo(h BlobHash) (*BlobInfo, error) {
	raw := t.bucket(bucketBlobInfo).Get(h[:])
	if raw == nil {
		return nil, fmt.Errorf("blob %s: %w", h, ErrNotFound)
	}
	var info BlobInfo
	if err := json.Unmarshal(raw, &info); err != nil {
		return nil, fmt.Errorf("decode blob record %s: %w", h, err)
	}
	info.Hash = h
	return &info, nil
}

// Blob returns a copy of the blob's bytes, or ErrNotFound. Store.Blob adds a
// cache in front of this.
func (t *Tx) Blob(h BlobHash) ([]byte, error) {
	v := t.bucket(bucketBlobs).Get(h[:])
	if v == nil {
		return nil, fmt.Errorf("blob %s: %w", h, ErrNotFound)
	}
	return bytes.Clone(v), nil
}

// BlobBySource returns the blob built from source; ok is false if none is
// stored.
func (t *Tx) BlobBySource(source BlobSource) (h BlobHash, ok bool) {
	v := t.bucket(bucketBlobSource).Get(sourceKey(source))
	if len(v) != len(h) {
		return h, false
	}
	copy(h[:], v)
	return h, true
}

// TouchBlob records a use of the blob at now, for LRU eviction. Last use
// only moves forward, so touches applied out of order are harmless.
func (t *Tx) TouchBlob(h BlobHash, now time.Time) error {
	if err := checkNow(now); err != nil {
		return err
	}
	now = canonicalTime(now)
	info, err := t.BlobInfo(h)
	if err != nil {
		return err
	}
	if !now.After(info.LastUsed) {
		return nil
	}
	if err := t.bucket(bucketBlobLRU).Delete(blobLRUKey(info.LastUsed, h)); err != nil {
		return err
	}
	info.LastUsed = now
	if err := t.bucket(bucketBlobLRU).Put(blobLRUKey(now, h), nil); err != nil {
		return err
	}
	return t.putBlobInfo(info)
}

// Blobs lists the accounting records of all blobs, least recently used first.
func (t *Tx) Blobs() ([]*BlobInfo, error) {
	var out []*BlobInfo
	c := t.bucket(bucketBlobLRU).Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		var h BlobHash
		copy(h[:], k[8:])
		info, err := t.BlobInfo(h)
		if err != nil {
			return nil, fmt.Errorf("LRU index names blob %s: %w", h, err)
		}
		out = append(out, info)
	}
	return out, nil
}

// EvictionPlan returns the blobs to evict, least recently used first (ties
// broken by hash), so that the rest fit in budget bytes. Blobs in keep are
// never chosen (e.g. the ones queued or running requests need); if the plan
// cannot reach the budget without them it evicts everything else. The plan
// is read-only: the leader proposes it as EvictBlobs.
func (t *Tx) EvictionPlan(budget uint64, keep map[BlobHash]bool) ([]BlobHash, error) {
	total := t.BlobBytes()
	var plan []BlobHash
	c := t.bucket(bucketBlobLRU).Cursor()
	for k, _ := c.First(); k != nil && total > budget; k, _ = c.Next() {
		var h BlobHash
		copy(h[:], k[8:])
		if keep[h] {
			continue
		}
		info, err := t.BlobInfo(h)
		if err != nil {
			return nil, fmt.Errorf("LRU index names blob %s: %w", h, err)
		}
		plan = append(plan, h)
		total -= min(total, info.Size)
	}
	return plan, nil
}

// EvictBlobs deletes blobs with their source index entries and accounting.
// Hashes not stored are skipped, so applying a plan twice is harmless. It
// returns the bytes freed.
func (t *Tx) EvictBlobs(hashes []BlobHash) (freed uint64, err error) {
	// Look everything up before deleting anything, so an error changes nothing.
	var victims []*BlobInfo
	seen := make(map[BlobHash]bool, len(hashes))
	for _, h := range hashes {
		if seen[h] {
			continue
		}
		seen[h] = true
		info, err := t.BlobInfo(h)
		if isNotFound(err) {
			continue
		}
		if err != nil {
			return 0, err
		}
		victims = append(victims, info)
	}
	for _, info := range victims {
		h := info.Hash
		for _, src := range info.Sources {
			key := sourceKey(src)
			if bytes.Equal(t.bucket(bucketBlobSource).Get(key), h[:]) {
				if err := t.bucket(bucketBlobSource).Delete(key); err != nil {
					return 0, err
				}
			}
		}
		if err := t.bucket(bucketBlobLRU).Delete(blobLRUKey(info.LastUsed, h)); err != nil {
			return 0, err
		}
		if err := t.bucket(bucketBlobInfo).Delete(h[:]); err != nil {
			return 0, err
		}
		if err := t.bucket(bucketBlobs).Delete(h[:]); err != nil {
			return 0, err
		}
		if err := t.addBlobBytes(-int64(info.Size)); err != nil {
			return 0, err
		}
		freed += info.Size
		t.evicted = append(t.evicted, h)
	}
	return freed, nil
}
