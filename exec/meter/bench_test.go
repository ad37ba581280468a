package meter

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// benchPrograms are the compute-heavy programs of the overhead goal, at
// full size.
func benchPrograms() []goCase {
	return []goCase{
		{prog: "collatz", args: []string{"300000"}},
		{prog: "sieve", args: []string{"5000000"}},
		{prog: "sha", args: []string{"8192"}},
		{prog: "jsonwork", args: []string{"200"}},
	}
}

// BenchmarkOverhead compares each program uninstrumented and instrumented
// on wazero's compiler (goal: metered ≤ 1.15× unmetered). Compilation is
// outside the timed loop; each iteration instantiates and runs _start.
//
//	go test -run '^$' -bench Overhead -benchtime 3x ./exec/meter
func BenchmarkOverhead(b *testing.B) {
	ctx := context.Background()
	for _, c := range benchPrograms() {
		orig := goProgram(b, c.prog)
		metered, err := Instrument(orig, Options{})
		if err != nil {
			b.Fatal(err)
		}
		for _, v := range []struct {
			name   string
			wasm   []byte
			budget uint64
		}{{"unmetered", orig, 0}, {"metered", metered, 1 << 62}} {
			b.Run(c.prog+"/"+v.name, func(b *testing.B) {
				rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigCompiler().WithCompilationCache(goPrograms.cache))
				defer rt.Close(ctx)
				wasi_snapshot_preview1.MustInstantiate(ctx, rt)
				compiled, err := rt.CompileModule(ctx, v.wasm)
				if err != nil {
					b.Fatal(err)
				}
				b.ResetTimer()
				cpu0 := cpuTime(b)
				for i := 0; i < b.N; i++ {
					res := runCompiled(b, ctx, rt, compiled, "", v.budget, c.args...)
					if res.trapped != nil || res.exitCode != 0 {
						b.Fatalf("run failed: %+v", res)
					}
					if v.budget > 0 {
						b.ReportMetric(float64(res.used), "instr/op")
					}
				}
				b.ReportMetric(float64((cpuTime(b)-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
			})
		}
	}
}

// cpuTime is the process's user+system CPU time. On a shared machine wall
// time swings with other load; CPU time is the steadier figure.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
