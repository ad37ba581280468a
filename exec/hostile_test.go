package exec_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	osexec "os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	outexec "github.com/outlayer/outlayer/exec"
)

// Hostile modules, written by hand. Each is a command module (it exports
// _start and memory) so that only its hostility is refused.

// rawModule assembles a module of one function, _start, with the given
// locals declaration and code, and optional table and memory sections.
func rawModule(locals, code, table []byte, memPages uint32) []byte {
	body := cat(locals, code, []byte{opEnd})
	mod := cat(
		[]byte{0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00},
		section(1, vec([]byte{0x60, 0x00, 0x00})),
		section(3, vec(uleb(0))),
	)
	if table != nil {
		mod = append(mod, section(4, vec(table))...)
	}
	mod = append(mod, section(5, vec(cat([]byte{0x00}, uleb(uint64(memPages)))))...)
	mod = append(mod, section(7, vec(
		cat(wname("_start"), []byte{0x00}, uleb(0)),
		cat(wname("memory"), []byte{0x02}, uleb(0)),
	))...)
	return append(mod, section(10, vec(cat(uleb(uint64(len(body))), body)))...)
}

// tableGrowBomb grows a table without a maximum by 2³²−2 elements in one
// instruction: tables live outside linear memory and its limit.
func tableGrowBomb() []byte {
	code := cat([]byte{0xd0, 0x70}, // ref.null func
		[]byte{opI32Const}, i32(-2), // 0xfffffffe elements
		[]byte{0xfc}, uleb(15), uleb(0), // table.grow 0
		[]byte{opDrop})
	return rawModule(uleb(0), code, []byte{0x70, 0x00, 0x00}, 1)
}

// localsBomb declares 2×(2³¹−1) locals in 62 bytes.
func localsBomb() []byte {
	locals := cat(uleb(2), uleb(1<<31-1), []byte{0x7f}, uleb(1<<31-1), []byte{0x7f})
	return rawModule(locals, nil, nil, 1)
}

// infiniteLoop loops forever (until a limit stops it).
func infiniteLoop() []byte {
	return rawModule(uleb(0), []byte{0x03, 0x40, 0x0c, 0x00, opEnd}, nil, 1)
}

// hugeMemoryModule starts with all 4 GiB of linear memory.
func hugeMemoryModule() []byte { return rawModule(uleb(0), nil, nil, 65536) }

func newIsolatedRunner(t *testing.T, cfg outexec.Config) *outexec.Runner {
	t.Helper()
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("sandbox isolation tests need Linux's /proc")
	}
	cfg.Isolate = true
	return newRunner(t, cfg)
}

// stillServes checks that r runs an ordinary program correctly.
func stillServes(t *testing.T, r *outexec.Runner, after string) {
	t.Helper()
	res, err := run(t, r, outexec.Request{Wasm: helloModule()})
	if err != nil || string(res.Output) != "hello" || res.Instructions != 6 {
		t.Fatalf("after %s the runner no longer serves: %q after %d instructions, %v", after, res.Output, res.Instructions, err)
	}
}

