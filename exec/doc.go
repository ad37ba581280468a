// Package exec runs WASI preview 1 programs in a deterministic, metered
// wazero sandbox, and builds such programs from source.
package exec
