package consensus

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/outlayer/outlayer/consensus/p2p"
	"github.com/outlayer/outlayer/store"
)

// stuckFollower is a real hashicorp/raft follower on its own libp2p host
// whose snapshot store never finishes a write: once a leader starts an
// InstallSnapshot to it, it stops reading the stream while its connection
// stays healthy (pings answered, other streams served). To the leader it is
// a peer that accepted the transfer and never reads.
type stuckFollower struct {
	host      *p2p.Host
	raft      *raft.Raft
	transport *raft.NetworkTransport
	snaps     *stuckSnapshots
}

func newStuckFollower(t *testing.T, leader *Node) *stuckFollower {
	t.Helper()
	h, err := p2p.New(context.Background(), p2p.Config{
		DataDir:     t.TempDir(),
		ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"},
	})
	if err != nil {
		t.Fatal(err)
	}
	h.Gater().SetMembers([]peer.ID{h.ID(), leader.host.ID()})
	h.AddAddrs(leader.host.ID(), leader.host.ListenAddrs())
	hlog := newHCLog(testLogger().With("node", "stuck"), "raft")
	trans := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  p2p.NewStreamLayer(h, p2p.RaftProtocol, p2p.StreamLayerConfig{}),
		MaxPool: 2,
		Timeout: 10 * time.Second,
		Logger:  hlog,
	})
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(h.ID().String())
	rc.Logger = hlog
	snaps := &stuckSnapshots{entered: make(chan struct{}), release: make(chan struct{})}
	logs := raft.NewInmemStore()
	r, err := raft.NewRaft(rc, nopFSM{}, logs, logs, snaps, trans)
	if err != nil {
		t.Fatal(err)
	}
	f := &stuckFollower{host: h, raft: r, transport: trans, snaps: snaps}
	t.Cleanup(f.close)
	return f
}

func (f *stuckFollower) close() {
	f.snaps.releaseOnce.Do(func() { close(f.snaps.release) })
	_ = f.raft.Shutdown().Error()
	_ = f.transport.Close()
	_ = f.host.Close()
}

// stuckSnapshots is a raft.SnapshotStore whose sinks block on their first
// write until released.
type stuckSnapshots struct {
	enterOnce, releaseOnce sync.Once
	entered, release       chan struct{}
}

func (s *stuckSnapshots) Create(raft.SnapshotVersion, uint64, uint64, raft.Configuration, uint64, raft.Transport) (raft.SnapshotSink, error) {
	return stuckSink{s}, nil
}
func (s *stuckSnapshots) List() ([]*raft.SnapshotMeta, error) { return nil, nil }
func (s *stuckSnapshots) Open(string) (*raft.SnapshotMeta, io.ReadCloser, error) {
	return nil, nil, errors.New("no snapshots")
}

type stuckSink struct{ s *stuckSnapshots }

func (k stuckSink) Write([]byte) (int, error) {
	k.s.enterOnce.Do(func() { close(k.s.entered) })
	<-k.s.release
	return 0, errors.New("released")
}
func (stuckSink) Close() error  { return nil }
func (stuckSink) Cancel() error { return nil }
func (stuckSink) ID() string    { return "stuck" }

type nopFSM struct{}

func (nopFSM) Apply(*raft.Log) any                 { return nil }
func (nopFSM) Snapshot() (raft.FSMSnapshot, error) { return nil, errors.New("no snapshots") }
func (nopFSM) Restore(rc io.ReadCloser) error      { return rc.Close() }

// TestCloseWithFollowerThatStopsReading reproduces a leader whose Raft
// shutdown waited behind a send to a peer that accepted and never read: an
// InstallSnapshot of a few MiB, whose write deadline hashicorp/raft scales
// to 10 s per 256 KiB (minutes). Close must return within its shutdown
// grace instead, and the data directory must be reusable at once.
func TestCloseWithFollowerThatStopsReading(t *testing.T) {
	c := newTestCluster(t, func(cfg *Config) {
		// Every entry but the last is compacted away at the snapshot, so
		// a new follower can only be caught up by InstallSnapshot.
		cfg.Raft.TrailingLogs = 1
		cfg.Raft.SnapshotThreshold = 1 << 40
		cfg.Raft.SnapshotInterval = time.Hour
	})
	c.bootstrap(1)
	leader := c.node(0)
	ctx := ctxT(t, 60*time.Second)
	const blobs, blobSize = 3, 1 << 20 // a 3 MiB snapshot: raft's deadline for it is 120 s
	for range blobs {
		data := make([]byte, blobSize)
		_, _ = rand.Read(data)
		if _, err := leader.Apply(ctx, &PutBlob{Hash: store.BlobHash(sha256.Sum256(data)), Data: data}); err != nil {
			t.Fatal(err)
		}
	}
	if err := leader.raft.Snapshot().Error(); err != nil {
		t.Fatalf("snapshot: %v", err)
	}

	f := newStuckFollower(t, leader)
	leader.host.AddAddrs(f.host.ID(), f.host.ListenAddrs())
	id := raft.ServerID(f.host.ID().String())
	if err := leader.raft.AddNonvoter(id, raft.ServerAddress(id), 0, 10*time.Second).Error(); err != nil {
		t.Fatalf("add the follower: %v", err)
	}
	select {
	case <-f.snaps.entered:
	case <-ctx.Done():
		t.Fatal("the leader never started an InstallSnapshot to the new follower")
	}

	closeLeaderWithin(t, c, "a follower stuck mid-InstallSnapshot")
}

// closeLeaderWithin closes node 0 of c while one of its peers (what)
// does not read, and fails unless Close returns within half of raftTimeout:
// without the stream layer ending Raft's streams, Raft would wait for its
// own deadlines (raftTimeout per RPC, far longer for a snapshot), and the
// stall limit alone would take raftTimeout. A Close quicker than
// shutdownGrace means Raft was not blocked, so the test proved nothing.
func closeLeaderWithin(t *testing.T, c *testCluster, what string) {
	t.Helper()
	start := time.Now()
	closed := make(chan error, 1)
	go func() { closed <- c.node(0).Close() }()
	const bound = raftTimeout / 2
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("close: %v", err)
		}
	case <-time.After(bound):
		t.Fatalf("Close still blocked %v after it was called, with %s", bound, what)
	}
	took := time.Since(start)
	c.mu.Lock()
	c.nodes[0] = nil
	c.mu.Unlock()
	t.Logf("Close took %v with %s", took.Round(time.Millisecond), what)
	if took < shutdownGrace {
		t.Errorf("Close took %v: Raft stopped before the grace ended, so no send to %s was blocked", took, what)
	}
}