// TestHostileCorpus: one long-lived isolating Runner meets every hostile
// module and keeps serving ordinary requests, with each one refused or
// stopped with a clear error.
func TestHostileCorpus(t *testing.T) {
	r := newIsolatedRunner(t, outexec.Config{Sandboxes: 2})
	stillServes(t, r, "start")

	cases := []struct {
		name  string
		req   outexec.Request
		check func(t *testing.T, err error)
	}{
		{"table.grow bomb", outexec.Request{Wasm: tableGrowBomb(), Limits: outexec.Limits{MaxMemoryMB: 64}},
			func(t *testing.T, err error) {
				// Refused by validation, stopped at the memory limit, or
				// it killed its sandbox: never the node.
				if !errors.Is(err, outexec.ErrInvalidWasm) && !errors.Is(err, outexec.ErrMemoryLimit) &&
					!errors.Is(err, outexec.ErrSandboxCrashed) {
					t.Fatalf("table.grow bomb: %v", err)
				}
			}},
		{"locals bomb", outexec.Request{Wasm: localsBomb()},
			func(t *testing.T, err error) {
				if !errors.Is(err, outexec.ErrInvalidWasm) && !errors.Is(err, outexec.ErrCompileLimit) {
					t.Fatalf("locals bomb: %v", err)
				}
			}},
		{"memory.grow past the limit", outexec.Request{Wasm: growModule(2000), Limits: outexec.Limits{MaxMemoryMB: 64}},
			func(t *testing.T, err error) { wantKind(t, err, outexec.ErrMemoryLimit) }},
		{"memory.grow to 4 GiB", outexec.Request{Wasm: growModule(65535), Limits: outexec.Limits{MaxMemoryMB: 4096}},
			func(t *testing.T, err error) {
				// Granted (address space only; nothing is touched) or
				// refused: either way a clear answer.
				if err != nil && !errors.Is(err, outexec.ErrMemoryLimit) {
					t.Fatalf("4 GiB grow: %v", err)
				}
			}},
		{"initial memory of 4 GiB", outexec.Request{Wasm: hugeMemoryModule(), Limits: outexec.Limits{MaxMemoryMB: 128}},
			func(t *testing.T, err error) { wantKind(t, err, outexec.ErrMemoryLimit) }},
		{"infinite loop", outexec.Request{Wasm: infiniteLoop(), Limits: outexec.Limits{MaxInstructions: 50_000_000}},
			func(t *testing.T, err error) { wantKind(t, err, outexec.ErrInstructionLimit) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := run(t, r, c.req)
			t.Logf("%s: %v (instructions %d)", c.name, err, res.Instructions)
			if err == nil && c.name != "memory.grow to 4 GiB" {
				t.Fatal("a hostile module succeeded")
			}
			c.check(t, err)
			stillServes(t, r, c.name)
		})
	}
}

