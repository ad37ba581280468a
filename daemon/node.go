package daemon

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/outlayer/outlayer/attest"
	"github.com/outlayer/outlayer/consensus"
	"github.com/outlayer/outlayer/consensus/discovery"
	"github.com/outlayer/outlayer/contracts/near"
	"github.com/outlayer/outlayer/daemon/hostcall"
	"github.com/outlayer/outlayer/daemon/keystore"
	"github.com/outlayer/outlayer/egress"
	"github.com/outlayer/outlayer/exec"
	"github.com/outlayer/outlayer/exec/build"
	"github.com/outlayer/outlayer/store"
)

// memberMarker records in the data directory that this node is in a cluster,
// so a restart neither bootstraps a second cluster nor asks to join again.
const memberMarker = "cluster-member"

// Node is one running outlayerd: a consensus member, a worker, and, while it
// leads, the cluster's coordinator.
type Node struct {
	cfg     Config
	log     *slog.Logger
	cons    *consensus.Node
	runner  *exec.Runner
	builder *build.Builder
	// fetch is the one client for URLs a request names (egress checks).
	fetch   *egress.Client
	chain   *near.Client
	signer  *near.Signer
	metrics *metrics
	applied *notifier
	// health keeps the health probes' results (health.go).
	health *health

	httpSrv *http.Server
	httpLn  net.Listener
	// adminSrv serves the admin API on AdminSocket(cfg.DataDir).
	adminSrv *http.Server

	// deps are what the loops are given (see deps.go).
	deps    deps
	pricing pricingCache
	// calls serves the HTTPS API of payment keys.
	calls *callAPI

	worker *worker
	// keys is the keystore (nil when the node runs without one).
	keys *keystore.Keystore
	// vrf caches the VRF key derived from the keystore's master.
	vrf vrfCache
	// resultAttester attests results (nil: they go out unattested).
	resultAttester attest.Attester
	// execKey is this node's libp2p identity key, with which it signs its
	// result claims (the executor key the contract registers); claims is
	// the chain id those claims bind.
	execKey ed25519.PrivateKey
	claims  *claimChain
	// failSigner signs the failures the cluster decided (failsign.go).
	failSigner *failureSigner
	// voucher vouches for executor-key changes; keyStatus and keyMetrics
	// report the leader's executor-key loop (executorkeys.go).
	voucher    *voucher
	keyStatus  *executorKeyStatus
	keyMetrics *executorKeyMetrics
	// keyWatch watches this node's operator key's allowance.
	keyWatch *keyWatch

	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	stopped atomic.Bool
	// consClosed is set once the consensus node is closed (under stopMu).
	consClosed bool
	stopMu     sync.Mutex

	// storageBudget is the bytes all programs may store together
	// (Config.StorageBudget, or its default from the disk).
	storageBudget uint64
}

