package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/dgraph-io/ristretto/v2"
	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// SchemaVersion is the layout this code reads and writes. A file with a newer
// version is refused; older versions are migrated on open (none exist yet).
const SchemaVersion = 1

// Errors callers can test for with errors.Is. Every error returned by the
// store wraps one of these or says in words what was wrong with the input.
var (
	// ErrNotFound: no such request, blob, node or keystore entry.
	ErrNotFound = errors.New("not found")
	// ErrInvalidTransition: the operation is not allowed in the request's
	// current status (see the table in DESIGN.md).
	ErrInvalidTransition = errors.New("invalid status transition")
	// ErrNotHolder: a node reported a result for a request it never held.
	ErrNotHolder = errors.New("node never held a lease on this request")
	// ErrCursorRegression: a chain cursor that would move backwards.
	ErrCursorRegression = errors.New("chain cursor would move backwards")
	// ErrBadInput: an argument failed validation; nothing was changed.
	ErrBadInput = errors.New("invalid input")
	// ErrSchemaTooNew: the file was written by a newer outlayerd.
	ErrSchemaTooNew = errors.New("store schema is newer than this binary understands")
	// ErrCorrupt: the file or snapshot is not a valid store.
	ErrCorrupt = errors.New("not a valid outlayer store")
	// ErrInUse: another process (or Store) holds the file lock.
	ErrInUse = errors.New("store file is in use")
	// ErrClosed: the Store was closed.
	ErrClosed = errors.New("store is closed")
)

// Bucket names. Index buckets hold keys only (empty values).
var (
	bucketMeta       = []byte("meta")
	bucketRequests   = []byte("requests")     // id → Job
	bucketQueue      = []byte("idx_queue")    // id
	bucketLeases     = []byte("idx_lease")    // lease_until ns ‖ id
	bucketByNode     = []byte("idx_node")     // node ‖ 0 ‖ id   (current leases)
	bucketUnresolved = []byte("idx_resolve")  // id            (completed|failed)
	bucketBySender   = []byte("idx_sender")   // sender ‖ 0 ‖ id
	bucketBlobs      = []byte("blobs")        // hash → bytes
	bucketBlobInfo   = []byte("blob_info")    // hash → BlobInfo
	bucketBlobLRU    = []byte("idx_blob_lru") // last_used ns ‖ hash
	bucketBlobSource = []byte("idx_blob_src") // repo ‖ 0 ‖ commit ‖ 0 ‖ target → hash
	bucketNodes      = []byte("nodes")        // peer id → Node
	bucketKeystore   = []byte("keystore")     // name → sealed bytes
	bucketAgreement  = []byte("node_agree")   // peer id → NodeAgreement

	allBuckets = [][]byte{
		bucketMeta, bucketRequests, bucketQueue, bucketLeases, bucketByNode,
		bucketUnresolved, bucketBySender, bucketBlobs, bucketBlobInfo,
		bucketBlobLRU, bucketBlobSource, bucketNodes, bucketKeystore,
		bucketAgreement,
	}

	keySchema    = []byte("schema_version")
	keyCursor    = []byte("chain_cursor")
	keyBlobBytes = []byte("blob_bytes")
)

