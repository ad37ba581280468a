package consensus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/outlayer/outlayer/consensus/p2p"
	"github.com/outlayer/outlayer/store"
)

// testCluster is a set of in-process nodes on loopback, each with its own
// data directory, that tests stop, restart and partition.
type testCluster struct {
	t      testing.TB
	mu     sync.Mutex
	nodes  []*Node
	dirs   []string
	ports  []string
	tune   func(*Config)
	verify JoinVerifier
	base   string
}

func testLogger() *slog.Logger {
	if os.Getenv("CONSENSUS_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// fastRaft keeps elections quick on loopback while leaving room for a
// loaded 2-core machine.
func fastRaft() RaftTuning {
	return RaftTuning{
		HeartbeatTimeout:   300 * time.Millisecond,
		ElectionTimeout:    300 * time.Millisecond,
		LeaderLeaseTimeout: 200 * time.Millisecond,
		CommitTimeout:      5 * time.Millisecond,
	}
}

func newTestCluster(t *testing.T, tune func(*Config)) *testCluster {
	// The base directory is registered first so that its removal runs
	// after the nodes are closed (cleanups run last-in first-out).
	c := &testCluster{t: t, tune: tune, base: t.TempDir()}
	t.Cleanup(c.closeAll)
	return c
}

func (c *testCluster) config(i int) Config {
	listen := "/ip4/127.0.0.1/tcp/" + c.ports[i]
	cfg := Config{
		DataDir:     c.dirs[i],
		ListenAddrs: []string{listen},
		DevMode:     true,
		// Dev joins need the cluster's join secret.
		DevJoinSecret: []byte("consensus test cluster secret"),
		Raft:          fastRaft(),
		Logger:        testLogger().With("node", i),
	}
	if c.verify != nil {
		cfg.Verifier = c.verify
	}
	if c.tune != nil {
		c.tune(&cfg)
	}
	return cfg
}

// add opens a new node (not yet in any cluster) and returns its index.
func (c *testCluster) add() int {
	c.t.Helper()
	c.mu.Lock()
	i := len(c.nodes)
	c.dirs = append(c.dirs, filepath.Join(c.base, fmt.Sprintf("node%d", i)))
	c.ports = append(c.ports, "0")
	c.nodes = append(c.nodes, nil)
	c.mu.Unlock()
	c.start(i)
	return i
}

// start (re)opens node i on its port.
func (c *testCluster) start(i int) {
	c.t.Helper()
	n, err := Open(context.Background(), c.config(i))
	if err != nil {
		c.t.Fatalf("open node %d: %v", i, err)
	}
	// Remember the port so a restart comes back at the same address.
	for _, a := range n.host.ListenAddrs() {
		if p, err := a.ValueForProtocol(6 /* tcp */); err == nil {
			c.ports[i] = p
		}
	}
	c.mu.Lock()
	c.nodes[i] = n
	c.mu.Unlock()
}

func (c *testCluster) stop(i int) {
	c.t.Helper()
	c.mu.Lock()
	n := c.nodes[i]
	c.nodes[i] = nil
	c.mu.Unlock()
	if n != nil {
		if err := n.Close(); err != nil {
			c.t.Errorf("close node %d: %v", i, err)
		}
	}
}

func (c *testCluster) closeAll() {
	for i := range c.nodes {
		c.stop(i)
	}
}

func (c *testCluster) node(i int) *Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[i]
}

func (c *testCluster) addr(i int) string {
	return c.node(i).Addrs()[0].String()
}

// bootstrap creates a cluster of n nodes: node 0 bootstraps, each later node
// joins through the previous one (so most joins go through a non-leader).
func (c *testCluster) bootstrap(n int) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c.add()
	if err := c.node(0).Bootstrap(ctx); err != nil {
		c.t.Fatalf("bootstrap: %v", err)
	}
	for i := 1; i < n; i++ {
		c.add()
		if err := c.node(i).Join(ctx, c.addr(i-1)); err != nil {
			c.t.Fatalf("node %d join via node %d: %v", i, i-1, err)
		}
	}
}

// leader waits until the live nodes agree on a leader and returns its index.
func (c *testCluster) leader() int {
	c.t.Helper()
	var idx int
	waitFor(c.t, 20*time.Second, "a leader all live nodes agree on", func() bool {
		idx = -1
		var lid peer.ID
		for i := range c.nodes {
			n := c.node(i)
			if n == nil {
				continue
			}
			l := n.Leader()
			if l == "" || (lid != "" && l != lid) {
				return false
			}
			lid = l
			if n.IsLeader() {
				idx = i
			}
		}
		return idx >= 0
	})
	return idx
}

