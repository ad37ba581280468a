package exec_test

import (
	"testing"

	outexec "github.com/outlayer/outlayer/exec"
)

// The warm-run benchmarks through a sandbox process (the daemon's
// configuration): the difference from BenchmarkWarmRunTiny/GoEcho is the
// cost of isolation per run (a round trip over the pipes, the request and
// result encoded with gob; the WASM is not sent once the sandbox has it).

func BenchmarkWarmRunTinyIsolated(b *testing.B) {
	benchmarkWarmWith(b, outexec.Config{Isolate: true, Sandboxes: 1}, outexec.Request{Wasm: helloModule()})
}

func BenchmarkWarmRunGoEchoIsolated(b *testing.B) {
	benchmarkWarmWith(b, outexec.Config{Isolate: true, Sandboxes: 1}, outexec.Request{Wasm: sample(b, "echo"), Input: []byte("hello")})
}
