// Package store is the bbolt schema of a node's replica: execution requests,
// leases and results, the chain cursor, WASM blobs with their LRU accounting,
// nodes, and sealed keystore state. It knows nothing of Raft.
package store
