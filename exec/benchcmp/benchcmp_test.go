package benchcmp

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bytecodealliance/wasmtime-go/v39"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"

	outexec "github.com/outlayer/outlayer/exec"
	"github.com/outlayer/outlayer/exec/meter"
)

// program is one of the Go programs under exec/meter/testdata, at the size
// the engines are compared on: each program's default, because the shipped
// runner passes no arguments.
type program struct {
	name string
	args []string
}

func programs() []program {
	return []program{
		{"collatz", []string{"300000"}},
		{"sieve", []string{"5000000"}},
		{"sha", []string{"8192"}},    // KiB
		{"jsonwork", []string{"40"}}, // its default
	}
}

// built holds each program compiled twice: for wasip1 and natively.
var built struct {
	once sync.Once
	dir  string
	err  error
}

func build(tb testing.TB) string {
	tb.Helper()
	built.once.Do(func() {
		if built.dir, built.err = os.MkdirTemp("", "benchcmp-"); built.err != nil {
			return
		}
		goBin, err := exec.LookPath("go")
		if err != nil {
			built.err = fmt.Errorf("benchcmp needs the go command on PATH: %w", err)
			return
		}
		for _, p := range programs() {
			for _, target := range []struct{ suffix, goos, goarch string }{
				{".wasm", "wasip1", "wasm"},
				{".native", runtime.GOOS, runtime.GOARCH},
			} {
				cmd := exec.Command(goBin, "build", "-trimpath", "-o", filepath.Join(built.dir, p.name+target.suffix), "../meter/testdata/"+p.name)
				cmd.Env = append(os.Environ(), "GOOS="+target.goos, "GOARCH="+target.goarch, "CGO_ENABLED=0")
				if out, err := cmd.CombinedOutput(); err != nil {
					built.err = fmt.Errorf("building %s for %s/%s: %v\n%s", p.name, target.goos, target.goarch, err, out)
					return
				}
			}
		}
	})
	if built.err != nil {
		tb.Fatal(built.err)
	}
	return built.dir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

func readWasm(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(build(tb), name+".wasm"))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// runner runs a program once and returns its stdout and the instructions
// or fuel it used (0 when the engine does not count).
type runner func(tb testing.TB) (stdout string, count uint64)

// wazeroRunner compiles wasm once and returns a runner that instantiates
// and runs it. budget 0 means unmetered.
func wazeroRunner(tb testing.TB, cfg wazero.RuntimeConfig, wasm []byte, args []string, metered bool) runner {
	tb.Helper()
	ctx := context.Background()
	if metered {
		var err error
		if wasm, err = meter.Instrument(wasm, meter.Options{}); err != nil {
			tb.Fatal(err)
		}
	}
	rt := wazero.NewRuntimeWithConfig(ctx, cfg)
	tb.Cleanup(func() { rt.Close(ctx) })
	wasi_snapshot_preview1.MustInstantiate(ctx, rt)
	compiled, err := rt.CompileModule(ctx, wasm)
	if err != nil {
		tb.Fatal(err)
	}
	const budget = 500_000_000_000 // the protocol's cap
	return func(tb testing.TB) (string, uint64) {
		var stdout bytes.Buffer
		mod, err := rt.InstantiateModule(ctx, compiled, wazero.NewModuleConfig().WithName("").
			WithStartFunctions().WithStdout(&stdout).WithArgs(append([]string{"prog"}, args...)...))
		if err != nil {
			tb.Fatal(err)
		}
		defer mod.Close(ctx)
		if metered {
			if err := meter.SetBudget(mod, budget); err != nil {
				tb.Fatal(err)
			}
		}
		_, err = mod.ExportedFunction("_start").Call(ctx)
		var exit *sys.ExitError
		if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 0) {
			tb.Fatalf("wazero run failed: %v", err)
		}
		var used uint64
		if metered {
			if used, err = meter.Used(mod, budget); err != nil {
				tb.Fatal(err)
			}
		}
		return stdout.String(), used
	}
}

// wasmtimeRunner compiles wasm once (Cranelift, default optimisation) and
// returns a runner that instantiates and runs it in a fresh store.
func wasmtimeRunner(tb testing.TB, wasm []byte, args []string, fuel bool) runner {
	tb.Helper()
	cfg := wasmtime.NewConfig()
	cfg.SetConsumeFuel(fuel)
	engine := wasmtime.NewEngineWithConfig(cfg)
	module, err := wasmtime.NewModule(engine, wasm)
	if err != nil {
		tb.Fatal(err)
	}
	linker := wasmtime.NewLinker(engine)
	if err := linker.DefineWasi(); err != nil {
		tb.Fatal(err)
	}
	stdoutPath := filepath.Join(tb.TempDir(), "stdout")
	const budget = 500_000_000_000
	return func(tb testing.TB) (string, uint64) {
		wasi := wasmtime.NewWasiConfig()
		wasi.SetArgv(append([]string{"prog"}, args...))
		if err := wasi.SetStdoutFile(stdoutPath); err != nil {
			tb.Fatal(err)
		}
		store := wasmtime.NewStore(engine)
		store.SetWasi(wasi)
		if fuel {
			if err := store.SetFuel(budget); err != nil {
				tb.Fatal(err)
			}
		}
		inst, err := linker.Instantiate(store, module)
		if err != nil {
			tb.Fatal(err)
		}
		_, err = inst.GetFunc(store, "_start").Call(store)
		var werr *wasmtime.Error
		if err != nil {
			if !errors.As(err, &werr) {
				tb.Fatalf("wasmtime run failed: %v", err)
			}
			if status, ok := werr.ExitStatus(); !ok || status != 0 {
				tb.Fatalf("wasmtime run failed: %v", err)
			}
		}
		var used uint64
		if fuel {
			left, err := store.GetFuel()
			if err != nil {
				tb.Fatal(err)
			}
			used = budget - left
		}
		store.Close()
		out, err := os.ReadFile(stdoutPath)
		if err != nil {
			tb.Fatal(err)
		}
		return string(out), used
	}
}