// Start opens (or reopens) a node and starts all its loops. A fresh data
// directory bootstraps a new cluster, or joins one when cfg.Join is set;
// a data directory that was in a cluster rejoins it.
func Start(ctx context.Context, cfg Config) (*Node, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("node configuration: %w", err)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating the data directory: %w", err)
	}
	key := cfg.OperatorKey
	if key == nil {
		account, kp, err := near.LoadKeyFile(cfg.OperatorKeyFile)
		if err != nil {
			return nil, fmt.Errorf("reading the operator key: %w", err)
		}
		if account != "" && account != cfg.OperatorAccount {
			return nil, fmt.Errorf("the operator key file %s is for %s, not the operator account %s", cfg.OperatorKeyFile, account, cfg.OperatorAccount)
		}
		key = kp
	}

	n := &Node{cfg: cfg, log: cfg.Logger}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	n.metrics = newMetrics()
	n.chain = near.NewClient(cfg.RPCURL, near.WithLogger(cfg.Logger))
	signer, err := near.NewSigner(n.chain, cfg.OperatorAccount, key,
		near.WithWaitUntil(near.TxExecutedOptimistic), near.WithSignerLogger(cfg.Logger))
	if err != nil {
		return nil, fmt.Errorf("operator signer: %w", err)
	}
	n.signer = signer
	n.keyWatch = &keyWatch{chain: n.chain, account: cfg.OperatorAccount, key: key.PublicKey(), every: 30 * time.Second,
		gauge: n.metrics.allowance, log: cfg.Logger}

	ok := false
	defer func() {
		if !ok {
			n.closeParts()
		}
	}()

	// Dev mode serves programs from the developer's machine: plain http and
	// loopback are allowed there, never private or metadata addresses.
	n.fetch = egress.New(egress.Config{AllowHTTP: cfg.DevMode, AllowLoopback: cfg.DevMode, MaxBytes: cfg.MaxWasmDownloadBytes})
	n.runner, err = exec.NewRunner(ctx, exec.Config{
		CacheDir:         filepath.Join(cfg.DataDir, "modules"),
		MaxCachedModules: 64,
		Logger:           cfg.Logger,
		Isolate:          true, // a hostile program may kill its sandbox, not the node
		Sandboxes:        cfg.Slots,
	})
	if err != nil {
		return nil, fmt.Errorf("starting the WASM runner: %w", err)
	}
	bcfg := cfg.Build
	if bcfg.WorkDir == "" {
		bcfg.WorkDir = filepath.Join(cfg.DataDir, "build")
	}
	if err := os.MkdirAll(bcfg.WorkDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating the build directory: %w", err)
	}
	if bcfg.Logger == nil {
		bcfg.Logger = cfg.Logger
	}
	n.builder, err = build.New(ctx, bcfg)
	if err != nil {
		// A node that cannot build can still run cached and downloaded
		// WASM; requests that need a build fail with this reason.
		n.log.Warn("source builds are unavailable on this node", "err", err)
		n.builder = nil
	}

	n.cons, err = consensus.Open(ctx, consensus.Config{
		DataDir:       cfg.DataDir,
		ListenAddrs:   cfg.ListenAddrs,
		Bootstrap:     cfg.Join,
		Cluster:       cfg.Cluster,
		MDNS:          discovery.Mode(cfg.MDNS),
		Voters:        cfg.Voters,
		DevMode:       cfg.DevMode,
		DevJoinSecret: cfg.DevJoinSecret,
		Verifier:      cfg.Verifier,
		Attester:      cfg.Attester,
		Raft:          cfg.Raft,
		Logger:        cfg.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("opening the consensus node: %w", err)
	}
	n.log = n.log.With("node", shortPeer(n.cons.PeerID().String()))
	n.metrics.reg.MustRegister(n.cons.Host().Refused())   // outlayer_p2p_refused_total
	n.metrics.reg.MustRegister(n.cons.DiscoveryMetrics()) // outlayer_discovery_events_total
	n.health = newHealth(cfg.Health, cfg.DataDir, cfg.RPCURL, n.metrics.reg)
	n.registerBlobProtocol()
	n.resultAttester = n.newResultAttester()
	if n.execKey, err = n.nodeKey(); err != nil {
		return nil, err
	}
	n.claims = &claimChain{chain: n.chain, status: n.chain, contract: cfg.ContractID}
	n.failSigner = &failureSigner{replica: n.cons.Store(), key: n.execKey, contract: cfg.ContractID, chain: n.claims, wait: failSignWait}
	n.registerFailureSignProtocol()
	n.voucher = &voucher{members: clusterMembers{n.cons}, key: n.execKey, contract: cfg.ContractID, chain: n.claims, wait: vouchWait}
	n.keyStatus, n.keyMetrics = &executorKeyStatus{}, newExecutorKeyMetrics(n.metrics.reg)
	n.registerVouchProtocol()

	bootstrapped, err := n.enterCluster(ctx)
	if err != nil {
		return nil, err
	}
	if err := n.openKeystore(ctx, bootstrapped); err != nil {
		return nil, err
	}

	n.applied = newNotifier(n.cons.StoreIndex)
	n.deps = deps{
		replica: n.cons.Store(),
		propose: n.cons,
		members: clusterMembers{n.cons},
		chain:   n.chain,
		sender:  n.signer,
		wake:    n.applied,
	}
	n.worker = (&worker{replica: n.deps.replica, propose: n.deps.propose, self: n.deps.members.Self(), wake: n.deps.wake,
		runner: n.runner, peers: blobClient{n}, download: n.fetch, secrets: n, seeds: n, attester: n.resultAttester,
		contract: cfg.ContractID, maxAttempts: cfg.MaxAttempts, rig: cfg.rigResult, metrics: n.metrics, log: n.log,
		signer: &keySigner{key: n.execKey, contract: cfg.ContractID, chain: n.claims}, claims: n.claims}).init(cfg.Slots)
	n.metrics.reg.MustRegister(agreementCollector{n.cons.Store()}) // outlayer_node_dissents_total, ...
	if n.builder != nil {
		n.worker.builder = n.builder
	}
	n.storageBudget = cfg.StorageBudget
	if n.storageBudget == 0 {
		n.storageBudget = defaultStorageBudget(cfg.DataDir, n.log)
	}
	n.metrics.storageBudget.Set(float64(n.storageBudget))
	n.metrics.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "outlayer_program_storage_bytes",
		Help: "Bytes all programs store together in this replica (keys and values)."}, func() float64 {
		b, _ := n.cons.Store().ProgBytes()
		return float64(b)
	}))
	n.worker.host = &hostServices{fetch: n.fetch, storage: n.cons.Store(), records: n.cons.Store(), chain: n.chain, vrf: n.vrfKey,
		limits: hostcall.Limits{StorageBudget: n.storageBudget}}

	projects := cfg.projects
	if projects == nil {
		projects = newChainProjects(n.chain, cfg.ContractID)
	}
	var secrets secretsChecker // a nil *Keystore must stay a nil interface
	if n.keys != nil {
		secrets = n.keys
	}
	n.calls = newCallAPI(n.cons.Store(), n.cons, n.cons, n.deps.wake, projects, secrets, cfg.Calls, n.log.With("api", "calls"))

	if err := n.startHTTP(); err != nil {
		return nil, err
	}

	n.wg.Add(5)
	go func() { defer n.wg.Done(); n.runHealth(n.ctx) }()
	go func() { defer n.wg.Done(); n.keyWatch.run(n.ctx) }()
	go func() { defer n.wg.Done(); n.applied.run(n.ctx) }()
	go func() { defer n.wg.Done(); n.leadershipLoop() }()
	go func() { defer n.wg.Done(); n.worker.run(n.ctx) }()
	ok = true
	n.log.Info("node started", "peer_id", n.cons.PeerID().String(), "http", n.HTTPAddr(),
		"p2p", n.P2PAddrs(), "contract", cfg.ContractID, "operator", cfg.OperatorAccount,
		"operator_key", key.PublicKey().String(), "dev_mode", cfg.DevMode)
	return n, nil
}