// applyIdempotent applies cmd through n, asking again while the outcome is
// unknown or no leader is known: on a loaded machine a leader can lose its
// lease (fastRaft's is 200 ms) while an entry commits, as it can in
// production. For commands that are safe to apply twice, in tests that are
// not about leadership.
func applyIdempotent(t testing.TB, ctx context.Context, n *Node, cmd Command) Result {
	t.Helper()
	res, err := poll(ctx, n, retryInterval, func() (Result, error) {
		res, err := n.Apply(ctx, cmd)
		if err != nil && !errors.Is(err, ErrIndeterminate) && !errors.Is(err, ErrNoLeader) {
			return res, backoff.Permanent(err)
		}
		if err != nil {
			t.Logf("%T: %v; asking again", cmd, err)
		}
		return res, err
	})
	if err != nil {
		t.Fatalf("apply %T: %v", cmd, err)
	}
	return res
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		<-tick.C
	}
}

func testRequest(id uint64) store.Request {
	return store.Request{
		ID:          id,
		Sender:      "caller.test",
		Code:        store.CodeSource{Git: &store.GitSource{Repo: "github.com/example/prog", Commit: "0123abcd"}},
		Input:       "input-" + strconv.FormatUint(id, 10),
		Deposit:     "1000",
		BlockHeight: id,
	}
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// jobOn reads a request from node i's replica.
func (c *testCluster) jobOn(i int, id uint64) (*store.Job, error) {
	return c.node(i).Store().Get(id)
}

// waitReplicated waits until every live node has request id in status st.
func (c *testCluster) waitReplicated(id uint64, st store.Status) {
	c.t.Helper()
	waitFor(c.t, 20*time.Second, fmt.Sprintf("request %d %s on every node", id, st), func() bool {
		for i := range c.nodes {
			if c.node(i) == nil {
				continue
			}
			j, err := c.jobOn(i, id)
			if err != nil || j.Status != st {
				return false
			}
		}
		return true
	})
}

func TestThreeNodeClusterLifecycle(t *testing.T) {
	c := newTestCluster(t, nil)
	c.bootstrap(3)
	ctx := ctxT(t, 60*time.Second)
	l := c.leader()
	f := (l + 1) % 3

	servers, err := c.node(l).Servers()
	if err != nil {
		t.Fatal(err)
	}
	if len(servers) != 3 {
		t.Fatalf("raft configuration has %d servers, want 3: %v", len(servers), servers)
	}
	for _, s := range servers {
		if !s.Voter {
			t.Errorf("server %s is a non-voter; the first 3 nodes must be voters", s.ID)
		}
	}
	nodes, err := c.node(l).Store().Nodes()
	if err != nil || len(nodes) != 3 {
		t.Fatalf("node table has %d records (err %v), want 3", len(nodes), err)
	}
	for _, rec := range nodes {
		if !strings.Contains(rec.AttestationSummary, "simulated") || len(rec.Attestation) == 0 {
			t.Errorf("node %s: attestation %q / %d bytes; want a simulated report", rec.PeerID, rec.AttestationSummary, len(rec.Attestation))
		}
	}

	// A write through a follower is forwarded and returns the apply result.
	res, err := c.node(f).Apply(ctx, &Enqueue{Requests: []store.Request{testRequest(1)}, Cursor: &store.Cursor{Height: 1}})
	if err != nil {
		t.Fatalf("enqueue via follower: %v", err)
	}
	if len(res.Enqueued) != 1 || res.Enqueued[0] != store.Enqueued || res.Index == 0 {
		t.Fatalf("enqueue result %+v, want one Enqueued with an index", res)
	}
	// Read-your-writes: the proposing follower's own replica already has it.
	if got, err := c.node(f).Store().Get(1); err != nil || got.Status != store.StatusQueued {
		t.Fatalf("follower's replica right after its forwarded enqueue: %+v %v, want the queued request", got, err)
	}
	res, err = c.node(f).Apply(ctx, &Enqueue{Requests: []store.Request{testRequest(1)}})
	if err != nil || res.Enqueued[0] != store.AlreadyKnown {
		t.Fatalf("second enqueue: %+v %v, want AlreadyKnown", res, err)
	}
	// Typed store errors survive forwarding.
	_, err = c.node(f).Apply(ctx, &Enqueue{Requests: []store.Request{testRequest(2)}, Cursor: &store.Cursor{Height: 0}})
	if !errors.Is(err, store.ErrCursorRegression) {
		t.Fatalf("cursor regression via follower: got %v, want store.ErrCursorRegression", err)
	}
	if _, err := c.node(f).Store().Get(2); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a refused enqueue must change nothing; request 2: %v", err)
	}

	lease := time.Now().Add(time.Minute)
	res, err = c.node(f).Apply(ctx, &Assign{ID: 1, Node: c.node(f).PeerID().String(), LeaseUntil: lease})
	if err != nil || res.Job == nil || res.Job.Status != store.StatusAssigned {
		t.Fatalf("assign: %+v %v", res, err)
	}
	_, err = c.node(l).Apply(ctx, &Assign{ID: 1, Node: "someone-else", LeaseUntil: lease})
	if !errors.Is(err, store.ErrInvalidTransition) {
		t.Fatalf("assigning an assigned request: got %v, want ErrInvalidTransition", err)
	}
	res, err = c.node(f).Apply(ctx, &Complete{ID: 1, Node: c.node(f).PeerID().String(), Result: store.Result{Success: true, Output: []byte("out")}})
	if err != nil || res.Completed != store.Accepted {
		t.Fatalf("complete: %+v %v", res, err)
	}
	res, err = c.node(f).Apply(ctx, &Complete{ID: 1, Node: c.node(f).PeerID().String(), Result: store.Result{Success: true, Output: []byte("out")}})
	if err != nil || res.Completed != store.Duplicate {
		t.Fatalf("second complete: %+v %v, want Duplicate", res, err)
	}

	// A linearizable read on the other follower sees the completion.
	o := 3 - l - f
	if err := c.node(o).LinearizableRead(ctx); err != nil {
		t.Fatalf("linearizable read on follower: %v", err)
	}
	j, err := c.jobOn(o, 1)
	if err != nil || j.Status != store.StatusCompleted || string(j.Result.Output) != "out" {
		t.Fatalf("after a linearizable read the follower must see the completed request: %+v %v", j, err)
	}
	// The FSM's time is the leader's clock, identical on every replica.
	c.waitReplicated(1, store.StatusCompleted)
	jl, _ := c.jobOn(l, 1)
	if !jl.DoneAt.Equal(j.DoneAt) || jl.DoneAt.IsZero() {
		t.Fatalf("replicas disagree on the completion time: leader %v, follower %v", jl.DoneAt, j.DoneAt)
	}

	// A follower leaves gracefully; the leader then leaves too (handing
	// leadership over first).
	if err := c.node(f).Leave(ctx); err != nil {
		t.Fatalf("follower leave: %v", err)
	}
	leftID := c.node(f).PeerID()
	c.stop(f)
	waitFor(t, 10*time.Second, "the departed follower gone from the configuration and node table", func() bool {
		s, err := c.node(l).Servers()
		if err != nil || len(s) != 2 {
			return false
		}
		_, err = c.node(o).Store().Node(leftID.String())
		return errors.Is(err, store.ErrNotFound)
	})
	if _, err := c.node(o).Apply(ctx, &Enqueue{Requests: []store.Request{testRequest(3)}}); err != nil {
		t.Fatalf("write after a follower left: %v", err)
	}

	// The leader leaves: it hands leadership to the remaining voter first.
	if err := c.node(l).Leave(ctx); err != nil {
		t.Fatalf("leader leave: %v", err)
	}
	c.stop(l)
	waitFor(t, 10*time.Second, "the remaining node alone and leading", func() bool {
		s, err := c.node(o).Servers()
		return err == nil && len(s) == 1 && c.node(o).IsLeader()
	})
	if _, err := c.node(o).Apply(ctx, &Enqueue{Requests: []store.Request{testRequest(4)}}); err != nil {
		t.Fatalf("write after the leader left: %v", err)
	}
	if err := c.node(o).Leave(ctx); err == nil {
		t.Fatal("the last voter must not be allowed to leave")
	}
}

type peerID = peer.ID

func peerIDOfDir(t testing.TB, dir string) peer.ID {
	key, err := p2p.LoadOrCreateIdentity(dir)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return id
}
