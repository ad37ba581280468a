package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/outlayer/outlayer/contracts"
	"github.com/outlayer/outlayer/contracts/near"
	"github.com/outlayer/outlayer/store"
)

// findLandedResolve looks on chain for a resolve of j that the operator
// account already landed: the case of a leader that resolved a request and
// died before recording Resolved. Its successor's resolve is refused
// ("already resolved", or "not found" once the callback removed the
// request); with the earlier transaction's hash the request closes as
// resolved, as it is, instead of expired.
//
// The search reads the final blocks from the newest down to the request's
// block (the yield window bounds it: a resolve cannot land after the
// window closes), the transactions of each chunk, and confirms a candidate
// with tx status. It returns found=false when no such transaction exists
// (the request was cancelled or timed out) or the blocks are no longer
// served; err is for RPC failures worth retrying.
func (r *resolver) findLandedResolve(ctx context.Context, j *store.Job) (near.CryptoHash, bool, error) {
	blk, err := r.chain.Block(ctx, near.Final())
	if err != nil {
		return near.CryptoHash{}, false, fmt.Errorf("reading the final block: %w", err)
	}
	top := blk.Header.Height
	bottom := j.BlockHeight
	if limit := j.BlockHeight + r.yieldBlocks + 1; top > limit {
		top = limit
	}
	operator, contract := r.sender.AccountID(), r.contract
	for h := top; h > bottom && h >= 1; h-- {
		_, txs, err := r.chain.BlockTransactions(ctx, near.AtHeight(h))
		if err != nil {
			if errors.Is(err, near.ErrUnknownBlock) || errors.Is(err, near.ErrUnknownChunk) || errors.Is(err, near.ErrGarbageCollected) {
				// A skipped height, or a block the node no longer keeps.
				continue
			}
			return near.CryptoHash{}, false, fmt.Errorf("reading block %d: %w", h, err)
		}
		for _, tx := range txs {
			if tx.SignerID != operator || tx.ReceiverID != contract || !resolvesRequest(tx, j.ID) {
				continue
			}
			out, err := r.chain.TxStatus(ctx, tx.Hash, operator, near.TxExecutedOptimistic)
			if err != nil {
				return near.CryptoHash{}, false, fmt.Errorf("status of the earlier resolve %s: %w", tx.Hash, err)
			}
			if out.Err() == nil {
				return tx.Hash, true, nil
			}
		}
	}
	return near.CryptoHash{}, false, nil
}

// resolvesRequest reports whether tx calls a resolve method for request id.
func resolvesRequest(tx near.SignedTransactionView, id uint64) bool {
	for _, a := range tx.Actions {
		fc, ok := a.Action.(near.FunctionCall)
		if !ok {
			continue
		}
		switch fc.MethodName {
		case contracts.MethodResolveExecution, contracts.MethodSubmitExecutionOutputAndResolve:
		default:
			continue
		}
		var args struct {
			RequestID uint64 `json:"request_id"`
		}
		if json.Unmarshal(fc.Args, &args) == nil && args.RequestID == id {
			return true
		}
	}
	return false
}
