package consensus

import (
	"context"
	"crypto/rand"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/outlayer/outlayer/store"
)

func TestFiveNodesVoterLimitAndLeaderLoss(t *testing.T) {
	c := newTestCluster(t, func(cfg *Config) { cfg.Voters = 3 })
	c.bootstrap(5)
	ctx := ctxT(t, 90*time.Second)
	l := c.leader()

	servers, err := c.node(l).Servers()
	if err != nil {
		t.Fatal(err)
	}
	voters := 0
	for _, s := range servers {
		if s.Voter {
			voters++
		}
	}
	if len(servers) != 5 || voters != 3 {
		t.Fatalf("configuration: %d servers, %d voters; want 5 servers, 3 voters", len(servers), voters)
	}
	nodes, _ := c.node(l).Store().Nodes()
	roles := map[store.Role]int{}
	for _, n := range nodes {
		roles[n.Role]++
	}
	if roles[store.RoleVoter] != 3 || roles[store.RoleNonVoter] != 2 {
		t.Fatalf("node table roles %v, want 3 voters and 2 non-voters", roles)
	}
	nonVoter := -1
	for i := range c.nodes {
		for _, s := range servers {
			if s.ID == c.node(i).PeerID() && !s.Voter {
				nonVoter = i
			}
		}
	}

	// Writes go through a non-voter; the bootstrap's membership changes
	// may still move leadership on a loaded machine (Enqueue is idempotent).
	applyIdempotent(t, ctx, c.node(nonVoter), &Enqueue{Requests: []store.Request{testRequest(1)}})
	c.waitReplicated(1, store.StatusQueued)

	// Kill the leader: the two remaining voters elect a new one and the
	// cluster keeps taking writes.
	oldLeader := c.node(l).PeerID()
	c.stop(l)
	nl := c.leader()
	if c.node(nl).PeerID() == oldLeader {
		t.Fatal("the stopped leader is still leader")
	}
	applyIdempotent(t, ctx, c.node(nonVoter), &Enqueue{Requests: []store.Request{testRequest(2)}})
	c.waitReplicated(2, store.StatusQueued)

	// The old leader comes back and catches up from the log.
	c.start(l)
	c.waitReplicated(2, store.StatusQueued)
}

// refusingVerifier refuses chosen peers and otherwise defers to the
// simulated verifier.
type refusingVerifier struct {
	mu     sync.Mutex
	refuse map[peer.ID]bool
}

func (v *refusingVerifier) VerifyJoin(ctx context.Context, p peer.ID, nonce, ev []byte) ([]byte, error) {
	v.mu.Lock()
	bad := v.refuse[p]
	v.mu.Unlock()
	if bad {
		return nil, errors.New("measurement not in policy")
	}
	return SimulatedAttestation{}.VerifyJoin(ctx, p, nonce, ev)
}

// forgingAttester signs with a key that is not the node's own.
type forgingAttester struct{ key crypto.PrivKey }

func (f forgingAttester) Evidence(ctx context.Context, _ crypto.PrivKey, nonce []byte) ([]byte, error) {
	return SimulatedAttestation{}.Evidence(ctx, f.key, nonce)
}

