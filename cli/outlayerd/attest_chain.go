package main

import (
	"context"
	"fmt"
	"reflect"

	"github.com/outlayer/outlayer/contracts"
	"github.com/outlayer/outlayer/contracts/near"
	"github.com/outlayer/outlayer/daemon"
	"github.com/outlayer/outlayer/store"
)

// chainCheck is the outcome of comparing a node's copy of a request with
// the OutLayer contract's.
type chainCheck int

const (
	// chainMatched: the contract still holds the request and its input,
	// sender and code source are the ones the node served.
	chainMatched chainCheck = iota + 1
	// chainSettled: the contract no longer holds the request (settled
	// requests are removed from its state), so only the node's copy could
	// be checked.
	chainSettled
)

// chainMismatchError is a node's copy of a request that differs from the
// contract's.
type chainMismatchError struct{ what, node, chain string }

func (e *chainMismatchError) Error() string {
	return fmt.Sprintf("the node's copy of the request does not match the chain: %s is %s on the node but %s in the contract", e.what, e.node, e.chain)
}

// checkRequestOnChain reads request job.ID from contract's get_request
// view and compares the input data, sender and code source with the node's
// copy. A read failure is returned as is; a difference as a
// *chainMismatchError.
func checkRequestOnChain(ctx context.Context, rpcURL, contract string, job *store.Job) (chainCheck, error) {
	var stored *contracts.ExecutionRequest
	if err := near.NewClient(rpcURL).ViewFunction(ctx, contract, contracts.MethodGetRequest, contracts.RequestIDArgs{RequestID: job.ID}, &stored); err != nil {
		return 0, fmt.Errorf("reading request %d from contract %s at %s: %w", job.ID, contract, rpcURL, err)
	}
	if stored == nil {
		return chainSettled, nil
	}
	if stored.RequestID != job.ID {
		return 0, fmt.Errorf("contract %s answered get_request(%d) with request %d", contract, job.ID, stored.RequestID)
	}
	want := daemon.RequestFromChain(*stored)
	switch {
	case want.Input != job.Input:
		return 0, &chainMismatchError{"the input data", fmt.Sprintf("%q", clip(job.Input)), fmt.Sprintf("%q", clip(want.Input))}
	case want.Sender != job.Sender:
		return 0, &chainMismatchError{"the sender", fmt.Sprintf("%q", job.Sender), fmt.Sprintf("%q", want.Sender)}
	case !reflect.DeepEqual(want.Code, job.Code):
		return 0, &chainMismatchError{"the code source", describeSource(job.Code), describeSource(want.Code)}
	}
	return chainMatched, nil
}

// clip keeps a mismatch message readable when inputs are large.
func clip(s string) string {
	const max = 80
	if len(s) <= max {
		return s
	}
	return s[:max] + fmt.Sprintf("… (%d bytes)", len(s))
}

func describeSource(c store.CodeSource) string {
	switch {
	case c.Git != nil:
		return fmt.Sprintf("git %s@%s (target %s)", c.Git.Repo, c.Git.Commit, c.Git.BuildTarget)
	case c.Wasm != nil:
		return fmt.Sprintf("WASM %s (sha256 %s)", c.Wasm.URL, c.Wasm.Hash)
	}
	return "none"
}
