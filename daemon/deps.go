package daemon

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/network"

	"github.com/outlayer/outlayer/consensus"
	"github.com/outlayer/outlayer/contracts/near"
	"github.com/outlayer/outlayer/exec"
	"github.com/outlayer/outlayer/exec/build"
	"github.com/outlayer/outlayer/store"
)

// The loops' dependencies, as small interfaces defined here, at their
// consumer. Start builds the production implementations (the local
// replica, the consensus node, the NEAR RPC client and the operator's
// signer); the unit tests give the loops fakes, so every decision the loops
// make (what to enqueue, whom to lease to, when to give up, what to send to
// the chain) is tested without a chain or a cluster.

// replica is the read-only view of the local replicated store. Writes go
// through a proposer. *store.Store implements it.
type replica interface {
	Latest(p store.Page) (store.PageResult, error)
	// HighestChainID is the largest on-chain request id (HTTPS calls
	// excluded).
	HighestChainID() (uint64, bool, error)
	Cursor() (store.Cursor, bool, error)
	Queued(limit int) ([]*store.Job, error)
	// Leases returns leases ending at or before until, soonest first
	// (limit <= 0: all).
	Leases(until time.Time, limit int) ([]*store.Job, error)
	AssignedTo(node string) ([]*store.Job, error)
	Unresolved(limit int) ([]*store.Job, error)
	Get(id uint64) (*store.Job, error)
	NodeAgreements() (map[string]store.NodeAgreement, error)
	Blob(h store.BlobHash) ([]byte, error)
	BlobInfo(h store.BlobHash) (*store.BlobInfo, error)
	BlobBySource(src store.BlobSource) (store.BlobHash, bool, error)
}

// proposer proposes a state change through Raft and returns what applying
// it did. *consensus.Node implements it.
type proposer interface {
	Apply(ctx context.Context, cmd consensus.Command) (consensus.Result, error)
}

// members is the cluster's membership as this node sees it.
type members interface {
	// Self is this node's id.
	Self() string
	// Reachable lists the members this node can reach now, itself
	// included.
	Reachable() ([]string, error)
	// All lists every member, reachable or not.
	All() ([]string, error)
}

// chainReader is what the leader reads from the NEAR chain. *near.Client
// implements it.
type chainReader interface {
	Block(ctx context.Context, ref near.BlockReference) (*near.BlockView, error)
	ViewFunctionAt(ctx context.Context, contract, method string, args any, out any, ref near.BlockReference) error
	TxStatus(ctx context.Context, hash near.CryptoHash, senderID string, waitUntil near.TxExecutionStatus) (*near.FinalExecutionOutcome, error)
	BlockTransactions(ctx context.Context, ref near.BlockReference) (*near.BlockView, []near.SignedTransactionView, error)
}

// chainSender sends the operator's transactions. *near.Signer implements
// it.
type chainSender interface {
	AccountID() string
	CallFunction(ctx context.Context, contract, method string, args any, gas uint64, deposit near.U128) (*near.FinalExecutionOutcome, error)
}

// wakeup lets a loop sleep until the replica changes. *notifier implements
// it.
type wakeup interface {
	// C returns a channel closed at the next change.
	C() <-chan struct{}
	// Poke wakes every waiter now.
	Poke()
	// wait blocks until ch closes, d passes or ctx ends; false when ctx
	// ended.
	wait(ctx context.Context, ch <-chan struct{}, d time.Duration) bool
}

// clusterMembers is members over the consensus node: the Raft
// configuration, filtered by the libp2p connections this node has.
type clusterMembers struct{ cons *consensus.Node }

func (m clusterMembers) Self() string { return m.cons.PeerID().String() }

func (m clusterMembers) All() ([]string, error) {
	servers, err := m.cons.Servers()
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(servers))
	for _, srv := range servers {
		out = append(out, srv.ID.String())
	}
	return out, nil
}

func (m clusterMembers) Reachable() ([]string, error) {
	servers, err := m.cons.Servers()
	if err != nil {
		return nil, err
	}
	self := m.cons.PeerID()
	net := m.cons.Host().LibP2P().Network()
	var out []string
	for _, srv := range servers {
		if srv.ID == self || net.Connectedness(srv.ID) == network.Connected {
			out = append(out, srv.ID.String())
		}
	}
	return out, nil
}

// chainTip is the last final block height the watcher saw, which the
// scheduler (deadlines) and the resolver (latency metric) read. Zero until
// the watcher's first poll of a term.
type chainTip struct{ h atomic.Uint64 }

func (t *chainTip) Height() uint64 { return t.h.Load() }

func (t *chainTip) set(h uint64) { t.h.Store(h) }

// deps are the production dependencies, built once in Start.
type deps struct {
	replica replica
	propose proposer
	members members
	chain   chainReader
	sender  chainSender
	wake    wakeup
}

// The worker's own dependencies.

// wasmRunner runs a WASM request. *exec.Runner implements it.
type wasmRunner interface {
	Run(ctx context.Context, req exec.Request) (exec.Result, error)
}

// sourceBuilder builds WASM from a git source. *build.Builder implements
// it.
type sourceBuilder interface {
	Build(ctx context.Context, src build.Source) (*build.Result, error)
}

// blobPeers fetches a blob from another member by its hash.
type blobPeers interface {
	fetchBlob(ctx context.Context, h store.BlobHash) (data []byte, from string, err error)
}

// downloader fetches a request's WasmUrl. *egress.Client implements it.
type downloader interface {
	Get(ctx context.Context, url string) ([]byte, error)
}

// secretSource decrypts a request's secrets: a failed Result for a failure
// that is the request's, an error for one that is the node's. *Node
// implements it over its keystore.
type secretSource interface {
	secretsFor(ctx context.Context, j *store.Job) (map[string]string, *store.Result, error)
}

// seedSource derives a request's random seed; an error is the node's (it
// cannot derive the cluster's seed), never the request's. *Node implements
// it over its keystore.
type seedSource interface {
	requestSeed(ctx context.Context, j *store.Job) ([32]byte, error)
}
