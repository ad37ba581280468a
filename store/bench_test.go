package store

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkEnqueue measures committed enqueues per second on a real file
// with fsync on: one request per transaction, and batches of 64 or 256 in
// one transaction (what a Raft BatchingFSM hands the store).
func BenchmarkEnqueue(b *testing.B) {
	for _, c := range []struct {
		batch  int
		noSync bool
	}{{1, false}, {64, false}, {256, false}, {1, true}, {256, true}} {
		batch := c.batch
		name := fmt.Sprintf("fsync/batch=%d", batch)
		if c.noSync {
			name = fmt.Sprintf("nosync/batch=%d", batch)
		}
		b.Run(name, func(b *testing.B) {
			s := openTempWith(b, Options{NoSync: c.noSync})
			reqs := make([]Request, batch)
			b.ReportAllocs()
			b.ResetTimer()
			id := uint64(0)
			for i := 0; i < b.N; i += batch {
				n := min(batch, b.N-i)
				for j := 0; j < n; j++ {
					reqs[j] = sampleRequest(id)
					id++
				}
				c := Cursor{Height: id, Hash: "h"}
				if err := s.Update(func(tx *Tx) error {
					for j := 0; j < n; j++ {
						if _, err := tx.Enqueue(reqs[j], &c, t0); err != nil {
							return err
						}
					}
					return nil
				}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "enqueues/s")
		})
	}
}

// BenchmarkLifecycle is one request's full life (enqueue, assign, complete,
// resolve), one command per transaction with fsync on.
func BenchmarkLifecycle(b *testing.B) {
	s := openTemp(b)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		id := uint64(i)
		if _, err := s.Enqueue(sampleRequest(id), nil, t0); err != nil {
			b.Fatal(err)
		}
		if _, err := s.Assign(id, "nodeA", t0.Add(time.Minute), t0); err != nil {
			b.Fatal(err)
		}
		if _, err := s.Complete(id, "nodeA", okResult("42"), t0.Add(time.Second)); err != nil {
			b.Fatal(err)
		}
		if _, err := s.MarkResolved(id, "tx", t0.Add(2*time.Second)); err != nil {
			b.Fatal(err)
		}
	}
}

// fill100k makes a store holding 100,000 requests: 60% resolved with a
// result, 20% assigned, 20% queued.
func fill100k(b *testing.B) *Store {
	b.Helper()
	s := openTempWith(b, Options{NoSync: true})
	const n, batch = 100_000, 1000
	for start := 0; start < n; start += batch {
		err := s.Update(func(tx *Tx) error {
			for id := uint64(start); id < uint64(start+batch); id++ {
				if _, err := tx.Enqueue(sampleRequest(id), cursorAt(id), t0); err != nil {
					return err
				}
				switch id % 5 {
				case 0, 1, 2:
					tx.Assign(id, "nodeA", t0.Add(time.Minute), t0)
					tx.Complete(id, "nodeA", okResult(`{"answer":42,"padding":"0123456789abcdef0123456789abcdef"}`), t0.Add(time.Second))
					if _, err := tx.MarkResolved(id, "resolvetx", t0.Add(2*time.Second)); err != nil {
						return err
					}
				case 3:
					tx.Assign(id, "nodeB", t0.Add(time.Minute), t0)
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	return s
}

// BenchmarkSnapshotRestore100k streams a 100k-request store to a file, and
// restores that file into another store including the full verification
// (page check, every record decoded, every blob re-hashed). The store is
// built once for both.
func BenchmarkSnapshotRestore100k(b *testing.B) {
	src := fill100k(b)
	snap := filepath.Join(b.TempDir(), "snap")
	f, err := os.Create(snap)
	if err != nil {
		b.Fatal(err)
	}
	if err := src.Snapshot(f); err != nil {
		b.Fatal(err)
	}
	f.Close()
	b.Run("snapshot", func(b *testing.B) {
		var size int64
		for i := 0; i < b.N; i++ {
			f, err := os.Create(snap)
			if err != nil {
				b.Fatal(err)
			}
			if err := src.Snapshot(f); err != nil {
				b.Fatal(err)
			}
			size, _ = f.Seek(0, io.SeekCurrent)
			if err := f.Close(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(size)/(1<<20), "MiB")
	})
	for _, noSync := range []bool{false, true} {
		name := "restore/fsync"
		if noSync {
			name = "restore/nosync"
		}
		b.Run(name, func(b *testing.B) {
			dst := openTempWith(b, Options{NoSync: noSync})
			for i := 0; i < b.N; i++ {
				f, err := os.Open(snap)
				if err != nil {
					b.Fatal(err)
				}
				if err := dst.Restore(f); err != nil {
					b.Fatal(err)
				}
				f.Close()
			}
			b.StopTimer()
			var a, c bytes.Buffer
			src.Dump(&a)
			dst.Dump(&c)
			if !bytes.Equal(a.Bytes(), c.Bytes()) {
				b.Fatal("restored store differs from the original")
			}
		})
	}
}

// BenchmarkBlobRead reads a 2 MiB WASM blob through Store.Blob: with the
// ristretto cache (after the first read) and straight from bbolt (cache
// disabled; every read copies the bytes out of the mmap).
func BenchmarkBlobRead(b *testing.B) {
	for _, cached := range []bool{true, false} {
		name := "bbolt"
		opts := Options{BlobCacheBytes: -1}
		if cached {
			name, opts = "ristretto", Options{}
		}
		b.Run(name, func(b *testing.B) {
			s := openTempWith(b, opts)
			data, h := blob(2<<20, 7)
			if err := s.PutBlob(h, data, nil, t0); err != nil {
				b.Fatal(err)
			}
			if _, err := s.Blob(h); err != nil {
				b.Fatal(err)
			}
			if s.blobs != nil {
				s.blobs.Wait()
			}
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := s.Blob(h); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPrunePlan100k measures the leader's retention plan over 100k
// settled requests: all inside the window (the plan stops at the first
// one queued after the cut), and all past it (the plan reads its limit).
func BenchmarkPrunePlan100k(b *testing.B) {
	s := openFast(b)
	const n = 100_000
	for lo := uint64(0); lo < n; lo += 1000 {
		if err := s.Update(func(tx *Tx) error {
			for id := lo; id < lo+1000; id++ {
				if _, err := tx.Enqueue(sampleRequest(id), nil, t0); err != nil {
					return err
				}
				if _, err := tx.Fail(id, "x", t0); err != nil {
					return err
				}
				if _, err := tx.MarkResolved(id, "tx", t0); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}
	for _, c := range []struct {
		name string
		now  time.Time
		want int
	}{{"inside", t0.Add(time.Hour), 0}, {"past", t0.Add(48 * time.Hour), MaxPruneIDs}} {
		b.Run(c.name, func(b *testing.B) {
			for range b.N {
				ids, _, err := s.PrunePlan(Retention{Window: 24 * time.Hour}, c.now, 0)
				if err != nil || len(ids) != c.want {
					b.Fatalf("plan %d ids, %v", len(ids), err)
				}
			}
		})
	}
}
