package consensus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
	bolt "go.etcd.io/bbolt"

	"github.com/outlayer/outlayer/consensus/discovery"
	"github.com/outlayer/outlayer/consensus/p2p"
	"github.com/outlayer/outlayer/store"
)

// Config configures a consensus node.
type Config struct {
	// DataDir holds the Raft log, snapshots, the store and, in dev mode,
	// the node key (outside it the key is in memory only: identity.go).
	DataDir string
	// ListenAddrs are libp2p TCP multiaddrs (tests: /ip4/127.0.0.1/tcp/0).
	ListenAddrs []string
	// Bootstrap lists members to join through and to reconnect to: a
	// multiaddr ending in /p2p/<peer id>, or a multiaddr without it or
	// HOST:PORT (the peer id is then learned from the member's handshake
	// when joining).
	Bootstrap []string
	// Cluster names the cluster on the LAN: members answer mDNS queries
	// for it, look there for members they lost, and Join without an
	// address looks it up. Empty: no LAN discovery.
	Cluster string
	// MDNS is when LAN discovery runs (default discovery.ModeAuto: in dev
	// mode and when every listen address is private; see discovery.Decide).
	MDNS discovery.Mode
	// AddrInterval is how often a member dials the members it has no
	// connection to (default 5s).
	AddrInterval time.Duration
	// Voters is how many voters the cluster keeps; nodes joining past it
	// join as non-voters. Default 3.
	Voters int
	// DevMode allows simulated attestation (every report then says so).
	// A dev node listens on loopback only, unless DevJoinSecret is set.
	DevMode bool
	// DevJoinSecret, in dev mode, is required of every joiner (an HMAC in
	// its simulated evidence) and allows non-loopback listen addresses.
	// Without one a dev node runs alone: with the default (simulated)
	// verifier, Join and every joiner are refused.
	DevJoinSecret []byte
	// MemoryIdentity keeps the node's identity key in memory only, new at
	// every start (always so outside dev mode; see identity.go): a
	// restarted node joins again as a new member, replacing its previous
	// identity. Dev nodes otherwise keep it in <data dir>/node.key.
	MemoryIdentity bool
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
	cfg  Config
	log  *slog.Logger
	key  crypto.PrivKey
	lock *dirLock
	// previous and rejoin: a memory-only identity's earlier peer id, and
	// whether the directory held cluster state of it (identity.go).
	previous peer.ID
	rejoin   bool
	// knownPeers are the members peers.json named at start.
	knownPeers []peer.AddrInfo
	host       *p2p.Host
	store      *store.Store

	raft      *raft.Raft
	transport *p2p.Transport
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

	// book remembers how peers were found; addrLoop keeps members
	// connected and their addresses current (addrs.go).
	book        *addrBook
	exchMu      sync.Mutex
	exchPending map[peer.ID]struct{}
	exchWake    chan struct{}
	lookupRound int // addrLoop's only
	// LAN discovery (discover.go): whether it runs and why, and the
	// responder when it started (lanErr when it did not).
	lanOn     bool
	lanWhy    string
	lanErr    string
	announcer *discovery.Announcer

	barrierTerm atomic.Uint64
	closed      atomic.Bool
	closeOnce   sync.Once
}

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
	if cfg.AddrInterval <= 0 {
		cfg.AddrInterval = 5 * time.Second
	}
	if cfg.Cluster != "" {
		if err := discovery.ValidClusterName(cfg.Cluster); err != nil {
			return nil, fmt.Errorf("consensus: %w", err)
		}
	}
	mdnsMode, err := discovery.ParseMode(string(cfg.MDNS))
	if err != nil {
		return nil, fmt.Errorf("consensus: %w", err)
	}
	var targets []joinTarget
	for _, s := range cfg.Bootstrap {
		t, err := parseJoinTarget(s)
		if err != nil {
			return nil, fmt.Errorf("consensus: bootstrap peer: %w", err)
		}
		targets = append(targets, t)
	}
	if cfg.Verifier == nil || cfg.Attester == nil {
		if !cfg.DevMode {
			return nil, errors.New("consensus: no attestation verifier or attester configured; simulated attestation is only allowed in dev mode")
		}
		if cfg.Verifier == nil {
			cfg.Verifier = SimulatedAttestation{Secret: cfg.DevJoinSecret}
		}
		if cfg.Attester == nil {
			cfg.Attester = SimulatedAttestation{Secret: cfg.DevJoinSecret}
		}
	}
	if cfg.DevMode && len(cfg.DevJoinSecret) == 0 {
		if err := loopbackOnly(cfg.ListenAddrs); err != nil {
			return nil, err
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
	id, err := openIdentity(cfg, log)
	if err != nil {
		_ = lock.release()
		return nil, fmt.Errorf("consensus: %w", err)
	}

	n := &Node{
		cfg:         cfg,
		log:         log,
		key:         id.key,
		previous:    id.previous,
		rejoin:      id.rejoin,
		lock:        lock,
		refresh:     make(chan struct{}, 1),
		voterCheck:  make(chan struct{}, 1),
		notify:      make(chan bool, 64),
		subs:        map[chan bool]struct{}{},
		pending:     map[peer.ID]pendingJoin{},
		book:        newAddrBook(),
		exchPending: map[peer.ID]struct{}{},
		exchWake:    make(chan struct{}, 1),
	}
	n.lanOn, n.lanWhy = discovery.Decide(mdnsMode, cfg.Cluster, cfg.DevMode, cfg.ListenAddrs)
	n.ctx, n.cancel = context.WithCancel(context.WithoutCancel(ctx))
	ok := false
	defer func() {
		if !ok {
			n.Close()
		}
	}()

	n.host, err = p2p.New(ctx, p2p.Config{
		Key:         id.key,
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
	// Raft's deadlines: Timeout for a dial and for each RPC (an
	// InstallSnapshot gets Timeout per 256 KiB); the stream layer also fails
	// a write or a mid-request read that makes no progress for raftTimeout,
	// and ends every stream when the transport closes. See DESIGN.md,
	// "Timeouts and shutdown". p2p.Transport also works around a deadlock
	// in hashicorp/raft's AppendEntries pipeline (p2p/transport.go).
	stream := p2p.NewStreamLayer(n.host, p2p.RaftProtocol, p2p.StreamLayerConfig{Stall: raftTimeout})
	n.transport = p2p.NewTransport(&raft.NetworkTransportConfig{
		Stream:  stream,
		MaxPool: 4,
		Timeout: raftTimeout,
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
	n.host.Handle(AddrsProtocol, n.handleAddrs)
	n.host.HandleAdmitted(JoinProtocol, n.handleJoin)
	n.host.LibP2P().Network().Notify(&network.NotifyBundle{ConnectedF: func(_ network.Network, c network.Conn) {
		n.memberConnected(c.RemotePeer())
	}})

	n.knownPeers = n.loadPeers()
	for _, t := range targets {
		if t.info != nil {
			n.learn(t.info.ID, t.info.Addrs, SourceBootstrap)
		}
	}
	if n.lanOn {
		n.startAnnouncer()
	}

	n.wg.Add(4)
	go n.refreshLoop()
	go n.leadershipLoop()
	go n.voterLoop()
	go n.addrLoop()
	n.refreshMembership()
	ok = true
	log.Info("consensus node open", "peer", n.host.ID(), "data_dir", cfg.DataDir, "lan_discovery", n.LANDiscovery())
	return n, nil
}

func applyTuning(rc *raft.Config, t RaftTuning) {
	override(&rc.HeartbeatTimeout, t.HeartbeatTimeout)
	override(&rc.ElectionTimeout, t.ElectionTimeout)
	override(&rc.LeaderLeaseTimeout, t.LeaderLeaseTimeout)
	override(&rc.CommitTimeout, t.CommitTimeout)
	override(&rc.SnapshotInterval, t.SnapshotInterval)
	override(&rc.SnapshotThreshold, t.SnapshotThreshold)
	override(&rc.TrailingLogs, t.TrailingLogs)
	override(&rc.MaxAppendEntries, t.MaxAppendEntries)
}

// override sets *dst to v unless v is zero (a tuning left at its default).
func override[T int | uint64 | time.Duration](dst *T, v T) {
	if v > 0 {
		*dst = v
	}
}

// raftTimeout bounds each Raft dial and RPC, and any read or write on a
// Raft stream that stops making progress.
const raftTimeout = 10 * time.Second

// shutdownGrace is how long Close lets Raft finish on its own (a leader's
// last, best-effort AppendEntries) before it ends Raft's streams.
const shutdownGrace = time.Second

// Close stops Raft, the host and the store. It does not leave the cluster:
// a closed node is a node that is down, and comes back when reopened.
//
// It returns in bounded time whatever the peers do: Raft gets
// shutdownGrace to stop, then every Raft stream is ended and every dial
// cancelled, which frees the Raft goroutines a peer that does not read (a
// frozen process, a node stuck on its disk) would hold until their
// deadlines — minutes, for a snapshot transfer.
func (n *Node) Close() error {
	var errs []error
	n.closeOnce.Do(func() {
		n.closed.Store(true)
		if n.raft != nil {
			if err := n.shutdownRaft(); err != nil {
				errs = append(errs, fmt.Errorf("shut down raft: %w", err))
			}
		}
		if n.cancel != nil {
			n.cancel()
		}
		n.wg.Wait()
		if err := n.announcer.Close(); err != nil {
			errs = append(errs, fmt.Errorf("stop the mDNS responder: %w", err))
		}
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

// shutdownRaft stops Raft: it waits shutdownGrace for Raft's goroutines,
// then closes the transport (ending every Raft stream, so a goroutine
// blocked on a peer returns at once) and waits for the rest, which is
// local work.
func (n *Node) shutdownRaft() error {
	fut := n.raft.Shutdown()
	done := make(chan error, 1)
	go func() { done <- fut.Error() }()
	grace := time.NewTimer(shutdownGrace)
	defer grace.Stop()
	select {
	case err := <-done:
		return err
	case <-grace.C:
	}
	n.log.Warn("raft did not stop within the shutdown grace: a peer is not reading; ending the Raft streams", "grace", shutdownGrace)
	_ = n.transport.Close()
	// Nothing Raft waits for now is on the network. If it still does not
	// stop, say so loudly rather than hang in silence.
	stuck := time.NewTimer(raftTimeout)
	defer stuck.Stop()
	select {
	case err := <-done:
		return err
	case <-stuck.C:
		n.log.Error("raft has not stopped although its streams ended: a Raft goroutine is blocked on local work (FSM, log or snapshot store); still waiting", "waited", shutdownGrace+raftTimeout)
	}
	return <-done
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

// loopbackOnly refuses a dev node listening beyond this machine without a
// join secret: simulated attestation admits anyone who can reach the port.
func loopbackOnly(addrs []string) error {
	for _, s := range addrs {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			continue // p2p.New reports it
		}
		ip, err := manet.ToIP(a)
		if err != nil || !ip.IsLoopback() {
			return fmt.Errorf("consensus: dev mode listens on loopback only (%s is not): simulated attestation would admit anyone who reaches the port and hand them the keystore master; listen on /ip4/127.0.0.1/tcp/PORT, or set a dev join secret (--dev-join-secret) on every node", s)
		}
	}
	return nil
}
