// Package failure is the one vocabulary for why a request failed, shared by
// the sandbox (exec), the worker, the replicated store and the resolve
// payload. A Kind is stored in a result (store.Result.ErrorKind) and says
// what the caller is told; its Class says what the cluster does about it:
// a request failure is a final answer reported on chain, a node failure is
// the node's problem and the request runs again on another node, within the
// cluster's attempt bound.
//
// The package has no dependencies, so every layer can import it.
package failure
