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
		{prog: "jsonwork", args: []string{"40"}}, // as exec/benchcmp
	}
}

// BenchmarkOverhead runs each program uninstrumented, instrumented with the
// stop global (what in-process runners use) and instrumented without it
// (Options.NoStop: what the runner's sandbox processes use), and the
// latter without the peephole pass (peephole.go), on wazero's compiler, alternately in the same iteration, and reports the CPU time
// the running thread spent on each, the fastest of the iterations, and
// the ratios of those (goal: ≤ 1.15). Alternating, counting thread CPU
// time and taking the fastest keeps the ratio meaningful on a machine
// shared with other work, where wall time swings by 2×. Compilation is
// outside the loop; each run instantiates and calls _start.
//
//	go test -run '^$' -bench Overhead -benchtime 10x ./exec/meter
func BenchmarkOverhead(b *testing.B) {
	ctx := context.Background()
	for _, c := range benchPrograms() {
		b.Run(c.prog, func(b *testing.B) {
			orig := goProgram(b, c.prog)
			rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigCompiler().WithCompilationCache(goPrograms.cache))
			defer rt.Close(ctx)
			wasi_snapshot_preview1.MustInstantiate(ctx, rt)
			variants := []struct {
				name   string
				opts   *Options // nil: not instrumented
				mod    wazero.CompiledModule
				min    time.Duration
				budget uint64
			}{
				{name: "plain"},
				{name: "metered", opts: &Options{}, budget: 1 << 62},
				{name: "nostop", opts: &Options{NoStop: true}, budget: 1 << 62},
				{name: "nostop-nopeephole", opts: &Options{NoStop: true, noPeephole: true}, budget: 1 << 62},
			}
			for i := range variants {
				wasm := orig
				if o := variants[i].opts; o != nil {
					var err error
					if wasm, err = Instrument(orig, *o); err != nil {
						b.Fatal(err)
					}
				}
				var err error
				if variants[i].mod, err = rt.CompileModule(ctx, wasm); err != nil {
					b.Fatal(err)
				}
			}
			runtime.LockOSThread() // wazero runs the guest on this goroutine
			defer runtime.UnlockOSThread()
			var used []uint64
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				var first wasiRun
				for j := range variants {
					v := &variants[j]
					// The previous run's garbage (its linear memory) is
					// collected here, not by assists billed to this run.
					runtime.GC()
					t0 := threadCPU(b)
					res := runCompiled(b, ctx, rt, v.mod, "", v.budget, c.args...)
					d := threadCPU(b) - t0
					if res.trapped != nil || (j > 0 && res.stdout != first.stdout) {
						b.Fatalf("%s: run failed or printed something else: %+v", v.name, res)
					}
					if j == 0 {
						first = res
					} else {
						used = append(used, res.used)
					}
					if v.min == 0 || d < v.min {
						v.min = d
					}
				}
			}
			for _, u := range used {
				if u != used[0] {
					b.Fatalf("counts differ across runs and variants: %v", used)
				}
			}
			for _, v := range variants {
				b.ReportMetric(float64(v.min.Microseconds())/1000, v.name+"-cpu-ms")
				if v.opts != nil {
					b.ReportMetric(float64(v.min)/float64(variants[0].min), v.name+"-x")
				}
			}
			b.ReportMetric(float64(used[0]), "instr/op")
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