// sandboxPIDs lists this process's sandbox children.
func sandboxPIDs(t *testing.T) []int {
	t.Helper()
	tasks, _ := filepath.Glob("/proc/self/task/*/children")
	var pids []int
	for _, f := range tasks {
		b, _ := os.ReadFile(f)
		for _, s := range strings.Fields(string(b)) {
			pid, err := strconv.Atoi(s)
			if err != nil {
				continue
			}
			argv, _ := os.ReadFile("/proc/" + s + "/cmdline")
			if bytes.HasPrefix(argv, []byte("outlayer-exec-sandbox\x00")) {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

// runInBackground starts a run of an infinite loop and waits until its
// sandbox is busy with it; it returns the sandbox's pid and the result.
func runInBackground(t *testing.T, r *outexec.Runner, limits outexec.Limits) (int, <-chan error) {
	t.Helper()
	before := map[int]bool{}
	for _, pid := range sandboxPIDs(t) {
		before[pid] = true
	}
	done := make(chan error, 1)
	go func() {
		_, err := r.Run(context.Background(), outexec.Request{Wasm: infiniteLoop(), Limits: limits})
		done <- err
	}()
	var pid int
	waitFor(t, "the run's sandbox", func() bool {
		pids := sandboxPIDs(t)
		if len(pids) == 1 {
			pid = pids[0]
		}
		return pid != 0 && r.MemoryInUseMB() > 0
	})
	return pid, done
}

// cpuTicks is the CPU time (user + system, in clock ticks) the process pid
// has used since it started, read from /proc/pid/stat.
func cpuTicks(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		t.Fatalf("reading the sandbox's CPU time: %v", err)
	}
	// Fields after the command name (which may hold spaces) start at ") ".
	fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(fields) < 13 {
		t.Fatalf("short /proc/%d/stat: %q", pid, b)
	}
	utime, _ := strconv.Atoi(fields[11])
	stime, _ := strconv.Atoi(fields[12])
	return utime + stime
}

// TestSandboxKilled: a sandbox killed mid-run (the kernel's OOM killer, a
// crash) is ErrSandboxCrashed, a node-side error, and the next run works.
func TestSandboxKilled(t *testing.T) {
	r := newIsolatedRunner(t, outexec.Config{Sandboxes: 1})
	stillServes(t, r, "start")
	pid, done := runInBackground(t, r, outexec.Limits{MaxInstructions: outexec.MaxInstructionsCap, Timeout: time.Minute})
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err := <-done
	if !errors.Is(err, outexec.ErrSandboxCrashed) || outexec.IsProgramFailure(err) {
		t.Fatalf("a killed sandbox gave %v, want a node-side ErrSandboxCrashed", err)
	}
	if !strings.Contains(err.Error(), "the program crashed the sandbox") || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("unclear message: %v", err)
	}
	stillServes(t, r, "a killed sandbox")
}

// TestStalledNodeIsNotTheProgramsFault: a sandbox paused past its run's
// wall-time limit (as SIGSTOP of the whole node does) reports
// ErrNodeStalled, not ErrTimeLimit; a program that really uses its time
// still gets ErrTimeLimit.
func TestStalledNodeIsNotTheProgramsFault(t *testing.T) {
	r := newIsolatedRunner(t, outexec.Config{Sandboxes: 1})
	stillServes(t, r, "start")
	limits := outexec.Limits{MaxInstructions: outexec.MaxInstructionsCap, Timeout: time.Second}

	start := time.Now()
	res, err := run(t, r, outexec.Request{Wasm: infiniteLoop(), Limits: limits})
	wantTimeLimit(t, err)
	// The node stops the run at its deadline by killing the sandbox.
	if res.Time < limits.Timeout || time.Since(start) > limits.Timeout+10*time.Second {
		t.Fatalf("a run stopped at its limit of %s reported %s and returned after %s", limits.Timeout, res.Time, time.Since(start))
	}
	stillServes(t, r, "a time limit")

	pid, done := runInBackground(t, r, limits)
	// Stop the sandbox only once the loop is burning CPU, so its wall-time
	// clock is already running: a stop before the run starts delays it
	// without taking any of its time.
	base := cpuTicks(t, pid)
	waitFor(t, "the program to be running", func() bool { return cpuTicks(t, pid) >= base+10 })
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second) // the stall under test, not synchronisation
	// The node kills a sandbox at its run's deadline, paused or not.
	if err := syscall.Kill(pid, syscall.SIGCONT); err != nil && !errors.Is(err, syscall.ESRCH) {
		t.Fatal(err)
	}
	err = <-done
	if !errors.Is(err, outexec.ErrNodeStalled) || outexec.IsProgramFailure(err) {
		t.Fatalf("a stalled run gave %v, want a node-side ErrNodeStalled", err)
	}
	t.Log(err)
	stillServes(t, r, "a stall")
}

// TestCompileBudget: compiling past the CPU or memory budget is the
// module's failure (ErrCompileLimit), and a caller that gives up stops the
// compilation at once.
func TestCompileBudget(t *testing.T) {
	wasm := sample(t, "echo") // a Go program: seconds of compiling
	t.Run("time", func(t *testing.T) {
		r := newIsolatedRunner(t, outexec.Config{CacheDir: t.TempDir(), CompileTimeout: 50 * time.Millisecond})
		_, err := run(t, r, outexec.Request{Wasm: wasm, Input: []byte("x")})
		wantKind(t, err, outexec.ErrCompileLimit)
		t.Log(err)
		stillServes(t, r, "a compile over its time")
	})
	t.Run("memory", func(t *testing.T) {
		r := newIsolatedRunner(t, outexec.Config{CacheDir: t.TempDir(), CompileMemoryMB: 8})
		_, err := run(t, r, outexec.Request{Wasm: wasm, Input: []byte("x")})
		wantKind(t, err, outexec.ErrCompileLimit)
		t.Log(err)
		stillServes(t, r, "a compile over its memory")
	})
	t.Run("cancelled", func(t *testing.T) {
		r := newIsolatedRunner(t, outexec.Config{CacheDir: t.TempDir()})
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := r.Run(ctx, outexec.Request{Wasm: wasm, Input: []byte("x")})
		if !errors.Is(err, context.DeadlineExceeded) || outexec.IsProgramFailure(err) {
			t.Fatalf("cancelled compile: %v", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("the run returned %s after its caller gave up", d)
		}
		stillServes(t, r, "a cancelled compile")
	})
}

// TestIsolatedMatchesInProcess: the same request gives the same bytes and
// instruction count in a sandbox process as in process.
func TestIsolatedMatchesInProcess(t *testing.T) {
	req := envinfoRequest(t)
	inProc, err := run(t, newRunner(t, outexec.Config{}), req)
	if err != nil {
		t.Fatal(err)
	}
	r := newIsolatedRunner(t, outexec.Config{Sandboxes: 1})
	for i := range 2 { // compiled, then cached
		iso, err := run(t, r, req)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(iso.Output, inProc.Output) || iso.Instructions != inProc.Instructions {
			t.Fatalf("run %d: isolated %d instructions %q, in process %d %q", i, iso.Instructions, iso.Output, inProc.Instructions, inProc.Output)
		}
		if iso.Cached != (i == 1) {
			t.Fatalf("run %d: cached = %v", i, iso.Cached)
		}
	}
	if r.CachedModules() != 1 {
		t.Fatalf("%d modules cached", r.CachedModules())
	}
}

// growAndFillModule grows its memory 1 MiB at a time, filling each new MiB,
// until memory.grow fails at the limit, and then exits successfully: the
// pattern of a program whose heap grows, which a copying allocator serves
// with two copies of the memory at each reallocation.
func growAndFillModule() []byte {
	code := cat(
		[]byte{0x02, blockEmpty, 0x03, blockEmpty}, // block, loop
		[]byte{opI32Const}, i32(16), []byte{opMemoryGrow, 0x00},
		[]byte{opI32Const}, i32(-1), []byte{0x46, 0x0d, 0x01}, // i32.eq, br_if 1
		[]byte{0x3f, 0x00}, []byte{opI32Const}, i32(16), []byte{0x6b}, // memory.size - 16
		[]byte{opI32Const}, i32(16), []byte{0x74}, // << 16: the new MiB's address
		[]byte{opI32Const}, i32(1), // value
		[]byte{opI32Const}, i32(1<<20), // length
		[]byte{0xfc}, uleb(11), []byte{0x00}, // memory.fill
		[]byte{0x0c, 0x00, opEnd, opEnd}, // br 0, end loop, end block
	)
	return rawModule(uleb(0), code, nil, 1)
}

// peakRSS is a process's peak resident set (VmHWM), in bytes.
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM")
	return 0
}

// TestMemoryGrowsWithoutCopying: a program that grows its memory step by
// step to its limit raises its sandbox's peak resident memory by about the
// limit, not by a multiple of it.
func TestMemoryGrowsWithoutCopying(t *testing.T) {
	r := newIsolatedRunner(t, outexec.Config{Sandboxes: 1})
	stillServes(t, r, "start")
	pids := sandboxPIDs(t)
	if len(pids) != 1 {
		t.Fatalf("%d sandboxes", len(pids))
	}
	before := peakRSS(t, pids[0])
	const limitMB = 256
	res, err := run(t, r, outexec.Request{Wasm: growAndFillModule(),
		Limits: outexec.Limits{MaxMemoryMB: limitMB, MaxInstructions: outexec.MaxInstructionsCap}})
	if err != nil {
		t.Fatalf("%v (%d instructions)", err, res.Instructions)
	}
	grew := peakRSS(t, pids[0]) - before
	t.Logf("peak resident memory grew by %d MiB for a %d MiB memory", grew>>20, limitMB)
	if grew < limitMB<<20*9/10 || grew > limitMB<<20*5/4 {
		t.Fatalf("peak resident memory grew by %d MiB for a %d MiB memory; want about the limit", grew>>20, limitMB)
	}
}

// TestConcurrentFirstRunsCompileOnce: runs of a new module arriving at
// once on several sandboxes compile it once; the others wait and load the
// machine code from the shared disk cache, which is much cheaper.
func TestConcurrentFirstRunsCompileOnce(t *testing.T) {
	r := newIsolatedRunner(t, outexec.Config{Sandboxes: 3, CacheDir: t.TempDir()})
	wasm := sample(t, "echo")
	results := make(chan outexec.Result, 3)
	for range 3 {
		go func() {
			res, err := r.Run(context.Background(), outexec.Request{Wasm: wasm, Input: []byte("x")})
			if err != nil {
				t.Error(err)
			}
			results <- res
		}()
	}
	var times []time.Duration
	for range 3 {
		times = append(times, (<-results).CompileTime)
	}
	slices.Sort(times)
	t.Logf("compile times %v", times)
	// One compiled; the two others only instrumented and loaded.
	if times[2] < 2*times[1] {
		t.Fatalf("compile times %v: more than one run compiled the module", times)
	}
}

// TestIsolatedCloseDuringRun: Close ends the sandboxes; a run in progress
// is the node's failure, and the runner refuses new runs.
func TestIsolatedCloseDuringRun(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("sandbox isolation tests need Linux's /proc")
	}
	r, err := outexec.NewRunner(context.Background(), outexec.Config{Isolate: true, Sandboxes: 1})
	if err != nil {
		t.Fatal(err)
	}
	_, done := runInBackground(t, r, outexec.Limits{MaxInstructions: outexec.MaxInstructionsCap, Timeout: time.Minute})
	if err := r.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err == nil || outexec.IsProgramFailure(err) || errors.Is(err, outexec.ErrSandboxCrashed) {
		t.Fatalf("a run stopped by Close returned %v, want the runner's closed error", err)
	}
	if _, err := r.Run(context.Background(), outexec.Request{Wasm: helloModule()}); err == nil || outexec.IsProgramFailure(err) {
		t.Fatalf("a closed runner ran a program: %v", err)
	}
	if pids := sandboxPIDs(t); len(pids) != 0 {
		t.Fatalf("sandboxes %v outlived Close", pids)
	}
}

