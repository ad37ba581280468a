// Package contracts holds the on-chain half of OutLayer: the Go types of the
// OutLayer and registration contracts' JSON interface and events. The Rust
// sources and committed .wasm artifacts live beside it; the NEAR client is in
// contracts/near.
package contracts
