package consensus

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	bolt "go.etcd.io/bbolt"

	"github.com/outlayer/outlayer/consensus/p2p"
	"github.com/outlayer/outlayer/store"
)

// Config configures a consensus node.
type Config struct {
	// DataDir holds the node key, the Raft log, snapshots and the store.
	DataDir string
	// ListenAddrs are libp2p TCP multiaddrs (tests: /ip4/127.0.0.1/tcp/0).
	ListenAddrs []string
	// Bootstrap lists members to join through and to reconnect to, each a
	// multiaddr ending in /p2p/<peer id>.
	Bootstrap []string
	// Voters is how many voters the cluster keeps; nodes joining past it
	// join as non-voters. Default 3.
	Voters int
	// DevMode allows simulated attestation (every report then says so).
	DevMode bool
	// Verifier checks joiners' evidence; Attester produces this node's.
	// Both default to SimulatedAttestation in dev mode and are required
	// otherwise.
	Verifier JoinVerifier
	Attester Attester
	// Raft tunes timeouts and snapshots; zero fields take Raft's defaults.
	Raft RaftTuning
	// Logger receives all log lines, including Raft's. Default slog.Default.
	Logger *slog.Logger
}

// RaftTuning are the Raft knobs worth changing. Zero means the default.
type RaftTuning struct {
	HeartbeatTimeout   time.Duration
	ElectionTimeout    time.Duration
	LeaderLeaseTimeout time.Duration
	CommitTimeout      time.Duration
	SnapshotInterval   time.Duration
	SnapshotThreshold  uint64
	TrailingLogs       uint64
	MaxAppendEntries   int
}

// Node is one member of the cluster: a libp2p host, a Raft instance and the
// store it replicates into.
type Node struct {
	cfg   Config
	log   *slog.Logger
	key   crypto.PrivKey
	lock  *dirLock
	host  *p2p.Host
	store *store.Store

	raft      *raft.Raft
	transport *raft.NetworkTransport
	logStore  *raftboltdb.BoltStore
	fsm       *fsm

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	refresh chan struct{}
	notify  chan bool

	// voterCheck wakes the voter loop; voterMu keeps a promotion and a
	// join from filling the same voter vacancy.
	voterCheck chan struct{}
	voterMu    sync.Mutex

	subsMu sync.Mutex
	subs   map[chan bool]struct{}

	joinMu  sync.Mutex
	pending map[peer.ID]pendingJoin
	// joinSeed is the member set learned when joining, kept in the gater
	// until this node's replica holds its own record (by then the replica
	// knows every member itself).
	joinSeed []peer.ID

	barrierTerm atomic.Uint64
	closed      atomic.Bool
	closeOnce   sync.Once
}

type pendingJoin struct {
	nonce   []byte
	expires time.Time
}

// joinWindow is how long a join handshake may take end to end.
const joinWindow = time.Minute

