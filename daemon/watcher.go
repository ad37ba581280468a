package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/outlayer/outlayer/consensus"
	"github.com/outlayer/outlayer/contracts"
	"github.com/outlayer/outlayer/contracts/near"
	"github.com/outlayer/outlayer/store"
)

// pendingPage is the largest page get_pending_requests returns.
const pendingPage = 100

// watcher is the leader's view of the chain. It polls the contract's
// get_pending_requests view at the final block, starting just above the
// highest request id the replicated store knows, and proposes every new
// pending request in one Enqueue entry together with the block height as
// the cursor. See DESIGN.md for why this is a view poll, not a block scan.
type watcher struct {
	replica  replica
	propose  proposer
	chain    chainReader
	contract string
	// tip is where the watcher publishes the final height it saw.
	tip     *chainTip
	poll    time.Duration
	metrics *metrics
	log     *slog.Logger
	// done is the last height whose pending requests were all enqueued: the
	// view at a given height never changes, so polling it again is skipped
	// and a poll interval shorter than the block time costs one cheap
	// `block` call, not a view call.
	done uint64
}

func (w *watcher) run(ctx context.Context) {
	pollEvery(ctx, w.poll, 10*time.Second, w.log, "polling the contract", w.pollOnce)
}

// highestKnownID is the largest on-chain request id in the replica (HTTPS
// calls have ids of their own, above store.CallIDBase).
func (w *watcher) highestKnownID() (uint64, bool, error) {
	return w.replica.HighestChainID()
}

// pollOnce reads the final block and enqueues the pending requests the
// replica does not know yet.
func (w *watcher) pollOnce(ctx context.Context) error {
	blk, err := w.chain.Block(ctx, near.Final())
	if err != nil {
		return fmt.Errorf("reading the final block: %w", err)
	}
	height := blk.Header.Height
	w.tip.set(height)
	w.metrics.chainHeight.Set(float64(height))
	if height == w.done {
		return nil
	}
	ref := near.AtHeight(height)
	cursor := &store.Cursor{Height: height, Hash: blk.Header.Hash.String()}

	for {
		last, known, err := w.highestKnownID()
		if err != nil {
			return fmt.Errorf("reading the replica: %w", err)
		}
		from := uint64(0)
		if known {
			from = last + 1
		}
		limit := uint64(pendingPage)
		var reqs []contracts.ExecutionRequest
		if err := w.chain.ViewFunctionAt(ctx, w.contract, contracts.MethodGetPendingRequests,
			contracts.PageArgs{FromIndex: &from, Limit: &limit}, &reqs, ref); err != nil {
			return fmt.Errorf("listing pending requests from id %d: %w", from, err)
		}
		batch := make([]store.Request, 0, len(reqs))
		for _, r := range reqs {
			if r.RequestID < from {
				continue // a contract that ignores from_index; never go back
			}
			if r.Resolved {
				// Resolved by someone before we saw it: nothing for us to do,
				// and enqueuing it would only produce a refused resolve.
				w.log.Info("skipping a request the chain already has a resolution for", "request_id", r.RequestID)
				continue
			}
			batch = append(batch, requestFromChain(r, cursor))
		}
		// The cursor moves with every poll, so the replica records how far
		// the cluster has looked even when nothing is pending; an empty
		// block range costs a small Raft entry every few polls only.
		if len(batch) == 0 {
			if err := w.advance(ctx, cursor); err != nil {
				return err
			}
			w.done = height
			return nil
		}
		res, err := w.propose.Apply(ctx, &consensus.Enqueue{Requests: batch, Cursor: cursor})
		if err != nil {
			return fmt.Errorf("proposing %d new requests: %w", len(batch), err)
		}
		for i, out := range res.Enqueued {
			if i >= len(batch) {
				break
			}
			switch out {
			case store.Enqueued:
				w.metrics.enqueued.Inc()
				w.log.Info("request enqueued", "request_id", batch[i].ID, "sender", batch[i].Sender,
					"block", batch[i].BlockHeight, "code", describeCode(batch[i].Code))
			case store.EnqueuedInvalid:
				w.metrics.enqueued.Inc()
				w.log.Warn("request enqueued as failed: the cluster cannot execute it", "request_id", batch[i].ID)
			}
		}
		if len(reqs) < pendingPage {
			w.done = height
			return nil
		}
	}
}

