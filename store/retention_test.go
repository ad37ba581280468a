package store

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func prune(t *testing.T, s *Store, ids []uint64, closedBefore, now time.Time) (PruneOutcome, error) {
	t.Helper()
	var out PruneOutcome
	err := s.Update(func(tx *Tx) (err error) { out, err = tx.PruneRequests(ids, closedBefore, now); return err })
	return out, err
}

func resolveAt(t *testing.T, s *Store, id uint64, at time.Time) {
	t.Helper()
	if _, err := s.Assign(id, "n1", at.Add(time.Minute), at); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Complete(id, "n1", okResult("ok"), at); err != nil {
		t.Fatal(err)
	}
	if _, err := s.MarkResolved(id, "tx", at); err != nil {
		t.Fatal(err)
	}
}

// Settled requests older than the window go with everything kept for
// them; nothing that is pending, unresolved, unsettled or recent goes,
// whatever a plan names; a pruned id is never enqueued again.
func TestPruneDropsOnlySettledRequests(t *testing.T) {
	s := openTemp(t)
	mustEnqueue(t, s, 1, 2, 3, 4, 5, 6, 7)
	old := t0.Add(time.Minute)
	resolveAt(t, s, 1, old)
	if err := s.Update(func(tx *Tx) error { return tx.PutRecord(1, []byte("record-1")) }); err != nil {
		t.Fatal(err)
	}
	if _, err := s.MarkExpired(2, "yield timed out", old); err != nil {
		t.Fatal(err)
	}
	// 3 stays queued; 4 completed, not resolved; 5 assigned.
	if _, err := s.Assign(4, "n1", old.Add(time.Minute), old); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Complete(4, "n1", okResult("x"), old); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Assign(5, "n1", old.Add(time.Hour), old); err != nil {
		t.Fatal(err)
	}
	resolveAt(t, s, 6, t0.Add(80*time.Minute)) // recent
	resolveAt(t, s, 7, old)                    // the highest chain id
	// 7 also has storage effects waiting (an agreement still deciding
	// what it wrote cannot be dropped from under it).
	if err := s.Update(func(tx *Tx) error {
		return tx.PutPendingEffects(7, &ProgEffects{Code: "c"})
	}); err != nil {
		t.Fatal(err)
	}
	// Calls: one settled, one still running.
	mustKey(t, s, "alice.near", 1, 100_000)
	done := startCall(t, s, callSpec("done", "alice.near", 1_000), t0).Call.JobID
	running := startCall(t, s, callSpec("running", "alice.near", 1_000), t0).Call.JobID
	if _, err := s.Assign(done, "n1", old.Add(time.Minute), old); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Complete(done, "n1", okResult("y"), old); err != nil {
		t.Fatal(err)
	}
	if _, err := settle(t, s, "done", old); err != nil {
		t.Fatal(err)
	}
	before, _ := s.Counts()

	now := t0.Add(90 * time.Minute)
	ids, cut, err := s.PrunePlan(Retention{Window: time.Hour, MinAge: time.Minute}, now, 0)
	if err != nil {
		t.Fatal(err)
	}
	if want := []uint64{1, 2, 7, done}; !slices.Equal(ids, want) {
		t.Fatalf("plan %v, want %v", ids, want)
	}
	out, err := prune(t, s, ids, cut, now)
	if err != nil {
		t.Fatal(err)
	}
	if out.Pruned != 3 || out.Kept != 1 {
		t.Fatalf("prune: %+v, want 3 pruned and 1 kept (7's effects are pending)", out)
	}
	for _, id := range []uint64{1, 2, done} {
		if _, err := s.Get(id); !errors.Is(err, ErrNotFound) {
			t.Errorf("request %d still there after pruning: %v", id, err)
		}
		if p, _ := s.WasPruned(id); !p {
			t.Errorf("request %d is not reported pruned", id)
		}
	}
	if _, ok, _ := s.Record(1); ok {
		t.Error("request 1's run record survived its request")
	}
	if _, err := s.Call("done"); !errors.Is(err, ErrNotFound) {
		t.Errorf("the settled call survived its request: %v", err)
	}
	if calls, _ := s.KeyCalls("alice.near", 1, 0, 10); len(calls) != 1 || calls[0].ID != "running" {
		t.Errorf("the key's calls after pruning: %v, want only the running one", calls)
	}
	page, _ := s.BySender(sampleRequest(1).Sender, Page{})
	for _, j := range page.Jobs {
		if j.ID == 1 {
			t.Error("the sender index still names request 1")
		}
	}
	after, _ := s.Counts()
	if after[StatusResolved] != before[StatusResolved]-2 || after[StatusExpired] != before[StatusExpired]-1 {
		t.Errorf("counters: before %v after %v", before, after)
	}
	if n, _ := s.PrunedCount(); n != 3 {
		t.Errorf("pruned count %d, want 3", n)
	}

	// A plan that names everything prunes nothing more: not queued,
	// assigned, unresolved, running calls, pending effects or recent ones.
	out, err = prune(t, s, []uint64{1, 3, 4, 5, 6, 7, running, 99}, cut, now)
	if err != nil {
		t.Fatal(err)
	}
	if out.Pruned != 0 || out.Kept != 6 || out.Gone != 2 {
		t.Fatalf("hostile plan: %+v, want 0 pruned, 6 kept, 2 gone", out)
	}
	mustStatus(t, s, 3, StatusQueued)
	mustStatus(t, s, 4, StatusCompleted)
	mustStatus(t, s, 5, StatusAssigned)
	// A cutoff in the future is refused.
	if _, err := prune(t, s, []uint64{6}, now.Add(time.Hour), now); !errors.Is(err, ErrBadInput) {
		t.Errorf("future cutoff: %v, want ErrBadInput", err)
	}
	if _, err := prune(t, s, make([]uint64, MaxPruneIDs+1), now, now); !errors.Is(err, ErrBadInput) {
		t.Errorf("oversized plan: %v, want ErrBadInput", err)
	}

	// Prune the highest chain id too: the watcher's starting point does
	// not move back, and seeing the request again does not re-run it.
	if err := s.Update(func(tx *Tx) error { return tx.DeletePendingEffects(7) }); err != nil {
		t.Fatal(err)
	}
	if out, err := prune(t, s, []uint64{7}, now, now); err != nil || out.Pruned != 1 {
		t.Fatalf("prune 7: %+v %v", out, err)
	}
	if id, ok, _ := s.HighestChainID(); !ok || id != 7 {
		t.Fatalf("highest chain id after pruning it: %d %v, want 7", id, ok)
	}
	for _, id := range []uint64{7, 1} {
		if out, err := s.Enqueue(sampleRequest(id), nil, now); err != nil || out != AlreadyKnown {
			t.Errorf("re-enqueue pruned %d: %v %v, want AlreadyKnown", id, out, err)
		}
		if _, err := s.Get(id); !errors.Is(err, ErrNotFound) {
			t.Errorf("pruned request %d came back", id)
		}
	}
	if p, _ := s.WasPruned(8); p {
		t.Error("an id above every pruned one is reported pruned")
	}
	mustEnqueue(t, s, 8)
}