// Open starts the libp2p host, the store and Raft. A fresh node is in no
// cluster until Bootstrap or Join; a restarted node rejoins its cluster on
// its own from the state in DataDir.
func Open(ctx context.Context, cfg Config) (*Node, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("consensus: no data directory configured")
	}
	if cfg.Voters <= 0 {
		cfg.Voters = 3
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Verifier == nil || cfg.Attester == nil {
		if !cfg.DevMode {
			return nil, errors.New("consensus: no attestation verifier or attester configured; simulated attestation is only allowed in dev mode")
		}
		if cfg.Verifier == nil {
			cfg.Verifier = SimulatedAttestation{}
		}
		if cfg.Attester == nil {
			cfg.Attester = SimulatedAttestation{}
		}
	}
	if _, sim := cfg.Verifier.(SimulatedAttestation); sim && !cfg.DevMode {
		return nil, errors.New("consensus: the simulated attestation verifier is only allowed in dev mode")
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("consensus: create data directory: %w", err)
	}
	log := cfg.Logger.With("component", "consensus")

	// The lock comes first: the identity key, the store and the Raft log
	// all assume this process is alone in the directory.
	lock, err := lockDataDir(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	key, err := p2p.LoadOrCreateIdentity(cfg.DataDir)
	if err != nil {
		_ = lock.release()
		return nil, fmt.Errorf("consensus: %w", err)
	}

	n := &Node{
		cfg:        cfg,
		log:        log,
		key:        key,
		lock:       lock,
		refresh:    make(chan struct{}, 1),
		voterCheck: make(chan struct{}, 1),
		notify:     make(chan bool, 64),
		subs:       map[chan bool]struct{}{},
		pending:    map[peer.ID]pendingJoin{},
	}
	n.ctx, n.cancel = context.WithCancel(context.WithoutCancel(ctx))
	ok := false
	defer func() {
		if !ok {
			n.Close()
		}
	}()

	n.host, err = p2p.New(ctx, p2p.Config{
		DataDir:     cfg.DataDir,
		ListenAddrs: cfg.ListenAddrs,
		Gater:       p2p.GaterConfig{CandidateWindow: joinWindow},
		Logger:      cfg.Logger.With("component", "p2p"),
	})
	if err != nil {
		return nil, fmt.Errorf("consensus: %w", err)
	}

	raftDir := filepath.Join(cfg.DataDir, "raft")
	if err := os.MkdirAll(raftDir, 0o700); err != nil {
		return nil, fmt.Errorf("consensus: create raft directory: %w", err)
	}
	n.logStore, err = raftboltdb.New(raftboltdb.Options{
		Path: filepath.Join(raftDir, "raft.db"),
		BoltOptions: &bolt.Options{
			// The data directory lock makes this wait moot; it only
			// turns a surprise into an error instead of a hang.
			Timeout: time.Second,
			// Every append is a commit with fsync: not writing the
			// freelist on each one halves the pages written. bbolt
			// rebuilds the freelist by scanning on open.
			NoFreelistSync: true,
			FreelistType:   bolt.FreelistMapType,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("consensus: open raft log %s: %w", filepath.Join(raftDir, "raft.db"), err)
	}
	hlog := newHCLog(cfg.Logger, "raft")
	snaps, err := raft.NewFileSnapshotStoreWithLogger(raftDir, 2, hlog)
	if err != nil {
		return nil, fmt.Errorf("consensus: open snapshot store: %w", err)
	}
	// The store runs without fsync: the Raft log is the durable copy. It
	// is kept across a clean shutdown (synced, applied index recorded in
	// the same transactions as the data) and rebuilt from the latest
	// snapshot and the log after anything else. See DESIGN.md, "Snapshots
	// and restarts".
	var held uint64
	var skipRestore bool
	n.store, held, skipRestore, err = openState(cfg.DataDir, store.Options{NoSync: true, Logger: cfg.Logger}, n.logStore, snaps, log)
	if err != nil {
		return nil, fmt.Errorf("consensus: %w", err)
	}
	stream := p2p.NewStreamLayer(n.host, p2p.RaftProtocol)
	n.transport = raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  stream,
		MaxPool: 4,
		Timeout: 10 * time.Second,
		Logger:  hlog,
	})

	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(n.host.ID().String())
	rc.Logger = hlog
	rc.NotifyCh = n.notify
	rc.BatchApplyCh = true
	rc.NoSnapshotRestoreOnStart = skipRestore
	applyTuning(rc, cfg.Raft)
	if err := raft.ValidateConfig(rc); err != nil {
		return nil, fmt.Errorf("consensus: raft configuration: %w", err)
	}
	f := &fsm{store: n.store, log: log, membershipChanged: n.requestRefresh}
	f.held.Store(held)
	f.applied.Store(held)
	n.fsm = f
	n.raft, err = raft.NewRaft(rc, f, n.logStore, n.logStore, snaps, n.transport)
	if err != nil {
		return nil, fmt.Errorf("consensus: start raft: %w", err)
	}
	// NewRaft restored the latest snapshot (if any) into the store: the
	// store holds everything up to its index.
	f.applied.Store(max(f.applied.Load(), n.raft.AppliedIndex()))

	n.host.Handle(RPCProtocol, n.handleRPC)
	n.host.HandleAdmitted(JoinProtocol, n.handleJoin)

	n.loadPeers()
	for _, s := range cfg.Bootstrap {
		info, err := p2p.ParseAddrInfo(s)
		if err != nil {
			return nil, fmt.Errorf("consensus: bootstrap peer: %w", err)
		}
		n.host.AddAddrs(info.ID, info.Addrs)
	}

	n.wg.Add(3)
	go n.refreshLoop()
	go n.leadershipLoop()
	go n.voterLoop()
	n.refreshMembership()
	ok = true
	log.Info("consensus node open", "peer", n.host.ID(), "data_dir", cfg.DataDir)
	return n, nil
}

func applyTuning(rc *raft.Config, t RaftTuning) {
	if t.HeartbeatTimeout > 0 {
		rc.HeartbeatTimeout = t.HeartbeatTimeout
	}
	if t.ElectionTimeout > 0 {
		rc.ElectionTimeout = t.ElectionTimeout
	}
	if t.LeaderLeaseTimeout > 0 {
		rc.LeaderLeaseTimeout = t.LeaderLeaseTimeout
	}
	if t.CommitTimeout > 0 {
		rc.CommitTimeout = t.CommitTimeout
	}
	if t.SnapshotInterval > 0 {
		rc.SnapshotInterval = t.SnapshotInterval
	}
	if t.SnapshotThreshold > 0 {
		rc.SnapshotThreshold = t.SnapshotThreshold
	}
	if t.TrailingLogs > 0 {
		rc.TrailingLogs = t.TrailingLogs
	}
	if t.MaxAppendEntries > 0 {
		rc.MaxAppendEntries = t.MaxAppendEntries
	}
}

// Store is the local replica for reads. Writes go through Apply.
func (n *Node) Store() *store.Store { return n.store }

// Host is the libp2p host, for the daemon's own protocols (blob fetch):
// Host().Handle registers a members-only protocol, Host().NewStream opens
// a stream to a peer.
func (n *Node) Host() *p2p.Host { return n.host }

// PeerID is this node's identity.
func (n *Node) PeerID() peer.ID { return n.host.ID() }

// Addrs are this node's dialable addresses (with /p2p/<peer id>).
func (n *Node) Addrs() []ma.Multiaddr { return n.host.Addrs() }

// IsLeader reports whether this node is the Raft leader now.
func (n *Node) IsLeader() bool { return n.raft.State() == raft.Leader }

// Leader returns the current leader's peer id, or "" when none is known.
func (n *Node) Leader() peer.ID {
	_, id := n.raft.LeaderWithID()
	if id == "" {
		return ""
	}
	p, err := peer.Decode(string(id))
	if err != nil {
		return ""
	}
	return p
}

// Server is one member of the Raft configuration.
type Server struct {
	ID    peer.ID
	Voter bool
}

// Servers returns the latest Raft configuration.
func (n *Node) Servers() ([]Server, error) {
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, fmt.Errorf("read raft configuration: %w", err)
	}
	var out []Server
	for _, s := range f.Configuration().Servers {
		p, err := peer.Decode(string(s.ID))
		if err != nil {
			continue
		}
		out = append(out, Server{ID: p, Voter: s.Suffrage == raft.Voter})
	}
	return out, nil
}

