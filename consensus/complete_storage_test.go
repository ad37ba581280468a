package consensus

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/outlayer/outlayer/store"
)

// Complete applies a run's storage writes and keeps its record only with
// an accepted, successful result, and only if the run's reads still hold.
func TestCompleteAppliesStorageOnlyForAnAcceptedSuccess(t *testing.T) {
	s, err := store.Open(filepath.Join(t.TempDir(), "state.db"), store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Unix(1_700_000_000, 0).UTC()
	apply := func(c Command) (Result, error) {
		var r Result
		err := s.Update(func(tx *store.Tx) error {
			var err error
			r, err = c.apply(tx, now)
			return err
		})
		return r, err
	}
	for id := uint64(1); id <= 3; id++ {
		req := store.Request{ID: id, Sender: "alice.near", Deposit: "1", DataID: fmt.Sprintf("%064x", id),
			Code: store.CodeSource{Wasm: &store.WasmSource{URL: "https://x/p.wasm", Hash: "ab"}}}
		if _, err := apply(&Enqueue{Requests: []store.Request{req}}); err != nil {
			t.Fatal(err)
		}
		if _, err := apply(&Assign{ID: id, Node: "n1", LeaseUntil: now.Add(time.Minute)}); err != nil {
			t.Fatal(err)
		}
	}
	ns := []byte("w\x00code\x00")
	write := func(v string) *store.ProgEffects {
		return &store.ProgEffects{Code: "code", Reads: []store.ProgRead{{NS: ns, Key: []byte("k")}},
			Writes: []store.ProgWrite{{NS: ns, Key: []byte("k"), Value: []byte(v)}}}
	}
	// A failed run's writes are ignored; its result is still accepted.
	if _, err := apply(&Complete{ID: 1, Node: "n1", Result: store.Result{Success: false, Error: "boom"}, Storage: write("failed")}); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.ProgGet(ns, []byte("k")); ok {
		t.Fatal("a failed run's write applied")
	}
	// A successful run applies its writes and keeps its record.
	r, err := apply(&Complete{ID: 2, Node: "n1", Result: store.Result{Success: true}, Storage: write("v2"), Record: []byte("rec")})
	if err != nil || r.Completed != store.Accepted {
		t.Fatalf("complete: %v %v", r.Completed, err)
	}
	if v, _, _ := s.ProgGet(ns, []byte("k")); string(v) != "v2" {
		t.Fatalf("k = %q", v)
	}
	if rec, ok, _ := s.Record(2); !ok || string(rec) != "rec" {
		t.Fatal("the record was not kept")
	}
	// A run that read k as absent conflicts now: nothing changes, the
	// request stays assigned so the node can run it again.
	_, err = apply(&Complete{ID: 3, Node: "n1", Result: store.Result{Success: true}, Storage: write("v3"), Record: []byte("rec3")})
	if !errors.Is(err, store.ErrStorageConflict) {
		t.Fatalf("stale run: %v", err)
	}
	job, _ := s.Get(3)
	if job.Status != store.StatusAssigned {
		t.Fatalf("after a conflict the request is %s", job.Status)
	}
	if _, ok, _ := s.Record(3); ok {
		t.Fatal("a refused run's record was kept")
	}
	// A duplicate report applies nothing twice.
	r, err = apply(&Complete{ID: 2, Node: "n1", Result: store.Result{Success: true}, Storage: &store.ProgEffects{Code: "code",
		Writes: []store.ProgWrite{{NS: ns, Key: []byte("k"), Value: []byte("again")}}}})
	if err != nil || r.Completed != store.Duplicate {
		t.Fatalf("duplicate: %v %v", r.Completed, err)
	}
	if v, _, _ := s.ProgGet(ns, []byte("k")); string(v) != "v2" {
		t.Fatalf("a duplicate report wrote k = %q", v)
	}
}