// Options tune Open. The zero value is usable.
type Options struct {
	// LockTimeout bounds the wait for the file lock; past it Open fails with
	// ErrInUse. Default 1s.
	LockTimeout time.Duration
	// NoSync skips fsync on commit. Only safe when the state can be rebuilt
	// from elsewhere (a Raft FSM restored from snapshot + log on restart).
	NoSync bool
	// BlobCacheBytes is the ristretto budget for blob reads. Default 256 MiB;
	// negative disables the cache.
	BlobCacheBytes int64
	// MmapSize is the initial size of bbolt's memory map. bbolt must wait
	// for every open read transaction before it can grow the map, and a Raft
	// snapshot holds one for as long as it streams; reserving address space
	// up front keeps writes from stalling behind a snapshot. It costs
	// virtual address space only. Default 1 GiB.
	MmapSize int
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Store is one node's replica of the cluster state in a bbolt file. It is
// safe for concurrent use: any number of readers run alongside one writer.
type Store struct {
	path string
	opts Options
	log  *slog.Logger

	// mu guards db: every operation holds it shared; Restore and Close hold
	// it exclusively while they swap or close the file.
	mu    sync.RWMutex
	db    *bolt.DB
	blobs *ristretto.Cache[string, []byte] // nil when disabled
}

// Open opens (creating if needed) the store at path.
func Open(path string, opts Options) (*Store, error) {
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = time.Second
	}
	if opts.BlobCacheBytes == 0 {
		opts.BlobCacheBytes = 256 << 20
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.MmapSize <= 0 {
		opts.MmapSize = 1 << 30
	}
	s := &Store{path: path, opts: opts, log: opts.Logger.With("component", "store")}
	if opts.BlobCacheBytes > 0 {
		c, err := ristretto.NewCache(&ristretto.Config[string, []byte]{
			NumCounters: 10_000, // ~10x the number of blobs we expect to keep hot
			MaxCost:     opts.BlobCacheBytes,
			BufferItems: 64,
		})
		if err != nil {
			return nil, fmt.Errorf("store: create blob cache: %w", err)
		}
		s.blobs = c
	}
	db, err := openBolt(path, opts)
	if err != nil {
		s.closeCache()
		return nil, err
	}
	s.db = db
	return s, nil
}

// openBolt opens the file, checks it is a compatible store and creates any
// missing buckets.
func openBolt(path string, opts Options) (db *bolt.DB, err error) {
	// bbolt panics on some damaged pages; a damaged file is an error here.
	defer func() {
		if r := recover(); r != nil {
			if db != nil {
				db.Close()
			}
			db, err = nil, fmt.Errorf("store: open %s: the file is damaged (bbolt: %v): %w", path, r, ErrCorrupt)
		}
	}()
	db, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: opts.LockTimeout, NoSync: opts.NoSync, InitialMmapSize: opts.MmapSize})
	if err != nil {
		switch {
		case errors.Is(err, bolterrors.ErrTimeout):
			return nil, fmt.Errorf("store: open %s: another process or store holds its lock (waited %s): %w", path, opts.LockTimeout, ErrInUse)
		case errors.Is(err, bolterrors.ErrInvalid), errors.Is(err, bolterrors.ErrVersionMismatch),
			errors.Is(err, bolterrors.ErrChecksum), errors.Is(err, bolterrors.ErrInvalidMapping):
			return nil, fmt.Errorf("store: open %s: the file is not a bbolt database or is damaged (%v): %w", path, err, ErrCorrupt)
		}
		// bbolt reports short or unreadable files with plain errors.
		if fi, statErr := os.Stat(path); statErr == nil && fi.Mode().IsRegular() {
			return nil, fmt.Errorf("store: open %s: the file is not a bbolt database or is damaged (%v): %w", path, err, ErrCorrupt)
		}
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	if err := db.Update(initSchema); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	return db, nil
}

func initSchema(tx *bolt.Tx) error {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		// A new file has no buckets at all; anything else is someone else's
		// bbolt file and must not be written to.
		var foreign []string
		_ = tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
			foreign = append(foreign, string(name))
			return nil
		})
		if len(foreign) > 0 {
			return fmt.Errorf("bbolt file has buckets %q but no outlayer schema version: %w", foreign, ErrCorrupt)
		}
		var err error
		if meta, err = tx.CreateBucket(bucketMeta); err != nil {
			return err
		}
		if err := meta.Put(keySchema, u64key(SchemaVersion)); err != nil {
			return err
		}
	}
	v, err := schemaOf(meta)
	if err != nil {
		return err
	}
	if v > SchemaVersion {
		return fmt.Errorf("file has schema version %d, this binary supports up to %d; upgrade outlayerd: %w", v, SchemaVersion, ErrSchemaTooNew)
	}
	if v < 1 {
		return fmt.Errorf("file has unknown schema version %d: %w", v, ErrCorrupt)
	}
	for _, b := range append(allBuckets[:len(allBuckets):len(allBuckets)], callBuckets...) {
		if _, err := tx.CreateBucketIfNotExists(b); err != nil {
			return fmt.Errorf("create bucket %s: %w", b, err)
		}
	}
	return nil
}

func schemaOf(meta *bolt.Bucket) (uint64, error) {
	raw := meta.Get(keySchema)
	if len(raw) != 8 {
		return 0, fmt.Errorf("schema version record is missing or malformed: %w", ErrCorrupt)
	}
	return binary.BigEndian.Uint64(raw), nil
}

// Path is the file the store lives in.
func (s *Store) Path() string { return s.path }

// Close closes the file. Further calls fail with ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db == nil {
		return nil
	}
	err := s.db.Close()
	s.db = nil
	s.closeCache()
	if err != nil {
		return fmt.Errorf("store: close %s: %w", s.path, err)
	}
	return nil
}

