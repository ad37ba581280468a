// Package daemon wires one OutLayer node together: configuration, start and
// stop, the leader-only loops (chain watcher, scheduler, resolver, and the
// executor-key loop that has members vouch for the contract's executor
// keys), the worker loop every node runs, the keystore, and the HTTP API
// with metrics. Each loop receives its dependencies as small interfaces
// declared in deps.go, built once in Start, so its decisions are
// unit-tested with fakes; see DESIGN.md.
package daemon
