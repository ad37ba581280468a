// Package outlayer is the SDK for OutLayer programs written in Go (built with
// GOOS=wasip1 GOARCH=wasm): outbound HTTP, persistent storage, VRF
// randomness and NEAR chain views, through the node's outlayer_v1 host
// functions (see exec/hostabi/SPEC.md in the OutLayer repository).
//
// It is a module of its own with no dependencies, so a program pulls in
// nothing of the node. Everything a program learns through it is recorded
// in the run's record: a re-execution of the run (another executor, or
// `outlayerd exec --replay`) gets the same answers without asking the world
// again.
//
// Outside a wasip1 build the functions return ErrUnavailable, so a
// program's logic can still be unit-tested on the host.
//
//	resp, err := outlayer.Get("https://api.example.com/price")
//	n, err := outlayer.UserStorage.Increment("visits", 1)
//	coin, err := outlayer.VRF("flip")
package outlayer
