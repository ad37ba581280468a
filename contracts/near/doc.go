// Package near is OutLayer's NEAR client: the protocol types (borsh-encoded
// transactions and actions, ed25519 keys, account ids, yoctoNEAR amounts), the
// JSON shapes of NEAR's JSON-RPC (shared with testnet/devchain, which serves the
// very same structs), a JSON-RPC client with typed results and typed errors, and
// a Signer that signs and sends transactions with a nonce that survives
// concurrency.
//
// The borsh codec is hand-written (borsh.go) because NEAR's transaction types
// need custom encodings (Transaction versions, fixed-size key enums,
// NonDelegateAction) and because the devchain decodes every transaction it
// receives; it is checked against nearcore's transaction hash test vector.
//
// Nothing in the client is specific to the devchain: the same code talks to a
// real NEAR RPC endpoint.
package near
