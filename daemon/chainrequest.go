package daemon

import (
	"github.com/outlayer/outlayer/contracts"
	"github.com/outlayer/outlayer/store"
)

// RequestFromChain is the request a node stores for the contract's
// get_request view of it, with the same normalisation the watcher applies
// (lowercase WASM hash, one spelling of the WASI target). A verifier
// compares a node's copy of a request with it to catch a node that serves
// an input, sender or code the chain never asked for.
func RequestFromChain(r contracts.ExecutionRequest) store.Request {
	return requestFromChain(r, &store.Cursor{})
}