// enterCluster bootstraps, joins or rejoins; it reports whether this node
// bootstrapped a new cluster.
func (n *Node) enterCluster(ctx context.Context) (bool, error) {
	marker := filepath.Join(n.cfg.DataDir, memberMarker)
	rejoin, previous := n.cons.Rejoin()
	if _, err := os.Stat(marker); err == nil && !rejoin {
		n.log.Info("rejoining the cluster from the state in the data directory")
		return false, nil
	}
	bootstrapped := false
	if rejoin {
		// Outside dev mode the identity lives in memory only: a restart
		// is a new identity, admitted again by attestation, replacing
		// the old one (consensus/DESIGN.md, "Node identity").
		n.log.Info("joining the cluster again under a new identity", "previous", previous.String())
		if err := n.cons.Join(ctx, n.cfg.Join...); err != nil {
			return false, fmt.Errorf("this node restarted with a new identity (outside dev mode the node key lives in memory only) and no member admitted it: %w; if every node of the cluster stopped, the cluster is gone with its keys: start a new one on fresh data directories", err)
		}
	} else if len(n.cfg.Join) > 0 || n.cfg.JoinLAN {
		if err := n.cons.Join(ctx, n.cfg.Join...); err != nil {
			if len(n.cfg.Join) == 0 {
				return false, fmt.Errorf("joining cluster %q found on the LAN: %w", n.cfg.Cluster, err)
			}
			return false, fmt.Errorf("joining the cluster through %v: %w", n.cfg.Join, err)
		}
	} else if err := n.cons.Bootstrap(ctx); err != nil {
		return false, fmt.Errorf("bootstrapping a new cluster: %w", err)
	} else {
		bootstrapped = true
	}
	if err := os.WriteFile(marker, []byte(n.cons.PeerID().String()+"\n"), 0o600); err != nil {
		return false, fmt.Errorf("recording cluster membership: %w", err)
	}
	return bootstrapped, nil
}

