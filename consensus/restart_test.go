package consensus

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/outlayer/outlayer/store"
)

// A cleanly stopped node keeps its store (same file, no replay into it),
// catches up from the leader, and ends identical to the leader's; after an
// unclean stop (no clean-shutdown mark) or a mark that disagrees with the
// store, it rebuilds from snapshot and log instead.
func TestRestartKeepsACleanStoreAndRebuildsAnUncleanOne(t *testing.T) {
	c := newTestCluster(t, nil)
	c.bootstrap(3)
	ctx := ctxT(t, 120*time.Second)
	l := c.leader()
	f := (l + 1) % 3
	next := uint64(1)
	enqueue := func(n int) {
		t.Helper()
		for range n {
			if _, err := c.node(l).Apply(ctx, &Enqueue{Requests: []store.Request{testRequest(next)}}); err != nil {
				t.Fatalf("enqueue %d: %v", next, err)
			}
			next++
		}
		c.waitLiveReplicated(next - 1)
	}
	statePath := filepath.Join(c.dirs[f], stateFile)
	pins := 0
	stat := func() os.FileInfo {
		t.Helper()
		fi, err := os.Stat(statePath)
		if err != nil {
			t.Fatal(err)
		}
		// A hard link keeps this inode alive, so a store rebuilt in a new
		// file can never reuse its number and pass for the old file.
		pins++
		if err := os.Link(statePath, fmt.Sprintf("%s.pin%d", statePath, pins)); err != nil {
			t.Fatal(err)
		}
		return fi
	}
	sameDigest := func(what string) {
		t.Helper()
		want := digest(t, c.node(l).Store())
		waitFor(t, 20*time.Second, what, func() bool { return digest(t, c.node(f).Store()) == want })
	}

	enqueue(20)
	if err := c.node(f).Snapshot(); err != nil {
		t.Fatalf("snapshot on follower: %v", err)
	}
	enqueue(10)

	// Clean stop: the store is kept, raft skips its own older snapshot,
	// and the follower writes only what it missed.
	before := stat()
	c.stop(f)
	if _, err := os.Stat(filepath.Join(c.dirs[f], cleanFile)); err != nil {
		t.Fatalf("no clean-shutdown mark after Close: %v", err)
	}
	enqueue(10) // 31-40 while the follower is down
	c.start(f)
	if _, err := os.Stat(filepath.Join(c.dirs[f], cleanFile)); !os.IsNotExist(err) {
		t.Fatalf("the clean-shutdown mark outlived the start (%v): a crash now would keep a torn store", err)
	}
	if !os.SameFile(before, stat()) {
		t.Fatal("a cleanly stopped node's store was replaced on restart")
	}
	c.waitLiveReplicated(next - 1)
	sameDigest("the restarted follower to match the leader")
	if w := c.node(f).fsm.written.Load(); w < 10 || w > 12 {
		t.Fatalf("restarted follower wrote %d entries to its store; want the 10 it missed (and at most a couple of membership entries)", w)
	}

	// Unclean stop: no mark, so the store is rebuilt (a new file).
	before = stat()
	c.stop(f)
	if err := os.Remove(filepath.Join(c.dirs[f], cleanFile)); err != nil {
		t.Fatal(err)
	}
	enqueue(5)
	c.start(f)
	if os.SameFile(before, stat()) {
		t.Fatal("a store without a clean-shutdown mark was kept")
	}
	c.waitLiveReplicated(next - 1)
	sameDigest("the rebuilt follower to match the leader")

	// A mark that disagrees with the store: rebuilt too.
	before = stat()
	c.stop(f)
	if err := os.WriteFile(filepath.Join(c.dirs[f], cleanFile), []byte("1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c.start(f)
	if os.SameFile(before, stat()) {
		t.Fatal("a store whose applied index disagrees with the clean-shutdown mark was kept")
	}
	enqueue(1)
	sameDigest("the follower rebuilt after a bad mark to match the leader")
}

// waitLiveReplicated waits until every live node holds request id.
func (c *testCluster) waitLiveReplicated(id uint64) {
	c.t.Helper()
	c.waitReplicated(id, store.StatusQueued)
}