func (s *Store) closeCache() {
	if s.blobs != nil {
		s.blobs.Close()
		s.blobs = nil
	}
}

// Update runs fn in one read-write bbolt transaction. Use it to apply several
// operations atomically or to amortise one fsync over a batch (a Raft
// BatchingFSM). If fn returns an error, nothing fn did is kept.
//
// Each Tx method checks everything before it writes, so an operation that
// returns an error has changed nothing even when fn goes on with other
// operations and returns nil.
func (s *Store) Update(fn func(tx *Tx) error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.db == nil {
		return ErrClosed
	}
	t := &Tx{}
	err := s.db.Update(func(btx *bolt.Tx) error {
		t.tx = btx
		if err := fn(t); err != nil {
			return err
		}
		return t.flushCounts()
	})
	t.tx = nil
	if err == nil && s.blobs != nil {
		for _, h := range t.evicted {
			s.blobs.Del(string(h[:]))
		}
	}
	return err
}

// View runs fn in a read-only transaction: a consistent snapshot that does not
// block writers. Calling a write method on the Tx fails.
func (s *Store) View(fn func(tx *Tx) error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.db == nil {
		return ErrClosed
	}
	return s.db.View(func(btx *bolt.Tx) error {
		return fn(&Tx{tx: btx})
	})
}

// Snapshot streams a consistent copy of the whole store (a bbolt file) to w.
// Writers are not blocked while it runs.
func (s *Store) Snapshot(w io.Writer) error { return s.SnapshotPinned(w, nil) }

// SnapshotPinned is Snapshot that calls pinned (when not nil) as soon as
// its read transaction is open: from then on the copy's content is fixed,
// whatever is written meanwhile.
//
// bbolt never gives pages back to the file system: once retention or
// eviction has freed much of the file, a page-for-page copy would carry
// the free pages along. When at least a quarter of the file is free, the
// snapshot is instead a compacted copy (every bucket rewritten into a
// fresh file next to the store, then streamed), so snapshots — and the
// files of nodes that restore them — shrink with the state.
func (s *Store) SnapshotPinned(w io.Writer, pinned func()) error {
	return s.View(func(tx *Tx) error {
		if pinned != nil {
			pinned()
		}
		size := tx.tx.Size()
		if free := int64(tx.tx.DB().Stats().FreeAlloc); size >= 1<<20 && free >= size/4 {
			return s.writeCompacted(tx.tx, w)
		}
		if _, err := tx.tx.WriteTo(w); err != nil {
			return fmt.Errorf("store: write snapshot: %w", err)
		}
		return nil
	})
}

// writeCompacted copies every bucket of src into a new bbolt file with
// full pages (keys arrive in order) and streams that file to w.
func (s *Store) writeCompacted(src *bolt.Tx, w io.Writer) error {
	f, err := os.CreateTemp(filepath.Dir(s.path), filepath.Base(s.path)+".compact-*")
	if err != nil {
		return fmt.Errorf("store: compact snapshot: %w", err)
	}
	tmp := f.Name()
	f.Close()
	defer os.Remove(tmp)
	dst, err := bolt.Open(tmp, 0o600, &bolt.Options{NoSync: true, NoFreelistSync: true, Timeout: s.opts.LockTimeout})
	if err != nil {
		return fmt.Errorf("store: compact snapshot: %w", err)
	}
	if err := copyBuckets(src, dst); err != nil {
		dst.Close()
		return fmt.Errorf("store: compact snapshot: %w", err)
	}
	if err := dst.Close(); err != nil {
		return fmt.Errorf("store: compact snapshot: %w", err)
	}
	in, err := os.Open(tmp)
	if err != nil {
		return fmt.Errorf("store: compact snapshot: %w", err)
	}
	defer in.Close()
	if _, err := io.Copy(w, in); err != nil {
		return fmt.Errorf("store: write snapshot: %w", err)
	}
	return nil
}

