package meter

import (
	"bytes"
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

// nestedLoopsModule is the compile bomb of the issue at the caps: functions
// of MaxNesting nested blocks, each holding a loop (MaxLoopNesting bounds
// loops nested in loops), as many as fit in size bytes.
func nestedLoopsModule(size int) []byte {
	body := append(bytes.Repeat(code(opBlock, opLoop, opEnd), MaxNesting-1), bytes.Repeat(opEnd, MaxNesting)...)
	return manyFunctions(body, size)
}

// dispatchModule is Go's dispatch shape at the caps: a loop over
// MaxNesting−2 head blocks whose br_table names them all, and jumps to
// every case from the cases, as many functions as fit in size bytes. The
// dispatch pass was O(cases × jumps) per loop.
func dispatchBombModule(size int) []byte {
	m := MaxNesting - 2
	var b []byte
	b = append(b, opLoop...)
	b = append(b, bytes.Repeat(opBlock, m)...)
	b = append(b, lget(0)...)
	labels := make([]uint32, m)
	for i := range labels {
		labels[i] = uint32(i)
	}
	b = append(b, brTable(0, labels...)...)
	for c := 0; c < m; c++ {
		b = append(b, opEnd...)
		// Case c (depth m−1−c blocks remain, then the loop): jump to case
		// (c*7)%m and (c*13)%m.
		for _, k := range []int{c * 7 % m, c * 13 % m} {
			b = append(b, lget(1)...)
			b = append(b, opIf...)
			b = append(b, i32c(int32(k))...)
			b = append(b, lset(0)...)
			b = append(b, br(uint32(m-1-c)+1)...)
			b = append(b, opEnd...)
		}
	}
	b = append(b, opEnd...)
	b = append(b, opEnd...)
	return manyFunctions(b, size, tI32, tI32)
}

// manyFunctions repeats one body (whose function takes params) until the
// module reaches size bytes.
func manyFunctions(body []byte, size int, params ...byte) []byte {
	n := size / (len(body) + 8)
	if n == 0 {
		n = 1
	}
	m := testModule{types: [][2][]byte{{params, nil}}}
	for i := 0; i < n; i++ {
		m.funcs = append(m.funcs, testFunc{typ: 0, code: body})
	}
	return m.bytes()
}

// BenchmarkInstrumentAtTheCaps instruments hostile modules just under
// MaxModuleBytes, and Go's JSON program, and reports the speed in MB/s.
// Linear instrumentation keeps each near the others.
//
//	go test -run '^$' -bench InstrumentAtTheCaps -benchtime 1x ./exec/meter
func BenchmarkInstrumentAtTheCaps(b *testing.B) {
	cases := []struct {
		name string
		wasm func() []byte
	}{
		{"nested-loops-32MiB", func() []byte { return nestedLoopsModule(MaxModuleBytes - 64<<10) }},
		{"dispatch-32MiB", func() []byte { return dispatchBombModule(MaxModuleBytes - 64<<10) }},
		{"go-jsonwork", func() []byte { return goProgram(b, "jsonwork") }},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			wasm := c.wasm()
			b.SetBytes(int64(len(wasm)))
			b.ResetTimer()
			for b.Loop() {
				if _, err := Instrument(wasm, Options{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCompileHostile compiles (instrumented, wazero's compiler) one
// function of each hostile shape at the caps, to extrapolate the compile
// time of a module at the size cap.
//
//	go test -run '^$' -bench CompileHostile -benchtime 1x ./exec/meter
func BenchmarkCompileHostile(b *testing.B) {
	ctx := context.Background()
	for _, c := range []struct {
		name string
		wasm []byte
	}{
		{"nested-loops", nestedLoopsModule(1)},
		{"dispatch", dispatchBombModule(1)},
	} {
		for _, metered := range []bool{false, true} {
			wasm := c.wasm
			name := c.name + "/plain"
			if metered {
				name = c.name + "/metered"
				var err error
				if wasm, err = Instrument(wasm, Options{}); err != nil {
					b.Fatal(err)
				}
			}
			b.Run(name, func(b *testing.B) {
				b.SetBytes(int64(len(c.wasm)))
				for b.Loop() {
					rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigCompiler())
					if _, err := rt.CompileModule(ctx, wasm); err != nil {
						b.Fatal(err)
					}
					rt.Close(ctx)
				}
			})
		}
	}
}