// PeerID is the node's libp2p identity (its Raft server id).
func (n *Node) PeerID() string { return n.cons.PeerID().String() }

// P2PAddrs are the multiaddrs other nodes join through.
func (n *Node) P2PAddrs() []string {
	var out []string
	for _, a := range n.cons.Addrs() {
		out = append(out, a.String())
	}
	return out
}

// HTTPAddr is the address the API listens on.
func (n *Node) HTTPAddr() string {
	if n.httpLn == nil {
		return ""
	}
	return n.httpLn.Addr().String()
}

// IsLeader reports whether this node coordinates the cluster now.
func (n *Node) IsLeader() bool { return n.cons.IsLeader() }

// Consensus exposes the consensus node (tests, the CLI's status).
func (n *Node) Consensus() *consensus.Node { return n.cons }

// Builds is how many source builds this node has run (tests, metrics).
func (n *Node) Builds() uint64 { return n.worker.builds.Load() }

// Stop shuts the node down gracefully: the worker stops taking
// assignments; a leader first hands leadership to another voter (a Raft
// leadership transfer, so the cluster does not wait an election timeout,
// and this node's scheduler stops assigning work, to itself included);
// then the running requests get until ctx ends to finish and report (after
// that they are cancelled and their leases expire: see DESIGN.md, Release);
// then Raft, the host and the store close. The node stays a cluster member
// and rejoins when started again (outside dev mode under a new identity,
// which replaces this one: consensus.Node.Rejoin).
func (n *Node) Stop(ctx context.Context) error {
	n.stopMu.Lock()
	defer n.stopMu.Unlock()
	if n.stopped.Swap(true) {
		return nil
	}
	n.log.Info("stopping node")
	n.worker.stopTaking()
	if n.cons.IsLeader() {
		if err := n.cons.HandOffLeadership(); err != nil {
			n.log.Warn("handing off leadership failed; the others will elect a leader after the election timeout", "err", err)
		} else {
			n.log.Info("leadership handed off", "to", n.cons.Leader().String())
		}
	}
	n.worker.drain(ctx)
	n.cancel()
	n.wg.Wait()
	return n.closeParts()
}

// Kill stops the node abruptly, as a crash would (tests): nothing is
// finished or handed over.
func (n *Node) Kill() error {
	n.stopMu.Lock()
	defer n.stopMu.Unlock()
	if n.stopped.Swap(true) {
		return nil
	}
	// Raft and the host go first, so that the cluster sees the node vanish
	// mid-run; the loops and runs then wind down against a closed node.
	err := n.cons.Close()
	n.consClosed = true
	n.cancel()
	n.worker.abort()
	n.worker.wg.Wait()
	n.wg.Wait()
	return errors.Join(err, n.closeParts())
}

func (n *Node) closeParts() error {
	var errs []error
	if n.cancel != nil {
		n.cancel()
	}
	for _, srv := range []*http.Server{n.httpSrv, n.adminSrv} {
		if srv != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			errs = append(errs, ignoreClosed(srv.Shutdown(ctx)))
			cancel()
		}
	}
	if n.keys != nil {
		n.keys.Close()
	}
	if n.cons != nil && !n.consClosed {
		errs = append(errs, n.cons.Close())
		n.consClosed = true
	}
	if n.runner != nil {
		errs = append(errs, n.runner.Close(context.Background()))
	}
	return errors.Join(errs...)
}

