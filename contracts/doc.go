// Package contracts is the on-chain half of OutLayer as seen from Go.
//
// Two NEAR contracts live beside this package as Rust sources
// (contracts/rust/outlayer, contracts/rust/register, sharing
// contracts/rust/common) and as committed, reproducibly built WASM
// (contracts/wasm, pinned by contracts/SHA256SUMS, rebuilt and compared by
// contracts/build.sh --check):
//
//   - the OutLayer contract: request_execution (paid, yields until the
//     operator resolves or 200 blocks pass), resolve_execution and
//     submit_execution_output_and_resolve (operator only), the settlement
//     callback, owner administration and per-owner encrypted secrets. Its
//     JSON interface is upstream near-outlayer's (645a6e5), with the
//     differences listed in DESIGN.md;
//   - the registration contract, deployed on the operator account: it
//     records a node's attestation and gives the node a function-call key
//     that can only resolve;
//   - a sample NEP-141 payment token (contracts/rust/token) for the
//     devchain and the testnet.
//
// The OutLayer contract also follows upstream HEAD: `source` beside
// `code_source`, projects and versions (projects.go), the Project secrets
// accessor, and payment keys topped up through the payment token's
// ft_transfer_call (paymentkeys.go: methods, views, events, and
// ParsePaymentKey / PaymentKeyHash for the X-Payment-Key header).
//
// This package holds their Go side: typed arguments, views and events with
// the contracts' exact JSON (externally tagged enums, u64 numbers, U128
// strings, upstream's bare-number payment), an EVENT_JSON parser, the
// pricing formula (Pricing.Estimate, Cost, Charge — exactly what the
// contract computes), the resolve payload rules (ResolveCall picks the
// method and fits the response to the yield payload; OutputIn wraps output
// in a response format and refuses unknown ones), method-name constants,
// and the embedded WASM with its
// sha256 (OutLayerWASM, RegisterWASM, TokenWASM), so the daemon and tests need only Go.
// The NEAR client is contracts/near.
package contracts
