package store

import (
	"errors"
	"fmt"
	"testing"
)

func applyEffects(s *Store, e *ProgEffects) error {
	return s.Update(func(tx *Tx) error { return tx.ApplyProgEffects(e) })
}

func TestProgStorageWritesReadsAndPages(t *testing.T) {
	s := openTemp(t)
	ns, other := []byte("u\x00code\x00alice\x00"), []byte("u\x00code\x00bob\x00")
	var writes []ProgWrite
	for i := range 5 {
		writes = append(writes, ProgWrite{NS: ns, Key: fmt.Appendf(nil, "k%d", i), Value: []byte("v")})
	}
	writes = append(writes, ProgWrite{NS: other, Key: []byte("k9"), Value: []byte("bob's")})
	if err := applyEffects(s, &ProgEffects{Code: "code", Writes: writes}); err != nil {
		t.Fatal(err)
	}
	if v, ok, _ := s.ProgGet(ns, []byte("k3")); !ok || string(v) != "v" {
		t.Fatalf("k3 = %q, %v", v, ok)
	}
	if _, ok, _ := s.ProgGet(ns, []byte("k9")); ok {
		t.Fatal("alice sees bob's key")
	}
	page, _ := s.ProgList(ns, []byte("k"), nil, 2)
	next, _ := s.ProgList(ns, []byte("k"), page[1], 10)
	if len(page) != 2 || string(page[0]) != "k0" || len(next) != 3 || string(next[0]) != "k2" || string(next[2]) != "k4" {
		t.Fatalf("pages %q then %q", page, next)
	}
	err := s.View(func(tx *Tx) error {
		if u := tx.ProgUsage("code"); u != 5*3+7 {
			return fmt.Errorf("usage %d, want %d", u, 5*3+7)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestProgEffectsRefusedWhenReadsChangedOrOverQuota(t *testing.T) {
	s := openTemp(t)
	ns := []byte("w\x00code\x00")
	if err := applyEffects(s, &ProgEffects{Code: "code", Writes: []ProgWrite{{NS: ns, Key: []byte("n"), Value: []byte("1")}}}); err != nil {
		t.Fatal(err)
	}
	// A run read n = 1 and wrote 2; meanwhile another run made n = 5.
	stale := &ProgEffects{Code: "code", Reads: []ProgRead{{NS: ns, Key: []byte("n"), Present: true, Value: []byte("1")}},
		Writes: []ProgWrite{{NS: ns, Key: []byte("n"), Value: []byte("2")}}}
	if err := applyEffects(s, &ProgEffects{Code: "code", Writes: []ProgWrite{{NS: ns, Key: []byte("n"), Value: []byte("5")}}}); err != nil {
		t.Fatal(err)
	}
	if err := applyEffects(s, stale); !errors.Is(err, ErrStorageConflict) {
		t.Fatalf("stale read: %v, want ErrStorageConflict", err)
	}
	if v, _, _ := s.ProgGet(ns, []byte("n")); string(v) != "5" {
		t.Fatalf("n = %q after a refused run", v)
	}
	// A listed page that grew is a conflict too.
	page := &ProgEffects{Code: "code", Ranges: []ProgRange{{NS: ns, Limit: 10, Keys: [][]byte{[]byte("n")}}}}
	if err := s.View(func(tx *Tx) error { return tx.CheckProgEffects(page) }); err != nil {
		t.Fatal(err)
	}
	if err := applyEffects(s, &ProgEffects{Code: "code", Writes: []ProgWrite{{NS: ns, Key: []byte("m"), Value: []byte("x")}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.View(func(tx *Tx) error { return tx.CheckProgEffects(page) }); !errors.Is(err, ErrStorageConflict) {
		t.Fatalf("grown page: %v", err)
	}
	// Quota: 4 bytes stored (n=5, m=x); a 10-byte value does not fit 8.
	big := &ProgEffects{Code: "code", Quota: 8, Writes: []ProgWrite{{NS: ns, Key: []byte("b"), Value: []byte("0123456789")}}}
	if err := applyEffects(s, big); !errors.Is(err, ErrStorageQuota) {
		t.Fatalf("over quota: %v", err)
	}
	// Deleting under the quota is always allowed.
	del := &ProgEffects{Code: "code", Quota: 1, Writes: []ProgWrite{{NS: ns, Key: []byte("m"), Delete: true}}}
	if err := applyEffects(s, del); err != nil {
		t.Fatalf("delete over quota: %v", err)
	}
	// Oversized keys are bad input.
	long := &ProgEffects{Code: "code", Writes: []ProgWrite{{NS: ns, Key: make([]byte, MaxProgKeyBytes+1), Value: []byte("x")}}}
	if err := applyEffects(s, long); !errors.Is(err, ErrBadInput) {
		t.Fatalf("long key: %v", err)
	}
}

func TestRunRecordKeptAndBounded(t *testing.T) {
	s := openTemp(t)
	if err := s.Update(func(tx *Tx) error { return tx.PutRecord(7, []byte("rec")) }); err != nil {
		t.Fatal(err)
	}
	if r, ok, _ := s.Record(7); !ok || string(r) != "rec" {
		t.Fatalf("record %q, %v", r, ok)
	}
	if _, ok, _ := s.Record(8); ok {
		t.Fatal("a record for a request without one")
	}
	if err := s.Update(func(tx *Tx) error { return tx.PutRecord(9, make([]byte, MaxRecordBytes+1)) }); !errors.Is(err, ErrBadInput) {
		t.Fatalf("oversized record: %v", err)
	}
}
