// Package daemon wires one OutLayer node together: configuration, start and
// stop, the leader-only loops (chain watcher, scheduler, resolver), the worker
// loop every node runs, the keystore, and the HTTP API with metrics.
package daemon
