package daemon

import (
	"context"
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

	"github.com/outlayer/outlayer/consensus"
	"github.com/outlayer/outlayer/exec"
	"github.com/outlayer/outlayer/store"
)

// A result refused because the storage its run read has changed is not
// reported again as is: the request runs again (a bounded number of times).
func TestWorkerRunsAgainWhenItsStorageReadsChanged(t *testing.T) {
	wasm := []byte("\x00asm fake module")
	h := store.BlobHash(sha256.Sum256(wasm))
	for _, c := range []struct {
		conflicts, wantRuns int
	}{{1, 2}, {100, maxStorageReruns + 1}} {
		t.Run(fmt.Sprint(c.conflicts, " conflicts"), func(t *testing.T) {
			rep := newFakeReplica()
			rep.blobs[h] = wasm
			run := &fakeRunner{res: exec.Result{Output: []byte("out")}}
			w := testWorker(rep, run)
			left := c.conflicts
			w.propose.(*fakeProposer).answer = func(cmd consensus.Command) (consensus.Result, error) {
				if _, ok := cmd.(*consensus.Complete); ok && left > 0 {
					left--
					return consensus.Result{}, fmt.Errorf("key %q: %w", "n", store.ErrStorageConflict)
				}
				return consensus.Result{Completed: store.Accepted}, nil
			}
			j := wasmJob(1, h)
			j.LeaseUntil = time.Now().Add(time.Minute)
			w.execute(context.Background(), j)
			if run.calls != c.wantRuns {
				t.Fatalf("%d runs, want %d", run.calls, c.wantRuns)
			}
			if got := len(commands[*consensus.Complete](w.propose.(*fakeProposer))); got != c.wantRuns {
				t.Fatalf("%d Complete proposals, want %d", got, c.wantRuns)
			}
		})
	}
}
