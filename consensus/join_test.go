package consensus

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// Joining through a node that is in no cluster fails at once with a clear
// error, instead of waiting out the one-minute join window for a leader
// that will never exist.
func TestJoinThroughANodeInNoClusterFailsFast(t *testing.T) {
	c := newTestCluster(t, nil)
	lonely := c.add() // opened, never bootstrapped or joined
	joiner := c.add()
	ctx := ctxT(t, 50*time.Second)
	start := time.Now()
	err := c.node(joiner).Join(ctx, c.addr(lonely))
	took := time.Since(start)
	if err == nil {
		t.Fatal("joined through a node that is in no cluster")
	}
	if !errors.Is(err, ErrNotInCluster) {
		t.Fatalf("join error %v does not wrap ErrNotInCluster", err)
	}
	if !strings.Contains(err.Error(), c.node(lonely).PeerID().String()) {
		t.Errorf("join error %q does not name the node asked", err)
	}
	// Generous for a loaded machine; the old behaviour took the whole
	// 60-second join window (and here would hit the 50-second context).
	if took > 15*time.Second {
		t.Fatalf("join took %v to fail", took)
	}
	// The node asked is still usable: it can bootstrap, and the same
	// joiner then gets in through it.
	if err := c.node(lonely).Bootstrap(ctx); err != nil {
		t.Fatalf("bootstrap after the failed join: %v", err)
	}
	if err := c.node(joiner).Join(ctx, c.addr(lonely)); err != nil {
		t.Fatalf("join after the node asked bootstrapped: %v", err)
	}
}