// AppliedIndex is the last log index applied to the local store.
func (n *Node) AppliedIndex() uint64 { return n.raft.AppliedIndex() }

// Stats returns Raft's statistics.
func (n *Node) Stats() map[string]string { return n.raft.Stats() }

// Snapshot forces a Raft snapshot now (operators, tests).
func (n *Node) Snapshot() error {
	if err := n.raft.Snapshot().Error(); err != nil {
		return fmt.Errorf("raft snapshot: %w", err)
	}
	return nil
}

// Subscribe returns a channel that receives true when this node becomes
// leader and false when it stops being leader, so the daemon can start and
// stop leader-only loops. Only the latest value matters: a slow reader
// sees the current state, not every flap. cancel releases the channel.
func (n *Node) Subscribe() (<-chan bool, func()) {
	ch := make(chan bool, 1)
	n.subsMu.Lock()
	n.subs[ch] = struct{}{}
	n.subsMu.Unlock()
	if n.IsLeader() {
		ch <- true
	}
	return ch, func() {
		n.subsMu.Lock()
		delete(n.subs, ch)
		n.subsMu.Unlock()
	}
}

// LeaderCh is Subscribe for callers that keep the channel for the life of
// the node.
func (n *Node) LeaderCh() <-chan bool {
	ch, _ := n.Subscribe()
	return ch
}

func (n *Node) leadershipLoop() {
	defer n.wg.Done()
	for {
		select {
		case <-n.ctx.Done():
			return
		case leader := <-n.notify:
			n.log.Info("leadership changed", "leader", leader, "peer", n.host.ID())
			if leader {
				n.requestVoterCheck()
			}
			n.subsMu.Lock()
			for ch := range n.subs {
				select {
				case <-ch:
				default:
				}
				ch <- leader
			}
			n.subsMu.Unlock()
		}
	}
}

