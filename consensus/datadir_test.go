package consensus

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/outlayer/outlayer/store"
)

// A second node on a live data directory must fail before it touches
// anything, and the first must not notice.
func TestSecondOpenOnLiveDataDirFails(t *testing.T) {
	c := newTestCluster(t, nil)
	c.bootstrap(1)
	ctx := ctxT(t, 30*time.Second)
	first := c.node(0)
	if _, err := first.Apply(ctx, &Enqueue{Requests: []store.Request{testRequest(1)}}); err != nil {
		t.Fatalf("enqueue before: %v", err)
	}
	stateBefore, err := os.Stat(filepath.Join(c.dirs[0], "state.db"))
	if err != nil {
		t.Fatal(err)
	}

	cfg := c.config(0)
	cfg.ListenAddrs = []string{"/ip4/127.0.0.1/tcp/0"}
	second, err := Open(context.Background(), cfg)
	if err == nil {
		second.Close()
		t.Fatal("a second node opened a data directory a live node holds")
	}
	if !errors.Is(err, ErrDataDirInUse) || !errors.Is(err, store.ErrInUse) {
		t.Fatalf("error %v does not wrap ErrDataDirInUse and store.ErrInUse", err)
	}
	for _, want := range []string{c.dirs[0], "in use by another outlayerd", "pid " + strconv.Itoa(os.Getpid())} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}

	// The live store file is the same file, and the first node goes on.
	stateAfter, err := os.Stat(filepath.Join(c.dirs[0], "state.db"))
	if err != nil {
		t.Fatalf("the live store file is gone: %v", err)
	}
	if !os.SameFile(stateBefore, stateAfter) {
		t.Fatal("the live store file was replaced by the refused open")
	}
	if _, err := first.Apply(ctx, &Enqueue{Requests: []store.Request{testRequest(2)}}); err != nil {
		t.Fatalf("enqueue after the refused open: %v", err)
	}
	for _, id := range []uint64{1, 2} {
		if _, err := first.Store().Get(id); err != nil {
			t.Fatalf("first node lost request %d: %v", id, err)
		}
	}

	// Closing releases the lock (the LOCK file stays and is taken over).
	c.stop(0)
	c.start(0)
	waitFor(t, 20*time.Second, "the reopened node to lead again", c.node(0).IsLeader)
	if _, err := c.node(0).Apply(ctx, &Enqueue{Requests: []store.Request{testRequest(3)}}); err != nil {
		t.Fatalf("enqueue after reopening: %v", err)
	}
}
