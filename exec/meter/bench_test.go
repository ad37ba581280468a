package meter

import (
	"context"
	"runtime"
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

// BenchmarkOverhead runs each program uninstrumented and instrumented on
// wazero's compiler, alternately in the same iteration, and reports the
// ratio of the CPU time the running thread spent on each (goal: ≤ 1.15).
// Alternating and counting thread CPU time keeps the ratio meaningful on a
// machine shared with other work, where wall time swings by 2×.
// Compilation is outside the loop; each run instantiates and calls _start.
//
//	go test -run '^$' -bench Overhead -benchtime 3x ./exec/meter
func BenchmarkOverhead(b *testing.B) {
	ctx := context.Background()
	for _, c := range benchPrograms() {
		b.Run(c.prog, func(b *testing.B) {
			orig := goProgram(b, c.prog)
			metered, err := Instrument(orig, Options{})
			if err != nil {
				b.Fatal(err)
			}
			rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigCompiler().WithCompilationCache(goPrograms.cache))
			defer rt.Close(ctx)
			wasi_snapshot_preview1.MustInstantiate(ctx, rt)
			plain, err := rt.CompileModule(ctx, orig)
			if err != nil {
				b.Fatal(err)
			}
			counted, err := rt.CompileModule(ctx, metered)
			if err != nil {
				b.Fatal(err)
			}
			runtime.LockOSThread() // wazero runs the guest on this goroutine
			defer runtime.UnlockOSThread()
			var plainCPU, meteredCPU time.Duration
			var used uint64
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				t0 := threadCPU(b)
				res := runCompiled(b, ctx, rt, plain, "", 0, c.args...)
				t1 := threadCPU(b)
				mres := runCompiled(b, ctx, rt, counted, "", 1<<62, c.args...)
				t2 := threadCPU(b)
				if res.trapped != nil || mres.trapped != nil || res.stdout != mres.stdout {
					b.Fatalf("runs differ or failed: %+v %+v", res, mres)
				}
				plainCPU += t1 - t0
				meteredCPU += t2 - t1
				used = mres.used
			}
			b.ReportMetric(float64(plainCPU.Milliseconds())/float64(b.N), "plain-cpu-ms/op")
			b.ReportMetric(float64(meteredCPU.Milliseconds())/float64(b.N), "metered-cpu-ms/op")
			b.ReportMetric(float64(meteredCPU)/float64(plainCPU), "overhead-x")
			b.ReportMetric(float64(used), "instr/op")
		})
	}
}

// threadCPU is the CPU time of the calling OS thread.
func threadCPU(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_THREAD, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