func TestRefusedJoinChangesNothing(t *testing.T) {
	v := &refusingVerifier{refuse: map[peer.ID]bool{}}
	c := newTestCluster(t, nil)
	c.verify = v
	c.bootstrap(2)
	ctx := ctxT(t, 60*time.Second)
	l := c.leader()
	if _, err := c.node(l).Apply(ctx, &Enqueue{Requests: []store.Request{testRequest(1)}}); err != nil {
		t.Fatal(err)
	}

	snapshotState := func() (uint64, int, int) {
		if err := c.node(l).LinearizableRead(ctx); err != nil {
			t.Fatal(err)
		}
		s, err := c.node(l).Servers()
		if err != nil {
			t.Fatal(err)
		}
		nodes, err := c.node(l).Store().Nodes()
		if err != nil {
			t.Fatal(err)
		}
		return c.node(l).raft.LastIndex(), len(s), len(nodes)
	}
	idx0, servers0, nodes0 := snapshotState()

	// 1. The verifier refuses the joiner's attestation.
	bad := c.add()
	v.mu.Lock()
	v.refuse[c.node(bad).PeerID()] = true
	v.mu.Unlock()
	follower := 1 - l
	err := c.node(bad).Join(ctx, c.addr(follower))
	if !errors.Is(err, ErrJoinRefused) {
		t.Fatalf("join with a refused attestation: got %v, want ErrJoinRefused", err)
	}
	// 2. Evidence signed by another key (a forged identity).
	otherKey, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	forger := c.add()
	c.stop(forger)
	c.tune = func(cfg *Config) {
		if cfg.DataDir == c.dirs[forger] {
			cfg.Attester = forgingAttester{key: otherKey}
		}
	}
	c.start(forger)
	err = c.node(forger).Join(ctx, c.addr(l))
	if !errors.Is(err, ErrJoinRefused) {
		t.Fatalf("join with forged evidence: got %v, want ErrJoinRefused", err)
	}

	idx1, servers1, nodes1 := snapshotState()
	if servers1 != servers0 || nodes1 != nodes0 {
		t.Fatalf("refused joins changed membership: servers %d→%d, node records %d→%d", servers0, servers1, nodes0, nodes1)
	}
	if idx1 != idx0 {
		t.Fatalf("refused joins appended to the raft log: last index %d→%d", idx0, idx1)
	}
	// The refused peer is kept out: the gater no longer admits it.
	waitFor(t, 5*time.Second, "the refused joiner disconnected", func() bool {
		return !c.node(l).Host().Gater().Admitted(c.node(bad).PeerID()) &&
			len(c.node(l).Host().LibP2P().Network().ConnsToPeer(c.node(bad).PeerID())) == 0
	})
	// And it cannot reach members' protocols.
	var resp rpcResponse
	if _, err := c.node(bad).call(ctx, c.node(l).PeerID(), rpcRequest{Kind: rpcReadIndex}, &resp); err == nil && resp.Err == nil {
		t.Fatal("a refused peer could call the leader's RPC protocol")
	}
}

func TestRestartCatchesUpFromOwnSnapshotAndLog(t *testing.T) {
	c := newTestCluster(t, nil)
	c.bootstrap(3)
	ctx := ctxT(t, 90*time.Second)
	l := c.leader()
	f := (l + 1) % 3
	enqueue := func(from, to uint64) {
		t.Helper()
		for id := from; id <= to; id++ {
			if _, err := c.node(l).Apply(ctx, &Enqueue{Requests: []store.Request{testRequest(id)}}); err != nil {
				t.Fatalf("enqueue %d: %v", id, err)
			}
		}
	}
	enqueue(1, 20)
	c.waitReplicated(20, store.StatusQueued)
	if err := c.node(f).Snapshot(); err != nil {
		t.Fatalf("snapshot on follower: %v", err)
	}
	enqueue(21, 30)
	c.waitReplicated(30, store.StatusQueued)
	c.stop(f)
	enqueue(31, 40)
	// The follower restores its own snapshot, replays its log, and gets
	// the rest from the leader.
	c.start(f)
	c.waitReplicated(40, store.StatusQueued)
	for id := uint64(1); id <= 40; id++ {
		if _, err := c.jobOn(f, id); err != nil {
			t.Fatalf("restarted follower lacks request %d: %v", id, err)
		}
	}
}

