package consensus

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/outlayer/outlayer/store"
)

// countingWriter counts what a snapshot writes.
type countingWriter struct{ n int64 }

func (w *countingWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }

func snapshotBytes(t *testing.T, s *store.Store) int64 {
	t.Helper()
	var w countingWriter
	if err := s.Snapshot(&w); err != nil {
		t.Fatal(err)
	}
	return w.n
}

// On a real three-node cluster: the leader's PruneRequests plan drops the
// old settled requests on every replica and nothing pending; snapshots
// shrink; a follower rebuilt from its snapshot after an unclean stop has
// a smaller file and the leader's digest.
func TestRetentionPrunesSettledRequestsClusterWide(t *testing.T) {
	c := newTestCluster(t, nil)
	c.bootstrap(3)
	ctx := ctxT(t, 120*time.Second)
	l := c.leader()
	const settled, pending = 120, 30
	big := strings.Repeat("x", 12<<10)
	var batch []store.Request
	for id := uint64(1); id <= settled+pending; id++ {
		r := testRequest(id)
		r.Input = big
		batch = append(batch, r)
		if len(batch) == 30 {
			if _, err := c.node(l).Apply(ctx, &Enqueue{Requests: batch}); err != nil {
				t.Fatal(err)
			}
			batch = nil
		}
	}
	// The first `settled` ids run and resolve; the rest stay queued, and
	// one more is completed but not resolved.
	for id := uint64(1); id <= settled+1; id++ {
		for _, cmd := range []Command{
			&Assign{ID: id, Node: "n1", LeaseUntil: time.Now().Add(time.Minute)},
			&Complete{ID: id, Node: "n1", Result: store.Result{Success: true, Output: []byte("ok")}},
			&Resolved{ID: id, TxHash: "tx"},
		} {
			if id == settled+1 {
				if _, ok := cmd.(*Resolved); ok {
					continue
				}
			}
			if _, err := c.node(l).Apply(ctx, cmd); err != nil {
				t.Fatalf("request %d: %T: %v", id, cmd, err)
			}
		}
	}
	c.waitReplicated(settled, store.StatusResolved)
	f := (l + 1) % 3
	before := snapshotBytes(t, c.node(f).Store())

	// The leader plans from its replica and proposes in bounded commands.
	pruned := 0
	for {
		ids, cut, err := c.node(l).Store().PrunePlan(store.Retention{Window: time.Nanosecond}, time.Now(), 50)
		if err != nil {
			t.Fatal(err)
		}
		if len(ids) == 0 {
			break
		}
		res, err := c.node(l).Apply(ctx, &PruneRequests{IDs: ids, ClosedBefore: cut})
		if err != nil {
			t.Fatal(err)
		}
		pruned += res.Pruned.Pruned
	}
	if pruned != settled {
		t.Fatalf("pruned %d, want %d", pruned, settled)
	}
	// A hostile command naming everything, with a cutoff of now, drops
	// none of what is still needed.
	all := make([]uint64, 0, settled+pending)
	for id := uint64(1); id <= settled+pending; id++ {
		all = append(all, id)
	}
	res, err := c.node(l).Apply(ctx, &PruneRequests{IDs: all, ClosedBefore: time.Now()})
	if err != nil || res.Pruned.Pruned != 0 || res.Pruned.Kept != pending {
		t.Fatalf("pruning everything: %+v %v, want nothing pruned and %d kept", res.Pruned, err, pending)
	}
	want := digest(t, c.node(l).Store())
	waitFor(t, 20*time.Second, "every replica to hold the pruned state", func() bool {
		for i := range 3 {
			if digest(t, c.node(i).Store()) != want {
				return false
			}
		}
		return true
	})
	for i := range 3 {
		s := c.node(i).Store()
		if _, err := s.Get(1); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("node %d still holds settled request 1: %v", i, err)
		}
		if j, err := s.Get(settled + 1); err != nil || j.Status != store.StatusCompleted {
			t.Errorf("node %d: the unresolved request: %v %v", i, j, err)
		}
		if j, err := s.Get(settled + pending); err != nil || j.Status != store.StatusQueued {
			t.Errorf("node %d: a pending request: %v %v", i, j, err)
		}
		if id, ok, _ := s.HighestChainID(); !ok || id != settled+pending {
			t.Errorf("node %d: highest chain id %d", i, id)
		}
	}
	after := snapshotBytes(t, c.node(f).Store())
	t.Logf("follower snapshot: %d bytes before pruning %d of %d requests, %d after", before, settled, settled+pending, after)
	if after*2 > before {
		t.Errorf("snapshot went from %d to %d bytes; pruning 80%% of the requests should at least halve it", before, after)
	}

	// The follower snapshots the pruned state, stops uncleanly and is
	// rebuilt from that snapshot: a smaller file, the same content.
	statePath := filepath.Join(c.dirs[f], stateFile)
	fileBefore := fileSize(t, statePath)
	if err := c.node(f).Snapshot(); err != nil {
		t.Fatal(err)
	}
	c.stop(f)
	if err := os.Remove(filepath.Join(c.dirs[f], cleanFile)); err != nil {
		t.Fatal(err)
	}
	c.start(f)
	waitFor(t, 20*time.Second, "the rebuilt follower to match the leader", func() bool {
		return digest(t, c.node(f).Store()) == want
	})
	fileAfter := fileSize(t, statePath)
	t.Logf("follower state file: %d bytes before, %d after rebuilding from the pruned snapshot", fileBefore, fileAfter)
	if fileAfter*2 > fileBefore {
		t.Errorf("the rebuilt follower's file is %d bytes, was %d", fileAfter, fileBefore)
	}
	if _, err := c.node(f).Store().Get(settled + pending); err != nil {
		t.Errorf("the rebuilt follower lost a pending request: %v", err)
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}