func ignoreClosed(err error) error {
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// leadershipLoop starts the coordinator loops when this node becomes leader
// and stops them when it stops being leader.
func (n *Node) leadershipLoop() {
	ch, cancelSub := n.cons.Subscribe()
	defer cancelSub()
	var (
		stopLeader context.CancelFunc
		leaderWG   sync.WaitGroup
	)
	stop := func() {
		if stopLeader != nil {
			stopLeader()
			leaderWG.Wait()
			stopLeader = nil
			n.metrics.leader.Set(0)
			n.log.Info("stepped down: coordinator loops stopped")
		}
	}
	defer stop()
	start := func() {
		if stopLeader != nil {
			return
		}
		ctx, cancel := context.WithCancel(n.ctx)
		stopLeader = cancel
		n.metrics.leader.Set(1)
		leaderWG.Add(1)
		go func() {
			defer leaderWG.Done()
			n.lead(ctx)
		}()
	}
	if n.cons.IsLeader() {
		start()
	}
	for {
		select {
		case <-n.ctx.Done():
			return
		case leading := <-ch:
			if leading {
				start()
			} else {
				stop()
			}
		}
	}
}

// lead runs the coordinator: it first makes sure the local replica holds
// every committed entry (a new leader may be behind its own commit index),
// then runs the watcher, scheduler and resolver until ctx ends.
func (n *Node) lead(ctx context.Context) {
	err := retryEvery(ctx, 200*time.Millisecond, 0, func() error {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		err := n.cons.LinearizableRead(rctx)
		if err != nil && ctx.Err() == nil {
			n.log.Warn("new leader cannot confirm its replica is current yet", "err", err)
		}
		return err
	})
	if err != nil || ctx.Err() != nil {
		return
	}
	n.log.Info("leading: chain watcher, scheduler and resolver started")
	w, s, r := n.leaderLoops()
	settle := &settler{replica: n.deps.replica, propose: n.deps.propose, wake: n.deps.wake, log: n.log.With("loop", "settler")}
	keys := &keyWatcher{replica: n.cons.Store(), propose: n.deps.propose, chain: n.deps.chain, contract: n.cfg.ContractID,
		poll: max(n.cfg.PollInterval, 250*time.Millisecond), log: n.log.With("loop", "payment-keys")}
	execKeys := &executorKeys{chain: n.deps.chain, sender: n.deps.sender, contract: n.cfg.ContractID, members: n.deps.members,
		pending: n.cons.Store(), vouch: vouchCollector{n}, status: n.keyStatus, metrics: n.keyMetrics, log: n.log.With("loop", "executor-keys")}
	keep := &retainer{replica: n.cons.Store(), propose: n.deps.propose, chain: n.deps.chain, contract: n.cfg.ContractID,
		keep:  store.Retention{Window: n.cfg.Retention, KeepSettled: n.cfg.RetainSettled, MinAge: MinRetention},
		every: retentionEvery, metrics: n.metrics, log: n.log.With("loop", "retention")}
	if n.cfg.retentionEvery > 0 {
		keep.every, keep.keep.MinAge = n.cfg.retentionEvery, n.cfg.retentionMinAge
	}
	var wg sync.WaitGroup
	wg.Add(7)
	go func() { defer wg.Done(); keep.run(ctx) }()
	go func() { defer wg.Done(); execKeys.run(ctx) }()
	go func() { defer wg.Done(); w.run(ctx) }()
	go func() { defer wg.Done(); s.run(ctx) }()
	go func() { defer wg.Done(); r.run(ctx) }()
	go func() { defer wg.Done(); settle.run(ctx) }()
	go func() { defer wg.Done(); keys.run(ctx) }()
	wg.Wait()
}

// leaderLoops builds one term's coordinator loops over the node's
// dependencies. The loops share two things, each through its methods: the
// chain tip the watcher publishes (the scheduler's deadlines, the
// resolver's latency metric) and the warm set the resolver fills (the
// scheduler's placement). Both start empty each term.
func (n *Node) leaderLoops() (*watcher, *scheduler, *resolver) {
	d, tip, warm := n.deps, &chainTip{}, newWarmSet()
	w := &watcher{replica: d.replica, propose: d.propose, chain: d.chain, contract: n.cfg.ContractID,
		tip: tip, poll: n.cfg.PollInterval, metrics: n.metrics, log: n.log.With("loop", "watcher")}
	s := &scheduler{replica: d.replica, propose: d.propose, members: d.members, tip: tip, warm: warm,
		wake: d.wake, cfg: n.cfg, metrics: n.metrics, log: n.log.With("loop", "scheduler")}
	r := (&resolver{replica: d.replica, propose: d.propose, chain: d.chain, sender: d.sender,
		contract: n.cfg.ContractID, yieldBlocks: n.cfg.YieldTimeoutBlocks, tip: tip, warm: warm,
		wake: d.wake, metrics: n.metrics, log: n.log.With("loop", "resolver"), claims: n.claims, keys: n.keyWatch,
		failSigs:    failureCollector{n},
		afterLanded: n.cfg.afterResolveLanded}).init()
	return w, s, r
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func shortPeer(id string) string {
	if len(id) > 8 {
		return id[len(id)-8:]
	}
	return id
}
