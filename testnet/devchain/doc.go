// Package devchain is a single-process, single-shard NEAR-compatible chain for
// development and tests: NEAR's JSON-RPC shapes over HTTP, real borsh
// transactions signed with ed25519, contract WASM run in wazero with NEAR's
// `env` host functions (internal/vm), promises with callbacks and refunds,
// yield/resume with the 200-block timeout, storage staking, and blocks on a
// timer plus near-sandbox's sandbox_fast_forward.
//
//	c, _ := devchain.New(devchain.Config{Home: dir, RPCAddr: "127.0.0.1:0", BlockTime: 50 * time.Millisecond})
//	_ = c.Start(ctx)
//	defer c.Close()
//	client := near.NewClient(c.RPCURL()) // root account c.RootAccount(), key c.RootKeyFile()
//
// DESIGN.md describes the model and what is faithful to NEAR and what is
// approximate.
package devchain
