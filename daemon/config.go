package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"time"

	"github.com/outlayer/outlayer/attest"
	"github.com/outlayer/outlayer/consensus"
	"github.com/outlayer/outlayer/consensus/discovery"
	"github.com/outlayer/outlayer/contracts"
	"github.com/outlayer/outlayer/contracts/near"
	"github.com/outlayer/outlayer/daemon/keystore"
	"github.com/outlayer/outlayer/exec/build"
	"github.com/outlayer/outlayer/store"
)

// Config is everything one node needs. Zero fields take the defaults listed
// on each; Validate reports what is missing.
type Config struct {
	// DataDir holds the node's libp2p key, the Raft log, the replicated
	// store, the compiled-module cache and build work directories.
	DataDir string
	// ListenAddrs are libp2p TCP multiaddrs (default /ip4/0.0.0.0/tcp/4001).
	ListenAddrs []string
	// Join lists cluster members (multiaddrs ending in /p2p/<peer id>) to
	// join through when this data directory is not yet in a cluster. With
	// none, a fresh node bootstraps a new cluster.
	Join []string
	// Cluster names the cluster on the LAN (mDNS): members answer queries
	// for it and look there for members they lost. Empty: no LAN discovery.
	Cluster string
	// MDNS is when LAN discovery runs: "auto" (default: in dev mode and
	// when every listen address is private), "on" or "off".
	MDNS string
	// JoinLAN makes a fresh node join the cluster that answers for Cluster
	// on the LAN instead of bootstrapping (Join names no member).
	JoinLAN bool
	// HTTPAddr is where the JSON API and /metrics listen (default
	// 127.0.0.1:8080; ":0" picks a port, see Node.HTTPAddr).
	HTTPAddr string
	// APIHosts are the DNS names the public API is published under. A
	// request's Host must be one of them, an IP address or localhost, so
	// a web page cannot reach the API by rebinding its own name to it.
	APIHosts []string

	// RPCURL is the NEAR JSON-RPC endpoint.
	RPCURL string
	// ContractID is the OutLayer contract the cluster serves.
	ContractID string
	// OperatorAccount is the account the contract accepts results from;
	// OperatorKeyFile holds this node's key on it (a function-call key
	// limited to the resolve methods, as the registration contract adds).
	OperatorAccount string
	OperatorKeyFile string
	// OperatorKey, when set, is used instead of reading OperatorKeyFile
	// (tests and the local testnet).
	OperatorKey *near.KeyPair

	// YieldTimeoutBlocks is the chain's yield/resume timeout (NEAR: 200).
	YieldTimeoutBlocks uint64
	// YieldMarginBlocks: a request not completed when fewer than this many
	// blocks of its yield window remain is failed, so the failure (and the
	// refund) still reaches the chain. Default 20.
	YieldMarginBlocks uint64
	// PollInterval is how often the leader polls the contract for new
	// requests (default 100ms).
	PollInterval time.Duration

	// Retention is how long a settled request (resolved or expired) stays
	// in the replicated state, with its results, record and call; 0 keeps
	// them forever. At least MinRetention. The CLI's default is
	// DefaultRetention.
	Retention time.Duration
	// RetainSettled, when above 0, caps the settled requests kept: past
	// it the oldest go whatever their age (never one closed less than
	// MinRetention ago).
	RetainSettled int
	// StorageBudget bounds the bytes all programs store together (keys and
	// values); a run whose writes would pass it fails. 0: a quarter of the
	// data directory's file system.
	StorageBudget uint64

	// Slots is how many requests this node runs at once; the scheduler
	// also uses it as the per-node assignment bound (default NumCPU).
	Slots int
	// LeaseExtra is added to a request's execution time limit to form its
	// lease (default 30s); BuildLease is added when the WASM must be built
	// or downloaded first (default 5m).
	LeaseExtra time.Duration
	BuildLease time.Duration
	// CompileLease is added instead when the WASM is cached but the node
	// has not run it lately, so it compiles the module first (default 30s).
	CompileLease time.Duration
	// MaxAttempts bounds how many nodes may try one request (default 3).
	MaxAttempts int
	// Agreement is k, how many distinct executors must return the same
	// result before a request is resolved (default 1, the single-executor
	// path); the contract's own requirement raises it, and the cluster's
	// size caps it. See DESIGN.md, "Agreement".
	Agreement int
	// DissentLimit: a node outvoted this many times in a row is no longer
	// assigned requests (default 3; see DESIGN.md, "Agreement").
	DissentLimit int

	// Build configures source builds. WorkDir defaults to DataDir/build.
	Build build.Config
	// MaxWasmDownloadBytes bounds a WasmUrl download (default 32 MiB).
	MaxWasmDownloadBytes int64

	// DevMode allows simulated attestation and local git repositories.
	DevMode bool
	// DevJoinSecret, in dev mode, is required of every joiner and allows
	// listening beyond loopback (see consensus.Config.DevJoinSecret).
	DevJoinSecret []byte
	// Voters is how many Raft voters the cluster keeps (default 3).
	Voters int
	// Raft tunes Raft timeouts (tests shorten them). CommitTimeout
	// defaults to 10ms, not Raft's 50ms: see defaultCommitTimeout.
	Raft consensus.RaftTuning
	// Verifier and Attester check and produce join evidence (the simulated
	// ones in dev mode when nil).
	Verifier consensus.JoinVerifier
	Attester consensus.Attester
	// ResultAttester attests every result this node reports. Nil: in dev
	// mode a simulated attester signing with the node key; otherwise TDX
	// when this machine is a TD, else results go out unattested (logged).
	ResultAttester attest.Attester
	// Sealer protects this node's copy of the keystore's master secret.
	// Nil: a key file in the data directory in dev mode; outside dev mode
	// the keystore is memory-only (TDX has no sealing key, see
	// keystore.NewTDXSealer): the master is never written to disk, a
	// restarted node receives it from a member, and if every node
	// restarts at once it is lost (keystore.ErrMasterLost).
	Sealer keystore.Sealer
	// KeystoreMemoryOnly makes the keystore memory-only in dev mode too
	// (outside dev mode it already is, unless Sealer is set).
	KeystoreMemoryOnly bool

	// Health tunes the /health checks (disk and chain probes, stall and
	// chain-down thresholds).
	Health HealthConfig

	// Calls tunes the HTTPS API of payment keys (prices, budgets, rate
	// limits, the synchronous timeout).
	Calls CallsConfig

	Logger *slog.Logger

	// projects, when set (tests, through export_test.go), resolves the
	// projects HTTPS calls name instead of the contract's views.
	projects projectResolver
	// retentionEvery and retentionMinAge, when set (tests), replace how
	// often the leader prunes and checks deleted projects (a minute) and
	// the age below which nothing is pruned (MinRetention).
	retentionEvery  time.Duration
	retentionMinAge time.Duration
	// afterResolveLanded, when set (tests, through export_test.go), runs
	// after a resolve landed and before it is recorded; returning true
	// skips the recording, as a leader dying at that moment would.
	afterResolveLanded func(ctx context.Context, id uint64, tx string) bool
	// rigResult, when set (tests, through export_test.go), rewrites every
	// result this node reports before it is signed: a node that lies.
	rigResult func(r *store.Result)
}