func (n *Node) requestRefresh() {
	select {
	case n.refresh <- struct{}{}:
	default:
	}
}

func (n *Node) refreshLoop() {
	defer n.wg.Done()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-n.refresh:
			n.refreshMembership()
			n.requestVoterCheck()
		}
	}
}

// refreshMembership tells the gater who the members are: the replicated
// node table, the Raft configuration, and (while joining) the members the
// leader named. Members' addresses from the node table go to the peerstore.
func (n *Node) refreshMembership() {
	self := n.host.ID()
	ids := []peer.ID{self}
	seenSelf := false
	if nodes, err := n.store.Nodes(); err == nil {
		for _, rec := range nodes {
			p, err := peer.Decode(rec.PeerID)
			if err != nil {
				continue
			}
			if p == self {
				seenSelf = true
			}
			ids = append(ids, p)
			var addrs []ma.Multiaddr
			for _, s := range rec.Addresses {
				if a, err := ma.NewMultiaddr(s); err == nil {
					addrs = append(addrs, stripP2P(a))
				}
			}
			if p != self && len(addrs) > 0 {
				n.host.AddAddrs(p, addrs)
			}
		}
	} else {
		n.log.Warn("read node table", "err", err)
	}
	if f := n.raft.GetConfiguration(); f.Error() == nil {
		for _, s := range f.Configuration().Servers {
			if p, err := peer.Decode(string(s.ID)); err == nil {
				ids = append(ids, p)
			}
		}
	}
	n.joinMu.Lock()
	if seenSelf {
		n.joinSeed = nil
	}
	ids = append(ids, n.joinSeed...)
	n.joinMu.Unlock()
	slices.Sort(ids)
	ids = slices.Compact(ids)
	n.host.Gater().SetMembers(ids)
	n.host.Enforce()
	n.savePeers(ids)
}

// peersFile remembers members' addresses across restarts, so a node whose
// whole cluster restarted can find its peers before its replica is rebuilt.
const peersFile = "peers.json"

func (n *Node) savePeers(ids []peer.ID) {
	book := map[string][]string{}
	for _, id := range ids {
		if id == n.host.ID() {
			continue
		}
		if addrs := n.host.PeerAddrs(id); len(addrs) > 0 {
			book[id.String()] = addrStrings(addrs)
		}
	}
	raw, err := json.Marshal(book)
	if err != nil {
		return
	}
	path := filepath.Join(n.cfg.DataDir, peersFile)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, raw, 0o600); err != nil {
		n.log.Warn("save peer addresses", "err", err)
		return
	}
	if err := os.Rename(tmp, path); err != nil {
		n.log.Warn("save peer addresses", "err", err)
	}
}

func (n *Node) loadPeers() {
	raw, err := os.ReadFile(filepath.Join(n.cfg.DataDir, peersFile))
	if err != nil {
		return
	}
	var book map[string][]string
	if err := json.Unmarshal(raw, &book); err != nil {
		n.log.Warn("ignoring unreadable peer address book", "file", peersFile, "err", err)
		return
	}
	for id, addrs := range book {
		p, err := peer.Decode(id)
		if err != nil {
			continue
		}
		var as []ma.Multiaddr
		for _, s := range addrs {
			if a, err := ma.NewMultiaddr(s); err == nil {
				as = append(as, a)
			}
		}
		n.host.AddAddrs(p, as)
	}
}

// Apply proposes cmd and returns what applying it did. On a follower the
// command is forwarded to the leader over libp2p. The time the FSM sees is
// the leader's clock when it proposes. Errors from the store keep their
// sentinels (errors.Is(err, store.ErrInvalidTransition)). ErrIndeterminate
// means the outcome is unknown. When Apply returns, the write is visible in
// this node's own Store() (read-your-writes), on followers too.
func (n *Node) Apply(ctx context.Context, cmd Command) (Result, error) {
	b, err := encodeCommand(cmd, time.Time{})
	if err != nil {
		return Result{}, err
	}
	return n.applyEncoded(ctx, b)
}

