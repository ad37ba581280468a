package consensus

import (
	"bytes"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/outlayer/outlayer/store"
)

// fsmLog is a committed log as raft would hand it to the FSM: commands and
// a configuration entry, with the leader's clock in each command.
func fsmLog(t *testing.T, n int) []*raft.Log {
	t.Helper()
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	var logs []*raft.Log
	for i := 1; i <= n; i++ {
		var cmd Command
		switch i % 4 {
		case 2:
			logs = append(logs, &raft.Log{Index: uint64(i), Type: raft.LogConfiguration})
			continue
		case 3:
			cmd = &Assign{ID: uint64(i - 2), Node: "n1", LeaseUntil: t0.Add(time.Hour)}
		default:
			cmd = &Enqueue{Requests: []store.Request{testRequest(uint64(i))}}
		}
		b, err := encodeCommand(cmd, t0.Add(time.Duration(i)*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		logs = append(logs, &raft.Log{Index: uint64(i), Type: raft.LogCommand, Data: b})
	}
	return logs
}

func newTestFSM(t *testing.T) *fsm {
	t.Helper()
	s, err := store.Open(filepath.Join(t.TempDir(), "state.db"), store.Options{NoSync: true, BlobCacheBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	f := &fsm{store: s, log: testLogger()}
	held, err := s.AppliedIndex()
	if err != nil {
		t.Fatal(err)
	}
	f.held.Store(held)
	return f
}

func applyAll(t *testing.T, f *fsm, logs []*raft.Log) {
	t.Helper()
	for i, r := range f.ApplyBatch(logs) {
		if resp, ok := r.(applyResponse); ok && resp.err != nil {
			t.Fatalf("entry %d: %v", logs[i].Index, resp.err)
		}
	}
}

func digest(t *testing.T, s *store.Store) [32]byte {
	t.Helper()
	d, err := s.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// A store that already holds entries (kept across a restart, or restored
// from a snapshot taken past its raft index) must skip them when raft
// replays them, and end byte-identical to a store that applied each entry
// once.
func TestFSMSkipsEntriesTheStoreAlreadyHolds(t *testing.T) {
	logs := fsmLog(t, 14)
	ref := newTestFSM(t)
	applyAll(t, ref, logs)
	if got, _ := ref.store.AppliedIndex(); got != 13 {
		t.Fatalf("reference store records applied index %d; want 13 (the last command; 14 is a configuration)", got)
	}

	// First life: entries 1-8, in two batches.
	a := newTestFSM(t)
	applyAll(t, a, logs[:3])
	applyAll(t, a, logs[3:8])
	if got, _ := a.store.AppliedIndex(); got != 8 {
		t.Fatalf("applied index %d after entries 1-8; want 8", got)
	}
	written := a.written.Load()

	// Restart keeping the store: raft starts from an older snapshot (index
	// 3) and replays 4-11. 4-8 are held and skipped; 9-11 are new.
	restarted := &fsm{store: a.store, log: testLogger()}
	held, _ := a.store.AppliedIndex()
	restarted.held.Store(held)
	applyAll(t, restarted, logs[3:11])
	if got := restarted.skipped.Load(); got != 5 {
		t.Fatalf("skipped %d entries of the replay; want 5 (indexes 4-8)", got)
	}
	if got := restarted.written.Load(); got != 2 {
		t.Fatalf("wrote %d entries; want 2 (9 and 11; 10 is a configuration)", got)
	}

	// Another node installs a snapshot of that store that raft labels with
	// index 6 (taken while the replay was still skipping): raft then hands
	// it 7-14, of which 7-11 are already in the snapshot.
	var snap bytes.Buffer
	if err := a.store.Snapshot(&snap); err != nil {
		t.Fatal(err)
	}
	b := newTestFSM(t)
	if err := b.Restore(io.NopCloser(&snap)); err != nil {
		t.Fatal(err)
	}
	if got := b.held.Load(); got != 11 {
		t.Fatalf("held index after restore %d; want 11 (from the snapshot's content)", got)
	}
	applyAll(t, b, logs[6:])
	if got := b.skipped.Load(); got != 5 {
		t.Fatalf("skipped %d entries after the restore; want 5 (7-11)", got)
	}
	applyAll(t, restarted, logs[11:])

	want := digest(t, ref.store)
	if digest(t, a.store) != want {
		t.Error("the restarted store differs from one that applied every entry once")
	}
	if digest(t, b.store) != want {
		t.Error("the store restored from a snapshot past its label differs from one that applied every entry once")
	}
	if written == 0 {
		t.Fatal("the first life wrote nothing")
	}
}
