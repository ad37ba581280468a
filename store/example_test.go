package store_test

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/outlayer/outlayer/store"
)

// A Raft FSM applies a batch of committed commands in one transaction. Each
// command's error is its own result; a refused command writes nothing and
// the rest of the batch still commits.
func Example_applyBatch() {
	dir, _ := os.MkdirTemp("", "store-example")
	defer os.RemoveAll(dir)
	s, err := store.Open(filepath.Join(dir, "state.db"), store.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()

	leaderNow := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) // carried in the command
	req := store.Request{
		ID:      7,
		Sender:  "app.testnet",
		Code:    store.CodeSource{Wasm: &store.WasmSource{URL: "https://example.com/p.wasm", Hash: "ab12"}},
		Deposit: "1000000000000000000000",
	}
	_ = s.Update(func(tx *store.Tx) error {
		out, err := tx.Enqueue(req, &store.Cursor{Height: 100, Hash: "blockhash"}, leaderNow)
		fmt.Println("enqueue:", out, err)
		_, err = tx.Assign(7, "nodeA", leaderNow.Add(time.Minute), leaderNow)
		fmt.Println("assign:", err)
		_, err = tx.Assign(7, "nodeB", leaderNow.Add(time.Minute), leaderNow) // refused: live lease
		fmt.Println("assign again refused:", err != nil)
		res, err := tx.Complete(7, "nodeA", store.Result{Success: true, Output: []byte("hi")}, leaderNow.Add(time.Second))
		fmt.Println("complete:", res, err)
		return nil
	})
	j, _ := s.Get(7)
	fmt.Println(j.Status, string(j.Result.Output), len(j.Attempts))
	// Output:
	// enqueue: enqueued <nil>
	// assign: <nil>
	// assign again refused: true
	// complete: accepted <nil>
	// completed hi 1
}