func (c *Config) setDefaults() {
	if len(c.ListenAddrs) == 0 {
		c.ListenAddrs = []string{"/ip4/0.0.0.0/tcp/4001"}
	}
	if c.HTTPAddr == "" {
		c.HTTPAddr = "127.0.0.1:8080"
	}
	if c.YieldTimeoutBlocks == 0 {
		c.YieldTimeoutBlocks = contracts.YieldTimeoutBlocks
	}
	if c.YieldMarginBlocks == 0 {
		c.YieldMarginBlocks = 20
	}
	if c.PollInterval <= 0 {
		c.PollInterval = 100 * time.Millisecond
	}
	if c.Slots <= 0 {
		c.Slots = runtime.NumCPU()
	}
	if c.LeaseExtra <= 0 {
		c.LeaseExtra = 30 * time.Second
	}
	if c.BuildLease <= 0 {
		c.BuildLease = 5 * time.Minute
	}
	if c.CompileLease <= 0 {
		c.CompileLease = 30 * time.Second
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 3
	}
	if c.Agreement <= 0 {
		c.Agreement = 1
	}
	if c.DissentLimit <= 0 {
		c.DissentLimit = 3
	}
	if c.MaxWasmDownloadBytes <= 0 {
		c.MaxWasmDownloadBytes = 32 << 20
	}
	if c.Raft.CommitTimeout <= 0 {
		c.Raft.CommitTimeout = defaultCommitTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// defaultCommitTimeout replaces Raft's 50 ms. A follower learns that an
// entry is committed only from the leader's next AppendEntries, which an
// idle leader sends after a random CommitTimeout..2×CommitTimeout: with
// Raft's default every lease given to a follower reached its worker 50–100
// ms late (half a block at 100 ms blocks). 10 ms costs each follower 50–100
// small messages a second when idle.
const defaultCommitTimeout = 10 * time.Millisecond

// Validate reports every missing or inconsistent setting at once.
func (c *Config) Validate() error {
	var errs []error
	if c.Retention < 0 || (c.Retention > 0 && c.Retention < MinRetention) {
		errs = append(errs, fmt.Errorf("--retention %s: settled requests must be kept at least %s (0 keeps them forever)", c.Retention, MinRetention))
	}
	if c.RetainSettled < 0 {
		errs = append(errs, fmt.Errorf("--retain-settled %d: a count, 0 for no cap", c.RetainSettled))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("a data directory is required (--data-dir)"))
	}
	if c.RPCURL == "" {
		errs = append(errs, errors.New("a NEAR RPC URL is required (--near-rpc)"))
	}
	if c.ContractID == "" {
		errs = append(errs, errors.New("the OutLayer contract account is required (--contract)"))
	} else if err := near.ValidateAccountID(c.ContractID); err != nil {
		errs = append(errs, fmt.Errorf("contract %q: %w", c.ContractID, err))
	}
	if c.OperatorAccount == "" {
		errs = append(errs, errors.New("the operator account is required (--operator)"))
	} else if err := near.ValidateAccountID(c.OperatorAccount); err != nil {
		errs = append(errs, fmt.Errorf("operator %q: %w", c.OperatorAccount, err))
	}
	if c.OperatorKey == nil && c.OperatorKeyFile == "" {
		errs = append(errs, errors.New("this node's operator key file is required (--operator-key)"))
	}
	if c.Agreement > store.MaxAgreement {
		errs = append(errs, fmt.Errorf("--agreement %d: at most %d executors can be asked to agree", c.Agreement, store.MaxAgreement))
	}
	if c.YieldMarginBlocks >= c.YieldTimeoutBlocks {
		errs = append(errs, fmt.Errorf("the yield margin (%d blocks) must be below the yield timeout (%d blocks)", c.YieldMarginBlocks, c.YieldTimeoutBlocks))
	}
	if c.Build.AllowLocalRepos && !c.DevMode {
		errs = append(errs, errors.New("local git repositories may only be built in dev mode: a request could otherwise read any repository on the machine"))
	}
	if c.Cluster != "" {
		if err := discovery.ValidClusterName(c.Cluster); err != nil {
			errs = append(errs, fmt.Errorf("--cluster: %w", err))
		}
	} else if c.JoinLAN {
		errs = append(errs, errors.New("joining without a member address needs the cluster's name (--cluster)"))
	}
	if _, err := discovery.ParseMode(c.MDNS); err != nil {
		errs = append(errs, fmt.Errorf("--mdns: %w", err))
	}
	if c.KeystoreMemoryOnly && c.Sealer != nil {
		errs = append(errs, errors.New("the keystore is either memory-only or sealed with a Sealer, not both"))
	}
	return errors.Join(errs...)
}