// TestRustTrapWithDebugInfo: a Rust program built with debug info traps
// (a panic ends in unreachable). wazero would turn its DWARF into source
// lines on the trap, seconds for a binary this size, and name lines the
// meter's injected code has shifted; the meter drops DWARF, so the trap
// names functions only and costs nothing. Needs Debian's rustc with the
// wasm32-wasi standard library (what contracts/build.sh uses).
func TestRustTrapWithDebugInfo(t *testing.T) {
	rustc := "/usr/bin/rustc"
	if _, err := os.Stat(rustc); err != nil {
		t.Skip("needs /usr/bin/rustc")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "main.rs")
	if err := os.WriteFile(src, []byte("fn main() {\n    let n = std::env::args().count();\n    if n < 5 {\n        panic!(\"boom {}\", n);\n    }\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "panic.wasm")
	if b, err := osexec.Command(rustc, "--target", "wasm32-wasi", "-g", "-C", "opt-level=1", src, "-o", out).CombinedOutput(); err != nil {
		t.Skipf("rustc cannot build for wasm32-wasi here: %v\n%s", err, b)
	}
	wasm, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	r := newRunner(t, outexec.Config{CacheDir: t.TempDir()})
	for i := range 2 { // compiled, then cached
		start := time.Now()
		res, err := run(t, r, outexec.Request{Wasm: wasm})
		e := wantKind(t, err, outexec.ErrTrap)
		// Source lines from DWARF would name the standard library's files
		// (the panic message itself names main.rs: Rust compiles that in).
		if strings.Contains(e.Error(), "library/std/src") || !strings.Contains(e.Error(), "rust_panic") {
			t.Fatalf("the trap names source lines, or not the functions: %v", e)
		}
		if !strings.Contains(e.Error(), "boom 1") {
			t.Errorf("the panic message is missing: %v", e)
		}
		if i == 1 && time.Since(start) > 2*time.Second {
			t.Errorf("a cached trapping run of a %d-byte module took %s (run %s)", len(wasm), time.Since(start), res.Time)
		}
		t.Logf("%d bytes: run %s, whole call %s", len(wasm), res.Time, time.Since(start))
	}
}