// Request 0 is an id like any other: pruned, it is reported pruned and
// the watcher's highest known id stays at it.
func TestPruneRequestZero(t *testing.T) {
	s := openTemp(t)
	mustEnqueue(t, s, 0)
	resolveAt(t, s, 0, t0)
	if out, err := prune(t, s, []uint64{0}, t0, t0.Add(time.Hour)); err != nil || out.Pruned != 1 {
		t.Fatalf("prune 0: %+v %v", out, err)
	}
	if p, _ := s.WasPruned(0); !p {
		t.Error("pruned request 0 is not reported pruned")
	}
	if p, _ := s.WasPruned(1); p {
		t.Error("request 1, never seen, is reported pruned")
	}
	if id, ok, _ := s.HighestChainID(); !ok || id != 0 {
		t.Errorf("highest chain id %d %v, want 0 and known", id, ok)
	}
	if out, _ := s.Enqueue(sampleRequest(0), nil, t0.Add(time.Hour)); out != AlreadyKnown {
		t.Errorf("re-enqueue pruned 0: %v", out)
	}
}

// The count cap drops the oldest settled requests past it whatever
// their age, but never one younger than MinAge.
func TestPruneCountCap(t *testing.T) {
	s := openTemp(t)
	mustEnqueue(t, s, 1, 2, 3, 4, 5)
	for id := uint64(1); id <= 4; id++ {
		resolveAt(t, s, id, t0.Add(time.Duration(id)*time.Minute))
	}
	now := t0.Add(4*time.Minute + 30*time.Second)
	ids, cut, err := s.PrunePlan(Retention{KeepSettled: 1, MinAge: time.Minute}, now, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Three are over the cap; 4 closed 30 s ago, below MinAge.
	if want := []uint64{1, 2, 3}; !slices.Equal(ids, want) {
		t.Fatalf("plan %v, want %v", ids, want)
	}
	if out, err := prune(t, s, ids, cut, now); err != nil || out.Pruned != 3 {
		t.Fatalf("prune: %+v %v", out, err)
	}
	if ids, _, _ := s.PrunePlan(Retention{KeepSettled: 1, MinAge: time.Minute}, now.Add(time.Hour), 0); len(ids) != 0 {
		t.Errorf("plan at the cap: %v, want nothing", ids)
	}
	if ids, _, _ := s.PrunePlan(Retention{}, now.Add(time.Hour), 0); len(ids) != 0 {
		t.Errorf("no retention configured, plan %v", ids)
	}
}

func effects(code string, ns string, kv ...string) *ProgEffects {
	e := &ProgEffects{Code: code, Quota: 16 << 20}
	for i := 0; i+1 < len(kv); i += 2 {
		e.Writes = append(e.Writes, ProgWrite{NS: []byte(ns), Key: []byte(kv[i]), Value: []byte(kv[i+1]), Delete: kv[i+1] == ""})
	}
	return e
}

// The node-wide budget bounds all programs together: a write that grows
// the total past it fails as a quota failure and changes nothing; writes
// that shrink a program pass even over the budget.
func TestStorageBudget(t *testing.T) {
	s := openTemp(t)
	big := string(make([]byte, 590))
	a := effects("A", "w\x00A\x00", "k", big) // 591 bytes
	a.Budget = 1000
	if err := applyEffects(s, a); err != nil {
		t.Fatal(err)
	}
	b := effects("B", "w\x00B\x00", "k", big)
	b.Budget = 1000
	err := applyEffects(s, b)
	if !errors.Is(err, ErrStorageBudget) || !errors.Is(err, ErrStorageQuota) {
		t.Fatalf("write past the budget: %v, want ErrStorageBudget (a quota failure)", err)
	}
	if n, _ := s.ProgBytes(); n != 591 {
		t.Fatalf("total after a refused write: %d, want 591", n)
	}
	small := effects("B", "w\x00B\x00", "k", string(make([]byte, 300)))
	small.Budget = 1000
	if err := applyEffects(s, small); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.ProgBytes(); n != 892 {
		t.Fatalf("total %d, want 892", n)
	}
	// The budget lowered below what is stored: shrinking still passes,
	// growing does not.
	shrink := effects("A", "w\x00A\x00", "k", "tiny")
	shrink.Budget = 100
	if err := applyEffects(s, shrink); err != nil {
		t.Fatalf("shrinking over the budget: %v", err)
	}
	grow := effects("A", "w\x00A\x00", "k2", "v")
	grow.Budget = 100
	if err := applyEffects(s, grow); !errors.Is(err, ErrStorageBudget) {
		t.Fatalf("growing over the budget: %v", err)
	}
	if n, _ := s.ProgBytes(); n != 301+5 {
		t.Fatalf("total %d, want %d", n, 301+5)
	}
}

// Dropping a program's storage takes every key under its namespaces, in
// bounded steps, and nothing of another program; doing it again is a
// no-op.
func TestDropProgStorage(t *testing.T) {
	s := openTemp(t)
	for _, e := range []*ProgEffects{
		effects("project:p1", "u\x00project:p1\x00alice\x00", "a", "1", "b", "2"),
		effects("project:p1", "w\x00project:p1\x00", "c", "3"),
		effects("project:p1", "p\x00project:p1\x00", "d", "4"),
		effects("project:p12", "p\x00project:p12\x00", "d", "keep"),
	} {
		e.Project = strings.TrimPrefix(e.Code, "project:")
		if err := applyEffects(s, e); err != nil {
			t.Fatal(err)
		}
	}
	prefixes := [][]byte{[]byte("u\x00project:p1\x00"), []byte("w\x00project:p1\x00"), []byte("p\x00project:p1\x00")}
	drop := func(limit int) (n int, more bool) {
		t.Helper()
		if err := s.Update(func(tx *Tx) (err error) { n, more, err = tx.DropProgStorage("project:p1", prefixes, limit); return err }); err != nil {
			t.Fatal(err)
		}
		return n, more
	}
	if n, more := drop(3); n != 3 || !more {
		t.Fatalf("first step: %d deleted, more %v; want 3 and more", n, more)
	}
	if n, more := drop(3); n != 1 || more {
		t.Fatalf("second step: %d deleted, more %v; want 1 and done", n, more)
	}
	if n, more := drop(3); n != 0 || more {
		t.Fatalf("again: %d deleted, more %v", n, more)
	}
	for _, k := range []struct{ ns, key string }{{"u\x00project:p1\x00alice\x00", "a"}, {"w\x00project:p1\x00", "c"}, {"p\x00project:p1\x00", "d"}} {
		if _, ok, _ := s.ProgGet([]byte(k.ns), []byte(k.key)); ok {
			t.Errorf("key %q of the dropped project survived", k.key)
		}
	}
	if v, ok, _ := s.ProgGet([]byte("p\x00project:p12\x00"), []byte("d")); !ok || string(v) != "keep" {
		t.Error("another project's storage was dropped")
	}
	if m, _ := s.ProgProjects(); len(m) != 1 || m["project:p12"] != "p12" {
		t.Errorf("projects with storage after the drop: %v, want only p12", m)
	}
	if n, _ := s.ProgBytes(); n != 5 {
		t.Errorf("total after the drop %d, want 5 (the other project)", n)
	}
	err := s.Update(func(tx *Tx) error { _, _, err := tx.DropProgStorage("project:p1", [][]byte{{}}, 0); return err })
	if !errors.Is(err, ErrBadInput) {
		t.Errorf("an empty prefix: %v, want ErrBadInput", err)
	}
}

// A plan stops reading on-chain ids at the first one queued after the
// window's cut, and still reads the calls after them.
func TestPrunePlanSkipsWhatTheWindowKeeps(t *testing.T) {
	s := openTemp(t)
	mustEnqueue(t, s, 1)
	resolveAt(t, s, 1, t0.Add(time.Minute))
	late := t0.Add(150 * time.Minute)
	if _, err := s.Enqueue(sampleRequest(2), nil, late); err != nil {
		t.Fatal(err)
	}
	resolveAt(t, s, 2, late)
	mustEnqueue(t, s, 3) // queued at t0, still open
	mustKey(t, s, "alice.near", 1, 100_000)
	call := startCall(t, s, callSpec("c", "alice.near", 1_000), t0).Call.JobID
	if _, err := s.Fail(call, "x", t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := settle(t, s, "c", t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	ids, _, err := s.PrunePlan(Retention{Window: time.Hour}, t0.Add(200*time.Minute), 0)
	if err != nil {
		t.Fatal(err)
	}
	if want := []uint64{1, call}; !slices.Equal(ids, want) {
		t.Fatalf("plan %v, want %v", ids, want)
	}
}
