// Package examplecontracts exposes the devchain's small Rust test contracts
// (counter, xcc, yieldpair, panicker) and the sample OutLayer caller as
// committed WASM bytes, so Go tests need no Rust toolchain. The sources sit
// beside this file; contracts/build.sh rebuilds them and contracts/SHA256SUMS
// pins their bytes. See README.md for each method's JSON interface.
package examplecontracts

import _ "embed"

// Counter is counter/counter.rs: increment, decrement, get_num, reset.
//
//go:embed wasm/counter.wasm
var Counter []byte

// XCC is xcc/xcc.rs: a cross-contract call with a promise_then callback.
//
//go:embed wasm/xcc.wasm
var XCC []byte

// YieldPair is yieldpair/yieldpair.rs: promise_yield_create and resume.
//
//go:embed wasm/yieldpair.wasm
var YieldPair []byte

// Panicker is panicker/panicker.rs: panics, aborts, traps and loops forever.
//
//go:embed wasm/panicker.wasm
var Panicker []byte

// Caller is caller/caller.rs: a sample OutLayer client contract that calls
// request_execution with a deposit and records the output its callback gets.
//
//go:embed wasm/caller.wasm
var Caller []byte

// VRFCheck is vrfcheck/vrfcheck.rs: set_pubkey (the contract's own account)
// and verify, which checks an OutLayer VRF draw with ed25519_verify.
//
//go:embed wasm/vrfcheck.wasm
var VRFCheck []byte
