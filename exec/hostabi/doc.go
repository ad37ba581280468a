// Package hostabi is the host side of outlayer_v1, the import module through
// which a program reaches the world: outbound HTTP, persistent storage, VRF
// randomness and NEAR chain views. SPEC.md is the contract with program
// authors (exact signatures, memory conventions, error codes); the Go SDK for
// programs is the separate module exec/sdk.
//
// This package owns only the boundary: it defines the WebAssembly functions
// (Instantiate), reads their arguments from the program's memory, turns each
// call into a [Call], hands it to the run's [Handler], writes the [Reply]
// back, and charges the call to the run's instruction budget. It knows
// nothing of HTTP, storage or keys: the node's [Handler] does (exec/hostcall),
// and it may live in another process — a Call and a Reply are plain data that
// cross the sandbox pipe.
//
// A [Record] is the list of every call a run made and the answer it got. A
// run's record is what makes it checkable: [Replay] answers a second run from
// a record instead of asking the world again, so a re-execution sees exactly
// what the first saw and produces the same bytes, instruction count and
// record hash; a program that asks for something the record does not hold
// traps with ErrReplayDiverged's message.
package hostabi
