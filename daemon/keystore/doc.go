// Package keystore keeps the cluster's master secret and turns it into what
// programs may see: the secrets their owners stored, encrypted, on chain, and
// the secrets the cluster generated for them.
//
// The daemon creates one Keystore per node and calls:
//
//	ks, err := keystore.New(keystore.Config{Cluster: node, Identity: key, Sealer: sealer, Viewer: client, ContractID: "outlayer.near"})
//	err = ks.Bootstrap(ctx)               // first node of a new cluster: create the master secret
//	go ks.Run(ctx)                        // every node: recover the sealed copy, or receive the master from a member
//
// With Config.MemoryOnly instead of a Sealer (TDX, which has no sealing
// key) the master is never written anywhere: Run can only receive it from
// a member, and reports ErrMasterLost when every node has restarted.
//
//	pub, err := ks.PublicKey(identity)    // what users encrypt to (also GET /v1/keystore/pubkey)
//	env, err := ks.SecretsFor(ctx, req)   // the worker, before running a request that names secrets
//	mux.Handle(keystore.HTTPPrefix, ks.Handler())
//
// Users encrypt on their own machine with Encrypt (the `outlayerd secrets
// encrypt` command): X25519 + HKDF-SHA256 + ChaCha20-Poly1305 in upstream
// OutLayer's ECIES v1 layout. Nothing here ever sees a plaintext secret
// except inside SecretsFor, on its way into a program's environment.
//
// DESIGN.md has the threat model, what is sealed where, the key derivation,
// and how this differs from upstream's keystore (which gave no
// confidentiality).
package keystore
