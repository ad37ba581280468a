package store

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestOpenGarbageFileIsCorrupt(t *testing.T) {
	for name, content := range map[string][]byte{
		"short":     []byte("hello, not a database"),
		"page-size": bytes.Repeat([]byte{0xAB}, 64<<10),
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.db")
			if err := os.WriteFile(path, content, 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Open(path, Options{})
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("open garbage: %v, want ErrCorrupt", err)
			}
			t.Logf("refused: %v", err)
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("error does not name the file: %v", err)
			}
			// The garbage is left as it was: nothing is lost.
			if got, _ := os.ReadFile(path); !bytes.Equal(got, content) {
				t.Fatal("open modified a file it refused")
			}
		})
	}
}

func TestOpenNewerSchemaRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	mustEnqueue(t, s, 1)
	s.Close()

	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keySchema, u64key(99)) })
	db.Close()

	_, err = Open(path, Options{})
	if !errors.Is(err, ErrSchemaTooNew) || !strings.Contains(err.Error(), "99") {
		t.Fatalf("open schema 99: %v, want ErrSchemaTooNew naming the version", err)
	}
	t.Logf("refused: %v", err)
}

func TestOpenForeignBoltFileRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "other.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("logs")); return err })
	db.Close()
	if _, err := Open(path, Options{}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("open a foreign bbolt file: %v", err)
	}
}

func TestOpenInUse(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = Open(path, Options{LockTimeout: 100 * time.Millisecond})
	if !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), "in use") && !strings.Contains(err.Error(), "holds its lock") {
		t.Fatalf("second open: %v, want ErrInUse", err)
	}
	t.Logf("refused: %v", err)
	s.Close()
	s2, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("open after close: %v", err)
	}
	s2.Close()
}

func TestReopenKeepsState(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	mustEnqueue(t, s, 1, 2)
	s.Assign(1, "n", t0.Add(time.Minute), t0)
	want, _ := s.Digest()
	s.Close()
	if _, err := s.Get(1); !errors.Is(err, ErrClosed) {
		t.Fatalf("use after close: %v", err)
	}
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got, _ := s.Digest(); got != want {
		t.Fatal("state changed across reopen")
	}
	mustStatus(t, s, 1, StatusAssigned)
}

func TestOpenDamagedFileIsCorrupt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range randomOps(5, 300) {
		s.Update(o)
	}
	s.Close()
	raw, _ := os.ReadFile(path)
	// Overwrite every page after the two meta pages: the meta pages (which
	// carry checksums) still parse, the tree they point to is garbage.
	for i := 2 * 4096; i < len(raw); i++ {
		raw[i] = byte(i * 31)
	}
	os.WriteFile(path, raw, 0o600)
	_, err = Open(path, Options{})
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("open damaged file: %v, want ErrCorrupt", err)
	}
	t.Logf("refused: %v", err)
}
