package store

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"testing"
	"time"
)

func blob(n int, fill byte) ([]byte, BlobHash) {
	b := bytes.Repeat([]byte{fill}, n)
	return b, sha256.Sum256(b)
}

func TestBlobPutGetAndSourceIndex(t *testing.T) {
	s := openTemp(t)
	data, h := blob(1000, 1)
	src := BlobSource{Repo: "https://github.com/x/y", Commit: "abc", Target: "wasm32-wasip1"}
	if err := s.PutBlob(h, data, &src, t0); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ { // first read from bbolt, then from the cache
		got, err := s.Blob(h)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("read %d: %v", i, err)
		}
	}
	if got, ok, _ := s.BlobBySource(src); !ok || got != h {
		t.Fatalf("source index: %v %v", got, ok)
	}
	if n, _ := s.BlobBytes(); n != 1000 {
		t.Fatalf("blob bytes %d", n)
	}
	// Idempotent: same blob again adds nothing.
	if err := s.PutBlob(h, data, &src, t0); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.BlobBytes(); n != 1000 {
		t.Fatalf("blob bytes after re-put %d", n)
	}
	info, _ := s.BlobInfo(h)
	if len(info.Sources) != 1 || info.Size != 1000 {
		t.Fatalf("info %+v", info)
	}

	// A rebuild of the same source with other bytes moves the index.
	data2, h2 := blob(500, 2)
	if err := s.PutBlob(h2, data2, &src, t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := s.BlobBySource(src); got != h2 {
		t.Fatal("source not re-pointed to the rebuild")
	}
	if info, _ := s.BlobInfo(h); len(info.Sources) != 0 {
		t.Fatalf("old blob still claims the source: %+v", info.Sources)
	}
	if n, _ := s.BlobBytes(); n != 1500 {
		t.Fatalf("blob bytes %d", n)
	}
}

func TestBlobRefusals(t *testing.T) {
	s := openTemp(t)
	data, h := blob(10, 1)
	_, other := blob(10, 2)
	if err := s.PutBlob(other, data, nil, t0); !errors.Is(err, ErrBadInput) {
		t.Fatalf("hash mismatch: %v", err)
	}
	if err := s.PutBlob(sha256.Sum256(nil), nil, nil, t0); !errors.Is(err, ErrBadInput) {
		t.Fatalf("empty blob: %v", err)
	}
	if err := s.PutBlob(h, data, &BlobSource{Repo: "r"}, t0); !errors.Is(err, ErrBadInput) {
		t.Fatalf("incomplete source: %v", err)
	}
	if _, err := s.Blob(h); !errors.Is(err, ErrNotFound) {
		t.Fatalf("refused blob was stored: %v", err)
	}
	if err := s.TouchBlob(h, t0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("touch missing: %v", err)
	}
	if _, err := ParseBlobHash("xyz"); err == nil {
		t.Fatal("bad hex accepted")
	}
	if p, err := ParseBlobHash(h.String()); err != nil || p != h {
		t.Fatalf("round trip: %v", err)
	}
}

func TestEvictionPlanUnderBudget(t *testing.T) {
	s := openTemp(t)
	// Five blobs of 100..500 bytes, used at t0+0..4s.
	var hashes []BlobHash
	for i := 0; i < 5; i++ {
		data, h := blob(100*(i+1), byte(i))
		src := BlobSource{Repo: "r", Commit: fmt.Sprint(i), Target: "wasm32-wasip1"}
		if err := s.PutBlob(h, data, &src, t0.Add(time.Duration(i)*time.Second)); err != nil {
			t.Fatal(err)
		}
		hashes = append(hashes, h)
	}
	// Total 1500. Touch the oldest (100 bytes) so it becomes the newest.
	if err := s.TouchBlob(hashes[0], t0.Add(10*time.Second)); err != nil {
		t.Fatal(err)
	}
	// A touch with an older time does not move it back.
	if err := s.TouchBlob(hashes[0], t0); err != nil {
		t.Fatal(err)
	}
	if plan, _ := s.EvictionPlan(1500, nil); len(plan) != 0 {
		t.Fatalf("within budget, plan %v", plan)
	}
	// Budget 1000: evict LRU order 200 (h1), 300 (h2) → 1000 left.
	plan, err := s.EvictionPlan(1000, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan) != 2 || plan[0] != hashes[1] || plan[1] != hashes[2] {
		t.Fatalf("plan %v, want [h1 h2]", plan)
	}
	// Keeping h1 (a queued request needs it) skips it: h2 (300) + h3 (400).
	plan, _ = s.EvictionPlan(1000, map[BlobHash]bool{hashes[1]: true})
	if len(plan) != 2 || plan[0] != hashes[2] || plan[1] != hashes[3] {
		t.Fatalf("plan with keep %v", plan)
	}
	// Prime the cache with a victim so eviction must drop it.
	if _, err := s.Blob(hashes[2]); err != nil {
		t.Fatal(err)
	}
	s.blobs.Wait()
	freed, err := s.EvictBlobs(plan)
	if err != nil || freed != 700 {
		t.Fatalf("evict: %d %v", freed, err)
	}
	if n, _ := s.BlobBytes(); n != 800 {
		t.Fatalf("bytes after eviction %d", n)
	}
	if _, err := s.Blob(hashes[2]); !errors.Is(err, ErrNotFound) {
		t.Fatalf("evicted blob still readable (cache not invalidated?): %v", err)
	}
	if _, ok, _ := s.BlobBySource(BlobSource{Repo: "r", Commit: "2", Target: "wasm32-wasip1"}); ok {
		t.Fatal("source index still points at an evicted blob")
	}
	// Applying the same plan again is harmless.
	if freed, err := s.EvictBlobs(plan); err != nil || freed != 0 {
		t.Fatalf("second evict: %d %v", freed, err)
	}
	var left []BlobHash
	s.View(func(tx *Tx) error {
		infos, err := tx.Blobs()
		for _, i := range infos {
			left = append(left, i.Hash)
		}
		return err
	})
	if len(left) != 3 || left[0] != hashes[1] || left[1] != hashes[4] || left[2] != hashes[0] {
		t.Fatalf("remaining LRU order %v", left)
	}
	if plan, _ := s.EvictionPlan(0, nil); len(plan) != 3 {
		t.Fatalf("budget 0 should evict everything: %v", plan)
	}
}
