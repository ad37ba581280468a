package exec_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

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

// BenchmarkCompileAtTheCap runs, through a runner isolated as the daemon's
// is (default compile budget: 30 s of CPU), modules just under the 32 MiB
// size cap of the worst shape known for wazero's compiler: functions of
// blocks nested as deep as allowed (10,000), each block holding a loop
// (the meter's counter makes every loop header a phi). It reports how long
// until the runner answered, and whether that answer was the compile
// budget (ErrCompileLimit); one such function, for comparison.
//
//	go test -run '^$' -bench CompileAtTheCap -benchtime 1x ./exec
func BenchmarkCompileAtTheCap(b *testing.B) {
	const depth = 10_000 // meter.MaxNesting
	body := cat(bytes.Repeat([]byte{opBlock, blockEmpty, opLoop, blockEmpty, opEnd}, depth-1), bytes.Repeat([]byte{opEnd}, depth-1))
	for _, n := range []int{1, (32<<20 - 64<<10) / (len(body) + 4)} {
		more := make([][]byte, n)
		for i := range more {
			more[i] = body
		}
		wasm := moduleSpec{more: more}.wasm()
		b.Run(fmt.Sprintf("%dKiB", len(wasm)>>10), func(b *testing.B) {
			for b.Loop() {
				r := newRunner(b, outexec.Config{Isolate: true, Sandboxes: 1, CacheDir: b.TempDir()})
				start := time.Now()
				_, err := r.Run(context.Background(), outexec.Request{Wasm: wasm})
				over := errors.Is(err, outexec.ErrCompileLimit)
				if err != nil && !over {
					b.Fatalf("%d functions: %v", len(more), err)
				}
				b.ReportMetric(time.Since(start).Seconds(), "s-to-answer")
				b.ReportMetric(float64(len(more)), "functions")
				if over {
					b.ReportMetric(1, "over-budget")
				}
				if err := r.Close(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