func (n *Node) applyEncoded(ctx context.Context, b []byte) (Result, error) {
	for {
		if n.closed.Load() {
			return Result{}, ErrClosed
		}
		if n.IsLeader() {
			res, err := n.applyLocal(ctx, b)
			if errors.Is(err, ErrNotLeader) {
				continue
			}
			return res, err
		}
		leader, err := n.waitLeader(ctx)
		if err != nil {
			return Result{}, err
		}
		if leader == n.host.ID() {
			continue
		}
		var resp rpcResponse
		sent, err := n.call(ctx, leader, rpcRequest{Kind: rpcApply, Command: b}, &resp)
		if err != nil {
			if !sent {
				if err := n.pause(ctx); err != nil {
					return Result{}, err
				}
				continue
			}
			return Result{}, fmt.Errorf("%w: forwarding to leader %s: %w", ErrIndeterminate, leader, err)
		}
		if rerr := fromWire(resp.Err); rerr != nil {
			if errors.Is(rerr, ErrNotLeader) || errors.Is(rerr, ErrNoLeader) {
				if err := n.pause(ctx); err != nil {
					return Result{}, err
				}
				continue
			}
			return Result{}, rerr
		}
		if resp.Result == nil {
			return Result{}, fmt.Errorf("%w: leader %s sent no result", ErrIndeterminate, leader)
		}
		// Read-your-writes: the proposer reads its own replica next, so
		// return only once that replica has applied the entry. If ctx ends
		// first the write still stands; only its local visibility is late.
		if err := n.waitApplied(ctx, resp.Result.Index); err != nil {
			n.log.Debug("forwarded write committed but not yet applied locally", "index", resp.Result.Index, "err", err)
		}
		return *resp.Result, nil
	}
}

// applyLocal runs on the leader: stamp the leader's clock, append, wait.
func (n *Node) applyLocal(ctx context.Context, b []byte) (Result, error) {
	stamped := slices.Clone(b)
	binary.BigEndian.PutUint64(stamped[2:10], uint64(time.Now().UnixNano()))
	timeout := time.Duration(0)
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
		if timeout <= 0 {
			return Result{}, ctx.Err()
		}
	}
	fut := n.raft.Apply(stamped, timeout)
	done := make(chan error, 1)
	go func() { done <- fut.Error() }()
	select {
	case err := <-done:
		if err != nil {
			switch {
			case errors.Is(err, raft.ErrNotLeader):
				return Result{}, ErrNotLeader
			case errors.Is(err, raft.ErrEnqueueTimeout):
				return Result{}, fmt.Errorf("%w: %w", ErrNoLeader, err)
			case errors.Is(err, raft.ErrRaftShutdown):
				return Result{}, fmt.Errorf("%w: %w", ErrIndeterminate, ErrClosed)
			default:
				return Result{}, fmt.Errorf("%w: %w", ErrIndeterminate, err)
			}
		}
	case <-ctx.Done():
		return Result{}, fmt.Errorf("%w: %w", ErrIndeterminate, ctx.Err())
	}
	resp, ok := fut.Response().(applyResponse)
	if !ok {
		return Result{}, fmt.Errorf("%w: unexpected FSM response %T", ErrIndeterminate, fut.Response())
	}
	return resp.result, resp.err
}

// waitLeader waits until some leader is known.
func (n *Node) waitLeader(ctx context.Context) (peer.ID, error) {
	for {
		if l := n.Leader(); l != "" {
			return l, nil
		}
		if err := n.pause(ctx); err != nil {
			return "", fmt.Errorf("%w: %w", ErrNoLeader, err)
		}
	}
}

// pause waits a little before retrying, or returns when ctx or the node ends.
func (n *Node) pause(ctx context.Context) error {
	t := time.NewTimer(20 * time.Millisecond)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-n.ctx.Done():
		return ErrClosed
	}
}

// LinearizableRead returns once the local store reflects every write
// committed before the call, so a read that follows sees them. On the
// leader that is a ReadIndex check (VerifyLeader after reading the commit
// index); a follower asks the leader for its read index and waits until
// it has applied that far.
func (n *Node) LinearizableRead(ctx context.Context) error {
	for {
		if n.closed.Load() {
			return ErrClosed
		}
		var idx uint64
		if n.IsLeader() {
			i, err := n.readIndex(ctx)
			if errors.Is(err, ErrNotLeader) {
				continue
			}
			if err != nil {
				return err
			}
			idx = i
		} else {
			leader, err := n.waitLeader(ctx)
			if err != nil {
				return err
			}
			if leader == n.host.ID() {
				continue
			}
			var resp rpcResponse
			if _, err := n.call(ctx, leader, rpcRequest{Kind: rpcReadIndex}, &resp); err != nil {
				if err := n.pause(ctx); err != nil {
					return fmt.Errorf("%w: %w", ErrNoLeader, err)
				}
				continue
			}
			if rerr := fromWire(resp.Err); rerr != nil {
				if errors.Is(rerr, ErrNotLeader) || errors.Is(rerr, ErrNoLeader) {
					if err := n.pause(ctx); err != nil {
						return err
					}
					continue
				}
				return rerr
			}
			idx = resp.ReadIndex
		}
		return n.waitApplied(ctx, idx)
	}
}

