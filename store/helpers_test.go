package store

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// t0 is an arbitrary leader clock reading; tests move time by adding to it.
var t0 = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

func openTemp(t testing.TB) *Store {
	t.Helper()
	return openTempWith(t, Options{})
}

// openFast skips fsync: for tests that apply thousands of commands and check
// content, not durability (the machine is shared and fsync is slow).
func openFast(t testing.TB) *Store {
	t.Helper()
	return openTempWith(t, Options{NoSync: true})
}

func openTempWith(t testing.TB, opts Options) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "state.db"), opts)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func sampleRequest(id uint64) Request {
	return Request{
		ID:     id,
		DataID: fmt.Sprintf("%064x", id+1),
		Sender: fmt.Sprintf("caller%d.testnet", id%7),
		Code: CodeSource{Git: &GitSource{
			Repo: "https://github.com/example/prog", Commit: "0123abcd", BuildTarget: "wasm32-wasip1",
		}},
		Limits:         Limits{MaxInstructions: 1_000_000_000, MaxMemoryMB: 128, MaxExecutionSeconds: 60},
		Input:          fmt.Sprintf(`{"n":%d}`, id),
		ResponseFormat: "Json",
		Deposit:        "100000000000000000000000",
		RequestedAtNs:  uint64(t0.UnixNano()),
		BlockHeight:    1000 + id,
		BlockHash:      fmt.Sprintf("hash%d", 1000+id),
		TxHash:         fmt.Sprintf("tx%d", id),
		ReceiptID:      fmt.Sprintf("rc%d", id),
	}
}

func cursorAt(h uint64) *Cursor { return &Cursor{Height: h, Hash: fmt.Sprintf("hash%d", h)} }

func mustEnqueue(t testing.TB, s *Store, ids ...uint64) {
	t.Helper()
	for _, id := range ids {
		out, err := s.Enqueue(sampleRequest(id), cursorAt(1000+id), t0)
		if err != nil {
			t.Fatalf("enqueue %d: %v", id, err)
		}
		if out != Enqueued {
			t.Fatalf("enqueue %d: outcome %v, want enqueued", id, out)
		}
	}
}

func mustStatus(t testing.TB, s *Store, id uint64, want Status) *Job {
	t.Helper()
	j, err := s.Get(id)
	if err != nil {
		t.Fatalf("get %d: %v", id, err)
	}
	if j.Status != want {
		t.Fatalf("request %d is %s, want %s", id, j.Status, want)
	}
	return j
}

func okResult(out string) Result {
	return Result{Success: true, Output: []byte(out), Instructions: 12345, TimeMs: 7}
}