// advance records the cursor without requests, at most every ~second, so the
// log does not grow by an entry per poll.
func (w *watcher) advance(ctx context.Context, c *store.Cursor) error {
	cur, ok, err := w.replica.Cursor()
	if err != nil {
		return err
	}
	if ok && c.Height < cur.Height+10 {
		return nil
	}
	if _, err := w.propose.Apply(ctx, &consensus.AdvanceCursor{Cursor: *c}); err != nil {
		return fmt.Errorf("advancing the chain cursor to %d: %w", c.Height, err)
	}
	return nil
}

// requestFromChain turns the contract's stored request (get_request's shape)
// into the replicated request. The contract's state is the source: nothing
// here comes from an event log that someone else could have shaped.
func requestFromChain(r contracts.ExecutionRequest, seen *store.Cursor) store.Request {
	req := store.Request{
		ID:     r.RequestID,
		DataID: r.DataID.Hex(),
		Sender: r.SenderID,
		Signer: r.SignerID,
		Payer:  r.PayerAccountID,
		Limits: store.Limits{
			MaxInstructions:     r.ResourceLimits.MaxInstructions,
			MaxMemoryMB:         r.ResourceLimits.MaxMemoryMB,
			MaxExecutionSeconds: r.ResourceLimits.MaxExecutionSeconds,
		},
		ResponseFormat: string(r.ResponseFormat),
		Params:         store.Params{CompileOnly: r.CompileOnly, ForceRebuild: r.ForceRebuild, StoreOnFastFS: r.StoreOnFastFS},
		Deposit:        r.Payment.U128.String(),
		RequestedAtNs:  r.Timestamp,
		BlockHeight:    r.BlockHeight,
		// The contract's k: the cluster runs (at least) this many
		// executors and sends their signatures.
		RequiredSignatures: r.RequiredSignatures,
	}
	if req.BlockHeight == 0 {
		req.BlockHeight = seen.Height
	}
	if r.ProjectID != nil && r.ProjectUUID != nil {
		req.ProjectID, req.ProjectUUID = *r.ProjectID, *r.ProjectUUID
	}
	if r.InputData != nil {
		req.Input = *r.InputData
	}
	if r.SecretsRef != nil {
		req.Secrets = &store.SecretsRef{Profile: r.SecretsRef.Profile, AccountID: r.SecretsRef.AccountID}
	}
	req.Code = codeFromChain(r.CodeSource)
	return req
}

// codeFromChain is the replicated form of a contract's code source, with
// the hash in lowercase and one spelling of the WASI target.
func codeFromChain(c contracts.CodeSource) store.CodeSource {
	var code store.CodeSource
	switch {
	case c.GitHub != nil:
		g := c.GitHub
		code.Git = &store.GitSource{Repo: g.Repo, Commit: g.Commit, BuildTarget: normalTarget(g.BuildTarget)}
	case c.WasmURL != nil:
		u := c.WasmURL
		code.Wasm = &store.WasmSource{URL: u.URL, Hash: strings.ToLower(u.Hash)}
	}
	return code
}

// normalTarget maps upstream's two spellings of WASI preview 1 to one, so
// the same code is never cached twice under two targets (upstream's monitor
// defaulted to wasm32-wasi and its coordinator to wasm32-wasip1).
func normalTarget(t *string) string {
	if t == nil || *t == "" || *t == "wasm32-wasi" || *t == "wasm32-wasip1" {
		return "wasm32-wasip1"
	}
	return *t
}

func describeCode(c store.CodeSource) string {
	switch {
	case c.Git != nil:
		return c.Git.Repo + "@" + c.Git.Commit
	case c.Wasm != nil:
		return "wasm:" + c.Wasm.Hash
	}
	return "none"
}
