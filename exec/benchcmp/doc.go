// Package benchcmp holds benchmarks only: it compares, on the same Go
// programs, a native build, wasmtime with and without fuel (through cgo),
// wazero with and without the instruction meter of exec/meter, and the
// shipped path: exec.Runner configured exactly as the daemon configures it
// (programs in sandbox processes).
//
// The wasmtime bindings are imported only by this package's _test.go files,
// so nothing that links the daemon links cgo. Run:
//
//	go test -run '^$' -bench EnginesInterleaved -benchtime 5x ./exec/benchcmp
//	go test -run Counts -v ./exec/benchcmp
package benchcmp
