// Package programs holds sample OutLayer programs: small Go main packages, one
// per directory, built with
//
//	GOOS=wasip1 GOARCH=wasm go build -trimpath -o prog.wasm ./testnet/examples/programs/echo
//
// Each reads its input from stdin and writes its output to stdout, the
// convention every OutLayer program follows. Some misbehave on purpose (loop,
// membomb, spam, exitcode) so that the sandbox's limits can be tested and
// demonstrated. This file exists only to document the directory.
package programs