// shippedRunner runs the program as the daemon does: exec.NewRunner with
// the daemon's exact Config (daemon/node.go: an on-disk module cache, 64
// modules in memory, each program in a sandbox child process, one sandbox
// per slot and a slot per CPU) and Runner.Run with the request carrying the
// WASM's sha256, as the daemon's do. The first run, which instruments and
// compiles, is outside the timing. Limits are the protocol's caps. The
// guest runs in a sandbox process, whose CPU time cpuTime adds.
func shippedRunner(tb testing.TB, wasm []byte) runner {
	tb.Helper()
	ctx := context.Background()
	r, err := outexec.NewRunner(ctx, outexec.Config{CacheDir: filepath.Join(tb.TempDir(), "modules"), MaxCachedModules: 64,
		Isolate: true, Sandboxes: runtime.NumCPU()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { r.Close(ctx) })
	req := outexec.Request{Wasm: wasm, WasmSHA256: sha256.Sum256(wasm),
		Limits: outexec.Limits{MaxInstructions: outexec.MaxInstructionsCap, Timeout: outexec.TimeoutCap}}
	run := func(tb testing.TB) (string, uint64) {
		res, err := r.Run(ctx, req)
		if err != nil {
			tb.Fatalf("shipped runner: %v", err)
		}
		return string(res.Output), res.Instructions
	}
	run(tb)
	return run
}

// nativeRunner runs the native build as a subprocess: process start-up
// (about a millisecond) is included in its time.
func nativeRunner(tb testing.TB, name string, args []string) runner {
	bin := filepath.Join(build(tb), name+".native")
	return func(tb testing.TB) (string, uint64) {
		out, err := exec.Command(bin, args...).Output()
		if err != nil {
			tb.Fatalf("native %s: %v", name, err)
		}
		return string(out), 0
	}
}

type engineCase struct {
	name string
	make func(tb testing.TB, p program) runner
}

func engineCases() []engineCase {
	return []engineCase{
		{"native", func(tb testing.TB, p program) runner { return nativeRunner(tb, p.name, p.args) }},
		{"wasmtime-fuel", func(tb testing.TB, p program) runner {
			return wasmtimeRunner(tb, readWasm(tb, p.name), p.args, true)
		}},
		{"wasmtime", func(tb testing.TB, p program) runner {
			return wasmtimeRunner(tb, readWasm(tb, p.name), p.args, false)
		}},
		{"wazero-compiler", func(tb testing.TB, p program) runner {
			return wazeroRunner(tb, wazero.NewRuntimeConfigCompiler(), readWasm(tb, p.name), p.args, false)
		}},
		{"wazero-compiler-metered", func(tb testing.TB, p program) runner {
			return wazeroRunner(tb, wazero.NewRuntimeConfigCompiler(), readWasm(tb, p.name), p.args, true)
		}},
		{"shipped", func(tb testing.TB, p program) runner { return shippedRunner(tb, readWasm(tb, p.name)) }},
		{"wazero-interpreter-metered", func(tb testing.TB, p program) runner {
			return wazeroRunner(tb, wazero.NewRuntimeConfigInterpreter(), readWasm(tb, p.name), p.args, true)
		}},
	}
}

// cpuTime is the user+system CPU time of the calling OS thread (the
// engines run the guest on it) plus that of waited-for child processes (the
// native runs). The machine is shared; CPU time is steadier than wall time.
func cpuTime(tb testing.TB) time.Duration {
	total := liveChildrenCPU(tb)
	for _, who := range []int{syscall.RUSAGE_THREAD, syscall.RUSAGE_CHILDREN} {
		var ru syscall.Rusage
		if err := syscall.Getrusage(who, &ru); err != nil {
			tb.Fatal(err)
		}
		total += time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	return total
}

// liveChildrenCPU is the CPU time of this process's running children (the
// shipped runner's sandboxes, which RUSAGE_CHILDREN does not see until they
// are waited for), from /proc at 10 ms resolution.
func liveChildrenCPU(tb testing.TB) time.Duration {
	tasks, err := filepath.Glob("/proc/self/task/*/children")
	if err != nil {
		tb.Fatal(err)
	}
	var total time.Duration
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, pid := range strings.Fields(string(b)) {
			stat, err := os.ReadFile("/proc/" + pid + "/stat")
			if err != nil {
				continue
			}
			// Fields after the command (which ends with ')'): utime and
			// stime are the 12th and 13th, in clock ticks of 10 ms.
			rest := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
			if len(rest) < 13 {
				continue
			}
			var utime, stime int64
			fmt.Sscan(rest[11], &utime)
			fmt.Sscan(rest[12], &stime)
			total += time.Duration(utime+stime) * 10 * time.Millisecond
		}
	}
	return total
}

// BenchmarkEngines runs every program on every engine. Compilation is
// outside the timed loop; each iteration instantiates and runs the program
// (native: starts the process). Every engine must print the same output.
func BenchmarkEngines(b *testing.B) {
	for _, p := range programs() {
		var want string
		for _, e := range engineCases() {
			b.Run(p.name+"/"+e.name, func(b *testing.B) {
				run := e.make(b, p)
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				b.ResetTimer()
				cpu0 := cpuTime(b)
				for i := 0; i < b.N; i++ {
					out, count := run(b)
					if want == "" {
						want = out
					}
					if out != want || !strings.HasSuffix(out, "\n") {
						b.Fatalf("printed %q, the first engine printed %q", out, want)
					}
					if count != 0 {
						b.ReportMetric(float64(count), "count/op")
					}
				}
				b.ReportMetric(float64((cpuTime(b)-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
			})
		}
	}
}

// BenchmarkEnginesInterleaved runs, for each program, one run on every
// engine per round, b.N rounds, and reports each engine's fastest run (CPU
// ms, as cpuTime counts it) and the shipped path's ratios to wasmtime with
// fuel and to unmetered wazero. Interleaving and taking the fastest keep
// the comparison meaningful on a shared machine, whose load changes
// between (and during) the sequential sub-benchmarks of BenchmarkEngines.
//
//	go test -run '^$' -bench EnginesInterleaved -benchtime 5x ./exec/benchcmp
func BenchmarkEnginesInterleaved(b *testing.B) {
	keep := map[string]bool{"native": true, "wasmtime-fuel": true, "wasmtime": true,
		"wazero-compiler": true, "wazero-compiler-metered": true, "shipped": true}
	for _, p := range programs() {
		b.Run(p.name, func(b *testing.B) {
			var cases []engineCase
			var runs []runner
			for _, e := range engineCases() {
				if keep[e.name] {
					cases = append(cases, e)
					runs = append(runs, e.make(b, p))
				}
			}
			fastest := make([]time.Duration, len(cases))
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			b.ResetTimer()
			var want string
			for i := 0; i < b.N; i++ {
				for j, run := range runs {
					cpu0 := cpuTime(b)
					out, _ := run(b)
					d := cpuTime(b) - cpu0
					if want == "" {
						want = out
					}
					if out != want {
						b.Fatalf("%s printed %q, %s printed %q", cases[j].name, out, cases[0].name, want)
					}
					if i == 0 || d < fastest[j] {
						fastest[j] = d
					}
				}
			}
			by := map[string]time.Duration{}
			for j, e := range cases {
				by[e.name] = fastest[j]
				b.ReportMetric(float64(fastest[j].Microseconds())/1000, e.name+"-ms")
			}
			b.ReportMetric(float64(by["shipped"])/float64(by["wasmtime-fuel"]), "shipped/fuel")
			b.ReportMetric(float64(by["shipped"])/float64(by["wazero-compiler"]), "shipped/wazero")
		})
	}
}

// TestCounts runs collatz three times under the meter and under wasmtime's
// fuel. The meter's count must be identical each time (and on the
// interpreter); fuel is logged, with a note if it varies.
func TestCounts(t *testing.T) {
	if testing.Short() {
		t.Skip("runs collatz over 1..300000 seven times")
	}
	p := programs()[0]
	wasm := readWasm(t, p.name)
	ours := wazeroRunner(t, wazero.NewRuntimeConfigCompiler(), wasm, p.args, true)
	fuel := wasmtimeRunner(t, wasm, p.args, true)
	var counts, fuels []uint64
	for i := 0; i < 3; i++ {
		_, c := ours(t)
		_, f := fuel(t)
		counts = append(counts, c)
		fuels = append(fuels, f)
	}
	t.Logf("collatz %v: meter counts %v, wasmtime fuel %v", p.args, counts, fuels)
	for _, c := range counts {
		if c != counts[0] || c == 0 {
			t.Errorf("meter counts differ across runs: %v", counts)
		}
	}
	for _, f := range fuels {
		if f != fuels[0] {
			// The Go runtime reads the clock (scheduler, GC pacing): wasmtime
			// gives it the real one, wazero a deterministic one by default.
			t.Logf("note: wasmtime fuel varies across runs: %v", fuels)
			break
		}
	}
}