// copyBuckets writes src's buckets into dst, committing every ~32 MiB so
// no single transaction holds the whole state in memory.
func copyBuckets(src *bolt.Tx, dst *bolt.DB) error {
	const txBytes = 32 << 20
	return src.ForEach(func(name []byte, b *bolt.Bucket) error {
		c := b.Cursor()
		k, v := c.First()
		for first := true; first || k != nil; first = false {
			err := dst.Update(func(tx *bolt.Tx) error {
				out, err := tx.CreateBucketIfNotExists(name)
				if err != nil {
					return err
				}
				out.FillPercent = 1.0
				for n := 0; k != nil && n < txBytes; k, v = c.Next() {
					if v == nil {
						return fmt.Errorf("bucket %s holds a nested bucket %q, which the store never writes", name, k)
					}
					if err := out.Put(k, v); err != nil {
						return err
					}
					n += len(k) + len(v)
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// Restore replaces the whole store with a snapshot read from r. The snapshot
// is streamed to a temporary file next to the store, checked (it must be a
// sound bbolt file with a compatible schema) and only then swapped in. A bad
// snapshot returns an error wrapping ErrCorrupt or ErrSchemaTooNew and leaves
// the current state untouched.
func (s *Store) Restore(r io.Reader) error {
	tmp, err := os.CreateTemp(filepath.Dir(s.path), filepath.Base(s.path)+".restore-*")
	if err != nil {
		return fmt.Errorf("store: restore: create temporary file: %w", err)
	}
	tmpPath := tmp.Name()
	keep := false
	defer func() {
		if !keep {
			os.Remove(tmpPath)
		}
	}()
	if _, err := io.Copy(tmp, r); err != nil {
		tmp.Close()
		return fmt.Errorf("store: restore: read snapshot: %w", err)
	}
	if n, err := tmp.Seek(0, io.SeekCurrent); err == nil && n == 0 {
		tmp.Close()
		return fmt.Errorf("store: restore: snapshot refused, current state kept: the snapshot is empty: %w", ErrCorrupt)
	}
	// With NoSync the file need not survive a crash anyway (it is rebuilt),
	// so the restore skips the fsyncs too.
	if !s.opts.NoSync {
		if err := tmp.Sync(); err != nil {
			tmp.Close()
			return fmt.Errorf("store: restore: sync %s: %w", tmpPath, err)
		}
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("store: restore: close %s: %w", tmpPath, err)
	}
	if err := verifyFile(tmpPath, s.opts); err != nil {
		return fmt.Errorf("store: restore: snapshot refused, current state kept: %w", err)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db == nil {
		return ErrClosed
	}
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("store: restore: close current file: %w", err)
	}
	s.db = nil
	if err := os.Rename(tmpPath, s.path); err != nil {
		// The old file is still in place; reopen it.
		db, openErr := openBolt(s.path, s.opts)
		if openErr != nil {
			return fmt.Errorf("store: restore: swap failed (%v) and reopening the old file failed: %w", err, openErr)
		}
		s.db = db
		return fmt.Errorf("store: restore: move snapshot into place: %w", err)
	}
	keep = true
	if s.opts.NoSync {
		// Nothing to make durable.
	} else if err := syncDir(filepath.Dir(s.path)); err != nil {
		s.log.Warn("restore: could not sync directory after swap", "dir", filepath.Dir(s.path), "err", err)
	}
	db, err := openBolt(s.path, s.opts)
	if err != nil {
		return fmt.Errorf("store: restore: reopen restored file: %w", err)
	}
	s.db = db
	if s.blobs != nil {
		s.blobs.Clear()
	}
	return nil
}

// verifyFile opens a candidate file read-only, checks its schema, runs
// bbolt's page-level consistency check and decodes every record. bbolt
// panics on some damaged pages, so panics are turned into ErrCorrupt.
func verifyFile(path string, opts Options) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("the snapshot is damaged (bbolt: %v): %w", r, ErrCorrupt)
		}
	}()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: opts.LockTimeout, ReadOnly: true})
	if err != nil {
		return fmt.Errorf("the snapshot is not a bbolt database (%v): %w", err, ErrCorrupt)
	}
	defer db.Close()
	return db.View(func(tx *bolt.Tx) error {
		// A truncated file whose meta pages survived names pages past its
		// end; touching them through the mmap is a SIGBUS, which no recover
		// catches, so the length is checked before any page is read.
		fi, err := os.Stat(path)
		if err != nil {
			return fmt.Errorf("inspect the snapshot file: %w", err)
		}
		if fi.Size() < tx.Size() {
			return fmt.Errorf("the snapshot is truncated: %d bytes, its meta page says %d: %w", fi.Size(), tx.Size(), ErrCorrupt)
		}
		// Structure first: reading buckets from a damaged file can panic.
		for cerr := range tx.Check() {
			// Drain the channel so the checker goroutine ends; report the first.
			if err == nil {
				err = fmt.Errorf("the snapshot fails bbolt's consistency check (%v): %w", cerr, ErrCorrupt)
			}
		}
		if err != nil {
			return err
		}
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			return fmt.Errorf("the snapshot has no outlayer schema version: %w", ErrCorrupt)
		}
		v, err := schemaOf(meta)
		if err != nil {
			return err
		}
		if v > SchemaVersion {
			return fmt.Errorf("the snapshot has schema version %d, this binary supports up to %d: %w", v, SchemaVersion, ErrSchemaTooNew)
		}
		if err := checkContent(tx); err != nil {
			return fmt.Errorf("the snapshot's content is damaged: %v: %w", err, ErrCorrupt)
		}
		return nil
	})
}

// checkContent decodes every record and re-hashes every blob. bbolt
// checksums only its meta pages, so this is what catches a damaged value.
func checkContent(tx *bolt.Tx) error {
	for _, name := range allBuckets {
		if tx.Bucket(name) == nil {
			return fmt.Errorf("bucket %s is missing", name)
		}
	}
	if err := tx.Bucket(bucketRequests).ForEach(func(k, v []byte) error {
		// Decoding only the id still scans (and so validates) the whole
		// value, at a third of the cost of decoding a full Job.
		var j struct {
			ID uint64 `json:"id"`
		}
		if len(k) != 8 {
			return fmt.Errorf("request key %x is not 8 bytes", k)
		}
		if err := json.Unmarshal(v, &j); err != nil {
			return fmt.Errorf("request %d: %w", binary.BigEndian.Uint64(k), err)
		}
		if j.ID != binary.BigEndian.Uint64(k) {
			return fmt.Errorf("request stored under %d says it is %d", binary.BigEndian.Uint64(k), j.ID)
		}
		return nil
	}); err != nil {
		return err
	}
	if err := tx.Bucket(bucketBlobs).ForEach(func(k, v []byte) error {
		if sum := sha256.Sum256(v); !bytes.Equal(sum[:], k) {
			return fmt.Errorf("blob %x does not hash to its key", k)
		}
		return nil
	}); err != nil {
		return err
	}
	for _, b := range []struct {
		name []byte
		into func() any
	}{
		{bucketBlobInfo, func() any { return new(BlobInfo) }},
		{bucketNodes, func() any { return new(Node) }},
		{bucketAgreement, func() any { return new(NodeAgreement) }},
	} {
		if err := tx.Bucket(b.name).ForEach(func(k, v []byte) error {
			if err := json.Unmarshal(v, b.into()); err != nil {
				return fmt.Errorf("%s record %q: %w", b.name, k, err)
			}
			return nil
		}); err != nil {
			return err
		}
	}
	return checkCallContent(tx)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Digest is a sha256 over the canonical content of every bucket (names, keys
// and values in order). Two replicas that applied the same operations have
// the same digest regardless of page layout.
func (s *Store) Digest() ([32]byte, error) {
	h := sha256.New()
	err := s.Dump(h)
	var d [32]byte
	copy(d[:], h.Sum(nil))
	return d, err
}

// Dump writes the canonical content of the store to w: for every bucket in
// name order, every key and value in key order, each length-prefixed. It is
// what Digest hashes; tests diff it.
func (s *Store) Dump(w io.Writer) error {
	return s.View(func(tx *Tx) error {
		return tx.tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			if err := writeChunk(w, 'B', name); err != nil {
				return err
			}
			return b.ForEach(func(k, v []byte) error {
				if err := writeChunk(w, 'K', k); err != nil {
					return err
				}
				return writeChunk(w, 'V', v)
			})
		})
	})
}

func writeChunk(w io.Writer, tag byte, b []byte) error {
	var hdr [9]byte
	hdr[0] = tag
	binary.BigEndian.PutUint64(hdr[1:], uint64(len(b)))
	if _, err := w.Write(hdr[:]); err != nil {
		return err
	}
	_, err := w.Write(b)
	return err
}

// u64key is a big-endian uint64: bbolt sorts keys bytewise, so ids sort
// numerically.
func u64key(v uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, v)
	return b
}

// timeKey is a time as big-endian nanoseconds since 1970, clamped at 0, so
// keys sort by time.
func timeKey(t time.Time) []byte {
	ns := t.UnixNano()
	if ns < 0 {
		ns = 0
	}
	return u64key(uint64(ns))
}

// compositeKey joins parts with a NUL separator (callers ensure parts have no
// NUL) and appends suffix.
func compositeKey(suffix []byte, parts ...string) []byte {
	var b bytes.Buffer
	for _, p := range parts {
		b.WriteString(p)
		b.WriteByte(0)
	}
	b.Write(suffix)
	return b.Bytes()
}
