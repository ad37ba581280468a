package store

import (
	"bytes"
	"errors"
	"path/filepath"
	"testing"
)

func TestAppliedIndexMovesWithItsTransactionAndSurvivesReopenAndSnapshot(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if idx, err := s.AppliedIndex(); err != nil || idx != 0 {
		t.Fatalf("fresh store: applied index %d, %v; want 0", idx, err)
	}
	if err := s.Update(func(tx *Tx) error {
		if _, err := tx.EnqueueBatch([]Request{sampleRequest(1)}, nil, t0); err != nil {
			return err
		}
		return tx.SetAppliedIndex(7)
	}); err != nil {
		t.Fatal(err)
	}
	// A failed transaction takes its index with it.
	boom := errors.New("boom")
	if err := s.Update(func(tx *Tx) error {
		if err := tx.SetAppliedIndex(9); err != nil {
			return err
		}
		return boom
	}); !errors.Is(err, boom) {
		t.Fatalf("update: %v", err)
	}
	if idx, _ := s.AppliedIndex(); idx != 7 {
		t.Fatalf("applied index %d after a rolled-back update; want 7", idx)
	}
	// Backwards is refused and changes nothing.
	if err := s.Update(func(tx *Tx) error { return tx.SetAppliedIndex(3) }); !errors.Is(err, ErrBadInput) {
		t.Fatalf("moving the index back: %v; want ErrBadInput", err)
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	var snap bytes.Buffer
	if err := s.Snapshot(&snap); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(); !errors.Is(err, ErrClosed) {
		t.Fatalf("sync after close: %v; want ErrClosed", err)
	}

	s, err = Open(path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if idx, err := s.AppliedIndex(); err != nil || idx != 7 {
		t.Fatalf("reopened: applied index %d, %v; want 7", idx, err)
	}
	other := openFast(t)
	if err := other.Restore(&snap); err != nil {
		t.Fatal(err)
	}
	if idx, err := other.AppliedIndex(); err != nil || idx != 7 {
		t.Fatalf("restored snapshot: applied index %d, %v; want 7", idx, err)
	}
	if _, err := other.Get(1); err != nil {
		t.Fatalf("restored snapshot lacks request 1: %v", err)
	}
}