// readIndex is the leader's half of a linearizable read.
func (n *Node) readIndex(ctx context.Context) (uint64, error) {
	// A new leader's commit index may trail what the old leader acknowledged
	// until an entry of its own term commits: the first read of a term goes
	// through a barrier.
	term := n.raft.CurrentTerm()
	if n.barrierTerm.Load() != term {
		if err := waitFuture(ctx, n.raft.Barrier(futureTimeout(ctx))); err != nil {
			if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
				return 0, ErrNotLeader
			}
			return 0, fmt.Errorf("read barrier: %w", err)
		}
		n.barrierTerm.Store(term)
	}
	idx := n.raft.CommitIndex()
	if err := waitFuture(ctx, n.raft.VerifyLeader()); err != nil {
		if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
			return 0, ErrNotLeader
		}
		return 0, fmt.Errorf("verify leadership: %w", err)
	}
	return idx, nil
}

func futureTimeout(ctx context.Context) time.Duration {
	if dl, ok := ctx.Deadline(); ok {
		if d := time.Until(dl); d > 0 {
			return d
		}
		return time.Millisecond
	}
	return 0
}

func waitFuture(ctx context.Context, f raft.Future) error {
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// waitApplied returns once the local store holds every entry up to idx.
// Raft's AppliedIndex only says the entries were handed to the FSM
// goroutine; the store has them when our FSM's own watermark passes the
// last entry at or below idx that reaches the FSM (no-ops and barriers
// never do).
func (n *Node) waitApplied(ctx context.Context, idx uint64) error {
	t := time.NewTicker(time.Millisecond)
	defer t.Stop()
	need := uint64(0)
	haveNeed := false
	for {
		if !haveNeed && n.raft.AppliedIndex() >= idx {
			need, haveNeed = n.lastFSMEntry(idx), true
		}
		if haveNeed {
			if n.fsm.applied.Load() >= need {
				return nil
			}
			// An installed snapshot covers everything up to its index.
			if s, err := strconv.ParseUint(n.raft.Stats()["last_snapshot_index"], 10, 64); err == nil && s >= need {
				return nil
			}
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return fmt.Errorf("wait for the local replica to apply index %d: %w", idx, ctx.Err())
		case <-n.ctx.Done():
			return ErrClosed
		}
	}
}

// lastFSMEntry finds the highest index <= idx whose entry the FSM applies.
// Zero means none is left in the log (compacted into a snapshot, which
// the store already holds).
func (n *Node) lastFSMEntry(idx uint64) uint64 {
	for k := idx; k > 0; k-- {
		var l raft.Log
		if err := n.logStore.GetLog(k, &l); err != nil {
			return 0
		}
		if l.Type == raft.LogCommand || l.Type == raft.LogConfiguration {
			return k
		}
	}
	return 0
}

// Close stops Raft, the host and the store. It does not leave the cluster:
// a closed node is a node that is down, and comes back when reopened.
func (n *Node) Close() error {
	var errs []error
	n.closeOnce.Do(func() {
		n.closed.Store(true)
		if n.raft != nil {
			if err := n.raft.Shutdown().Error(); err != nil {
				errs = append(errs, fmt.Errorf("shut down raft: %w", err))
			}
		}
		if n.cancel != nil {
			n.cancel()
		}
		n.wg.Wait()
		if n.transport != nil {
			_ = n.transport.Close()
		}
		if n.host != nil {
			if err := n.host.Close(); err != nil {
				errs = append(errs, fmt.Errorf("close libp2p host: %w", err))
			}
		}
		if n.logStore != nil {
			if err := n.logStore.Close(); err != nil {
				errs = append(errs, fmt.Errorf("close raft log: %w", err))
			}
		}
		if n.store != nil {
			if err := n.closeState(); err != nil {
				errs = append(errs, err)
			}
		}
		// Last: until everything above is closed, the directory is ours.
		if err := n.lock.release(); err != nil {
			errs = append(errs, fmt.Errorf("release the data directory lock: %w", err))
		}
	})
	return errors.Join(errs...)
}