func TestLaggingNodeInstallsSnapshot(t *testing.T) {
	c := newTestCluster(t, func(cfg *Config) {
		cfg.Raft.TrailingLogs = 8
		cfg.Raft.SnapshotThreshold = 1 << 20 // only explicit snapshots
	})
	c.bootstrap(3)
	ctx := ctxT(t, 90*time.Second)
	l := c.leader()
	f := (l + 1) % 3
	c.stop(f)
	for id := uint64(1); id <= 60; id++ {
		if _, err := c.node(l).Apply(ctx, &Enqueue{Requests: []store.Request{testRequest(id)}}); err != nil {
			t.Fatalf("enqueue %d: %v", id, err)
		}
	}
	if err := c.node(l).Snapshot(); err != nil {
		t.Fatalf("leader snapshot: %v", err)
	}
	first, err := c.node(l).logStore.FirstIndex()
	if err != nil {
		t.Fatal(err)
	}
	if first < 20 {
		t.Fatalf("the leader kept its log from index %d; the test needs it compacted", first)
	}
	c.start(f)
	c.waitReplicated(60, store.StatusQueued)
	waitFor(t, 10*time.Second, "the restarted follower to have installed a snapshot", func() bool {
		return c.node(f).Stats()["last_snapshot_index"] != "0"
	})
	// Membership came with the snapshot: the follower's node table knows
	// everyone.
	nodes, err := c.node(f).Store().Nodes()
	if err != nil || len(nodes) != 3 {
		t.Fatalf("follower node table after snapshot install: %d records, %v", len(nodes), err)
	}
}

// cut severs the links between node a and every node in others, both ways.
func (c *testCluster) cut(a int, others ...int) {
	for _, b := range others {
		c.node(a).Host().Cut(c.node(b).PeerID())
		c.node(b).Host().Cut(c.node(a).PeerID())
	}
}

func (c *testCluster) heal(a int, others ...int) {
	for _, b := range others {
		c.node(a).Host().Heal(c.node(b).PeerID())
		c.node(b).Host().Heal(c.node(a).PeerID())
	}
}

func TestPartitionedLeaderHeals(t *testing.T) {
	c := newTestCluster(t, nil)
	c.bootstrap(3)
	ctx := ctxT(t, 90*time.Second)
	l := c.leader()
	a, b := (l+1)%3, (l+2)%3
	if _, err := c.node(a).Apply(ctx, &Enqueue{Requests: []store.Request{testRequest(1)}}); err != nil {
		t.Fatal(err)
	}
	c.waitReplicated(1, store.StatusQueued)

	c.cut(l, a, b)
	waitFor(t, 20*time.Second, "the majority side to elect a new leader", func() bool {
		return c.node(a).IsLeader() || c.node(b).IsLeader()
	})
	// The isolated old leader cannot commit.
	short, cancel := context.WithTimeout(ctx, time.Second)
	_, err := c.node(l).Apply(short, &Enqueue{Requests: []store.Request{testRequest(99)}})
	cancel()
	if err == nil {
		t.Fatal("the isolated old leader committed a write")
	}
	if _, err := c.node(a).Apply(ctx, &Enqueue{Requests: []store.Request{testRequest(2)}}); err != nil {
		t.Fatalf("write on the majority side: %v", err)
	}

	c.heal(l, a, b)
	c.waitReplicated(2, store.StatusQueued)
	if err := c.node(l).LinearizableRead(ctx); err != nil {
		t.Fatalf("linearizable read on the healed node: %v", err)
	}
	// The old leader's uncommitted write is gone everywhere (or, if the
	// ambiguous write was re-proposed by nobody, simply absent).
	for i := 0; i < 3; i++ {
		if j, err := c.jobOn(i, 99); err == nil {
			t.Fatalf("node %d has request 99 (%s) which the minority leader never committed", i, j.Status)
		}
	}
}

func TestWholeClusterRestart(t *testing.T) {
	c := newTestCluster(t, nil)
	c.bootstrap(3)
	ctx := ctxT(t, 60*time.Second)
	if _, err := c.node(1).Apply(ctx, &Enqueue{Requests: []store.Request{testRequest(1)}}); err != nil {
		t.Fatal(err)
	}
	c.waitReplicated(1, store.StatusQueued)
	for i := 0; i < 3; i++ {
		c.stop(i)
	}
	// Every node comes back with no bootstrap addresses: each finds the
	// others from its saved address book, they elect a leader and the
	// state is rebuilt from the raft log.
	for i := 0; i < 3; i++ {
		c.start(i)
	}
	c.leader()
	if _, err := c.node(2).Apply(ctx, &Enqueue{Requests: []store.Request{testRequest(2)}}); err != nil {
		t.Fatalf("write after a whole-cluster restart: %v", err)
	}
	c.waitReplicated(1, store.StatusQueued)
	c.waitReplicated(2, store.StatusQueued)
}
