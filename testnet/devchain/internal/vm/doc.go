// Package vm runs NEAR contract WASM in wazero with NEAR's `env` host
// functions (registers, context, storage, logs, crypto, promises and
// yield/resume). It knows nothing of blocks or transactions: the devchain
// hands it a Context and a Host (the account's storage and a few chain
// services), and gets back an Outcome — return value or promise, logs, the
// receipts the call created, gas — or a FunctionCallError shaped like
// nearcore's.
//
// Every import of NEAR's table is defined so any contract links; functions the
// devchain does not support (BLS12-381, alt_bn128, global contracts, gas keys,
// state init) fail with a host error when called, as nearcore does for
// disabled features.
package vm
