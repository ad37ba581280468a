// Command counter counts its runs in storage: a per-caller count and a
// total over every caller, kept by the cluster between runs (outlayer_v1
// storage through the Go SDK). A run's writes apply only if it succeeds.
//
//	outlayerd exec --storage counter.db counter.wasm
package main

import (
	"fmt"
	"os"

	outlayer "github.com/outlayer/outlayer/exec/sdk"
)

func main() {
	mine, err := outlayer.UserStorage.Increment("visits", 1)
	if err != nil {
		fmt.Fprintln(os.Stderr, "counter:", err)
		os.Exit(1)
	}
	total, err := outlayer.WorkerStorage.Increment("visits", 1)
	if err != nil {
		fmt.Fprintln(os.Stderr, "counter:", err)
		os.Exit(1)
	}
	fmt.Printf("your visits: %d, all visits: %d\n", mine, total)
}
