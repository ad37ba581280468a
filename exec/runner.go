package exec

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"
	"golang.org/x/sync/semaphore"

	"github.com/outlayer/outlayer/exec/hostabi"
	"github.com/outlayer/outlayer/exec/meter"
)

// Config configures a Runner.
type Config struct {
	// CacheDir, when set, keeps wazero's compiled machine code on disk there,
	// so a restarted node does not compile known programs again.
	CacheDir string
	// MaxCachedModules bounds the in-memory cache of compiled programs
	// (default 64).
	MaxCachedModules int
	// Interpreter runs programs in wazero's interpreter instead of its
	// compiler. Instruction counts are the same either way; the compiler is
	// much faster and is the default where wazero supports it.
	Interpreter bool
	// MemoryBudgetMB bounds the sum of the memory limits of the runs in
	// progress, so that many concurrent memory-hungry programs cannot
	// exhaust the node: a run waits (honouring its context) until its
	// limit fits. Zero means three quarters of the machine's memory;
	// negative means no bound.
	MemoryBudgetMB int64
	// Isolate runs every program in a sandbox child process: a copy of
	// this executable, which this package's init function turns into the
	// child (internal/reexec; no hook in main). A program that
	// crashes, stalls or exhausts its sandbox cannot harm this process
	// (see DESIGN.md). Results and instruction counts are the same as in
	// process.
	Isolate bool
	// Sandboxes is how many sandbox processes run programs at once when
	// isolating (default: the number of CPUs, at least 4). Runs beyond it
	// wait for a free sandbox.
	Sandboxes int
	// CompileTimeout bounds the CPU time of instrumenting and compiling
	// one module in a sandbox (default 30s); past it the run fails with
	// ErrCompileLimit.
	CompileTimeout time.Duration
	// CompileMemoryMB bounds the address space compiling one module may
	// add in a sandbox (default 2048); past it the run fails with
	// ErrCompileLimit.
	CompileMemoryMB int64
	// Logger receives one debug line per run; nil discards.
	Logger *slog.Logger

	// noStop instruments without the meter's stop global (a sandbox
	// child whose node kills it at the deadline): runs cannot be stopped
	// from inside this process, and loops skip the flag's load.
	noStop bool
}

const defaultMaxCachedModules = 64

// programName is the program's only argument (argv[0]).
const programName = "program"

var errRunnerClosed = errors.New("exec: the runner is closed")

// Runner runs programs. It is safe for concurrent use; create one per
// process and Close it on shutdown.
type Runner struct {
	runtime   wazero.Runtime
	diskCache wazero.CompilationCache
	modules   *moduleCache
	logger    *slog.Logger

	pool *sandboxPool // non-nil: programs run in sandbox processes

	memory      *semaphore.Weighted // nil: no budget
	memoryTotal int64
	memoryInUse atomic.Int64

	// closing is set before the runtime closes, so runs cut short by Close
	// report the node's error, not a (false) verdict on the program.
	closing atomic.Bool
	// stopAll is cancelled by Close: it stops every run in progress through
	// the meter's stop flag. running is read-held by each run while its
	// module executes; Close takes it to wait for them before it frees the
	// runtime (and the machine code they run).
	stopAll     context.Context
	stopAllNow  context.CancelFunc
	running     sync.RWMutex
	interpreter bool
	noStop      bool // Config.noStop
}

// NewRunner starts a wazero runtime with WASI preview 1 and an empty module
// cache.
func NewRunner(ctx context.Context, cfg Config) (*Runner, error) {
	rc := wazero.NewRuntimeConfig()
	if cfg.Interpreter {
		rc = wazero.NewRuntimeConfigInterpreter()
	}
	// The core features stay at wazero's default (WebAssembly 2.0 without
	// threads, so there is no shared memory to make runs nondeterministic).
	//
	// Deadlines reach into running code through the meter's stop flag,
	// which its budget check at every loop head and function entry reads
	// (execute). wazero's WithCloseOnContextDone does the same with a call
	// into Go at every loop iteration, which made the shipped runner ~6×
	// slower than the metered benchmarks; only the interpreter, which
	// reads globals from Go (so a flag set from another goroutine would be
	// a data race), keeps it.
	if cfg.Interpreter {
		rc = rc.WithCloseOnContextDone(true)
	}
	r := &Runner{logger: cfg.Logger, interpreter: cfg.Interpreter, noStop: cfg.noStop && !cfg.Interpreter}
	r.stopAll, r.stopAllNow = context.WithCancel(context.WithoutCancel(ctx))
	if r.logger == nil {
		r.logger = slog.New(slog.DiscardHandler)
	}
	budget := cfg.MemoryBudgetMB
	if budget == 0 {
		budget = machineMemoryMB() * 3 / 4
	}
	if budget > 0 {
		r.memory = semaphore.NewWeighted(budget)
		r.memoryTotal = budget
	}
	if cfg.Isolate {
		pool, err := newSandboxPool(cfg, r.logger)
		if err != nil {
			return nil, err
		}
		r.pool = pool
		return r, nil
	}
	if cfg.CacheDir != "" {
		cache, err := wazero.NewCompilationCacheWithDir(cfg.CacheDir)
		if err != nil {
			return nil, fmt.Errorf("exec: opening the compilation cache in %s: %w", cfg.CacheDir, err)
		}
		r.diskCache = cache
		rc = rc.WithCompilationCache(cache)
	}
	r.runtime = wazero.NewRuntimeWithConfig(ctx, rc)
	if err := instantiateWASI(ctx, r.runtime); err != nil {
		r.closeRuntime(ctx)
		return nil, fmt.Errorf("exec: instantiating WASI: %w", err)
	}
	if err := hostabi.Instantiate(ctx, r.runtime); err != nil {
		r.closeRuntime(ctx)
		return nil, fmt.Errorf("exec: %w", err)
	}
	maxModules := cfg.MaxCachedModules
	if maxModules <= 0 {
		maxModules = defaultMaxCachedModules
	}
	r.modules = newModuleCache(maxModules)
	return r, nil
}

// Close stops the runtime. Runs in progress fail.
func (r *Runner) Close(ctx context.Context) error {
	r.closing.Store(true)
	r.stopAllNow()
	if r.pool != nil {
		r.pool.close()
		return nil
	}
	// Runs stop at their next loop head or call; wait for them before
	// the runtime frees their code.
	r.running.Lock()
	//lint:ignore SA2001 an empty critical section: waiting for the runs is the point
	r.running.Unlock()
	r.modules.close()
	return r.closeRuntime(ctx)
}

func (r *Runner) closeRuntime(ctx context.Context) error {
	err := r.runtime.Close(ctx)
	if r.diskCache != nil {
		if cerr := r.diskCache.Close(ctx); cerr != nil && err == nil {
			err = cerr
		}
	}
	if err != nil {
		return fmt.Errorf("exec: closing the runtime: %w", err)
	}
	return nil
}

// MemoryInUseMB is the sum of the memory limits of the runs in progress.
func (r *Runner) MemoryInUseMB() int64 { return r.memoryInUse.Load() }

// reserveMemory waits until a run with the given memory limit fits in the
// node's budget and returns the function that gives it back.
func (r *Runner) reserveMemory(ctx context.Context, mb uint32) (func(), error) {
	n := int64(mb)
	if r.memory != nil {
		if n > r.memoryTotal {
			return nil, fmt.Errorf("exec: the request's memory limit of %d MiB is larger than this node's whole budget of %d MiB", mb, r.memoryTotal)
		}
		if err := r.memory.Acquire(ctx, n); err != nil {
			return nil, fmt.Errorf("exec: waiting for %d MiB of the node's memory budget: %w", mb, err)
		}
	}
	r.memoryInUse.Add(n)
	return func() {
		r.memoryInUse.Add(-n)
		if r.memory != nil {
			r.memory.Release(n)
		}
	}, nil
}

// CachedModules is the number of compiled programs held in memory.
func (r *Runner) CachedModules() int {
	if r.pool != nil {
		return r.pool.cachedModules()
	}
	return r.modules.len()
}

// Run runs one request. The Result is filled in as far as the run got, on
// failure too. A nil error means success. An *Error (test it with errors.Is
// against a Kind, or IsProgramFailure) is the program's or request's
// failure: a final answer. Any other error is the node's problem: ctx was
// cancelled or the runner is closed.
func (r *Runner) Run(ctx context.Context, req Request) (res Result, err error) {
	// A panic here is a bug in exec or wazero, never the program's doing;
	// it must not take the node down with it.
	defer func() {
		if p := recover(); p != nil {
			r.logger.Error("exec: internal error", "panic", p, "stack", string(debug.Stack()))
			err = fmt.Errorf("exec: internal error running the program: %v", p)
		}
	}()
	res = Result{Format: req.Format}
	if req.Format > FormatBytes {
		return res, failure(ErrBadRequest, "unknown response format %d", uint8(req.Format))
	}
	if err := req.Limits.Validate(); err != nil {
		return res, err
	}
	limits := req.Limits.WithDefaults()
	if len(req.Input) > MaxInputBytes {
		return res, failure(ErrInputTooLarge, "the input is %d bytes, above the cap of %d", len(req.Input), MaxInputBytes)
	}
	env, envErr := req.environment(limits)
	if envErr != nil {
		return res, envErr
	}

	key := req.wasmKey()
	if r.pool != nil {
		releaseMemory, err := r.reserveMemory(ctx, limits.MaxMemoryMB)
		if err != nil {
			return res, err
		}
		defer releaseMemory()
		return r.pool.run(ctx, req, key, limits)
	}
	entry, hit, err := r.modules.acquire(ctx, key, func() (*program, error) {
		// A caller-supplied hash is checked here, once per compilation,
		// so a wrong one cannot put the wrong program under a hash.
		if req.WasmSHA256 != ([32]byte{}) && sha256.Sum256(req.Wasm) != key {
			return nil, failure(ErrBadRequest, "the WASM does not match the sha256 given with it (%x)", key)
		}
		// Other runs may be waiting on this compilation: it must not
		// fail because this caller gave up.
		return r.compile(context.WithoutCancel(ctx), req.Wasm)
	})
	if err != nil {
		return res, err
	}
	defer r.modules.release(entry)
	prog := entry.prog
	res.Cached = hit
	if !hit {
		res.CompileTime = prog.compileTime
	}
	compiledHook(ctx)

	if uint64(prog.minMemoryPages)*wasmPageSize > limits.memoryBytes() {
		return res, failure(ErrMemoryLimit, "memory limit exceeded: the module starts with %d MiB of memory, above the limit of %d MiB",
			uint64(prog.minMemoryPages)*wasmPageSize>>20, limits.MaxMemoryMB)
	}
	// Tables live outside linear memory; their most elements count
	// against the same limit.
	if uint64(prog.minMemoryPages)*wasmPageSize+prog.tableBytes > limits.memoryBytes() {
		return res, failure(ErrMemoryLimit, "memory limit exceeded: the module's memory (%d MiB to start) and tables (up to %d KiB) do not fit in %d MiB",
			uint64(prog.minMemoryPages)*wasmPageSize>>20, prog.tableBytes>>10, limits.MaxMemoryMB)
	}
	releaseMemory, err := r.reserveMemory(ctx, limits.MaxMemoryMB)
	if err != nil {
		return res, err
	}
	defer releaseMemory()
	err = r.execute(ctx, prog, &req, limits, env, &res)
	r.logger.Debug("exec: run finished", "cached", hit, "instructions", res.Instructions, "time", res.Time, "err", err)
	return res, err
}

// compile instruments and compiles a module and checks that it is a WASI
// preview 1 command module this sandbox can run.
func (r *Runner) compile(ctx context.Context, wasm []byte) (*program, error) {
	start := time.Now()
	metered, err := meter.InstrumentModule(wasm, meter.Options{NoStop: r.noStop})
	if err != nil {
		return nil, failureWithCause(ErrInvalidWasm, err, "invalid wasm: %v", err)
	}
	compiled, err := r.runtime.CompileModule(ctx, metered.Wasm)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("exec: compiling: %w", ctx.Err())
		}
		return nil, failureWithCause(ErrInvalidWasm, err, "invalid wasm: %v", err)
	}
	prog := &program{compiled: compiled, compileTime: time.Since(start),
		tableBytes: metered.TableElements * meter.TableElementBytes}
	if err := checkCommandModule(compiled, prog); err != nil {
		closeProgram(prog)
		return nil, err
	}
	return prog, nil
}

func checkCommandModule(compiled wazero.CompiledModule, prog *program) error {
	start, ok := compiled.ExportedFunctions()["_start"]
	if !ok {
		return failure(ErrInvalidWasm, "invalid wasm: not a WASI command module: it exports no _start function (build a main package with GOOS=wasip1 GOARCH=wasm)")
	}
	if len(start.ParamTypes()) != 0 || len(start.ResultTypes()) != 0 {
		return failure(ErrInvalidWasm, "invalid wasm: _start must take no parameters and return nothing")
	}
	for _, f := range compiled.ImportedFunctions() {
		module, name, _ := f.Import()
		if module == hostabi.ModuleName && !hostabi.Exports(name) {
			return failure(ErrInvalidWasm, "invalid wasm: it imports %s.%s, which %s does not have (see exec/hostabi/SPEC.md)", module, name, module)
		}
		if module != wasi_snapshot_preview1.ModuleName && module != hostabi.ModuleName {
			return failure(ErrInvalidWasm, "invalid wasm: it imports %s.%s, but programs may import only %s and %s functions",
				module, name, wasi_snapshot_preview1.ModuleName, hostabi.ModuleName)
		}
	}
	if imported := compiled.ImportedMemories(); len(imported) > 0 {
		return failure(ErrInvalidWasm, "invalid wasm: it imports its memory; a WASI command module defines and exports it")
	}
	mem, ok := compiled.ExportedMemories()["memory"]
	if !ok {
		return failure(ErrInvalidWasm, "invalid wasm: it does not export its memory as \"memory\", which WASI requires")
	}
	prog.minMemoryPages = mem.Min()
	return nil
}

// execute instantiates prog, sets its budget and runs _start, then fills in
// res and classifies how the run ended.
func (r *Runner) execute(ctx context.Context, prog *program, req *Request, limits Limits, env []envVar, res *Result) error {
	clock := &virtualClock{startUnixNano: req.clockStart()}
	stdout := &cappedBuffer{limit: MaxOutputBytes, failOnOverflow: true}
	stderr := &cappedBuffer{limit: MaxStderrBytes}
	mc := wazero.NewModuleConfig().
		WithName(""). // anonymous: many instances of one program may run at once
		WithStartFunctions().
		WithArgs(programName).
		WithStdin(bytes.NewReader(req.Input)).
		WithStdout(stdout).
		WithStderr(stderr).
		WithWalltime(clock.walltime, clockResolution).
		WithNanotime(clock.nanotime, clockResolution).
		WithNanosleep(clock.nanosleep).
		WithOsyield(clock.osyield).
		WithRandSource(randomSource(req.Seed))
	for _, kv := range env {
		mc = mc.WithEnv(kv.key, kv.value)
	}

	alloc := &limitedAllocator{limit: limits.memoryBytes() - prog.tableBytes}
	defer alloc.release() // after mod.Close below, which runs first
	// The reported time starts with the wall-time limit's clock, so a run
	// stopped by the limit never reports less time than the limit.
	started := time.Now()
	runCtx, cancel := context.WithTimeout(ctx, limits.Timeout)
	defer cancel()
	runCtx = experimental.WithMemoryAllocator(runCtx, alloc)
	runCtx = withClock(runCtx, clock)
	runCtx = hostabi.WithHandler(runCtx, req.Host)

	defer func() {
		res.Time = time.Since(started)
		res.Output = stdout.buf
		res.Stderr = stderr.buf
		res.StderrTruncated = stderr.truncated
	}()

	r.running.RLock()
	defer r.running.RUnlock()
	if r.closing.Load() {
		return errRunnerClosed
	}
	mod, err := r.runtime.InstantiateModule(runCtx, prog.compiled, mc)
	if err != nil {
		if r.closing.Load() {
			return errRunnerClosed
		}
		if ctx.Err() != nil {
			return fmt.Errorf("exec: run cancelled: %w", ctx.Err())
		}
		if alloc.refused {
			return failure(ErrMemoryLimit, "memory limit exceeded: the module's memory does not fit in %d MiB", limits.MaxMemoryMB)
		}
		return failureWithCause(ErrTrap, err, "instantiating the module failed: %v", err)
	}
	defer mod.Close(context.WithoutCancel(ctx))

	if err := meter.SetBudget(mod, limits.MaxInstructions); err != nil {
		return fmt.Errorf("exec: setting the instruction budget: %w", err)
	}
	if !r.interpreter && !r.noStop {
		// At the deadline, on cancellation or on Close, the module traps
		// at its next loop head or function entry. (Without the stop
		// global, in a sandbox child, the node kills the process.)
		stop := func() { _ = meter.Stop(mod) }
		defer context.AfterFunc(runCtx, stop)()
		defer context.AfterFunc(r.stopAll, stop)()
	}
	// The run's CPU time tells a program that used its wall time from a
	// node that did not give it the CPU (see stalled).
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cpuBefore, cpuOK := threadCPU()
	_, callErr := mod.ExportedFunction("_start").Call(runCtx)
	cpuAfter, cpuOK2 := threadCPU()
	if r.closing.Load() {
		return errRunnerClosed
	}
	used, uerr := meter.Used(mod, limits.MaxInstructions)
	if uerr != nil {
		return fmt.Errorf("exec: reading the instruction count: %w", uerr)
	}
	res.Instructions = used

	if err := r.classify(ctx, runCtx, mod, callErr, alloc, stdout, stderr, limits); err != nil {
		if errors.Is(err, ErrTimeLimit) && cpuOK && cpuOK2 {
			if stall := stalled(cpuAfter-cpuBefore, time.Since(started), limits.Timeout); stall != nil {
				return stall
			}
		}
		return err
	}
	return checkOutput(req.Format, stdout.buf)
}

// classify turns how _start returned into nil (success), an *Error (the
// program's failure) or a plain error (the caller cancelled).
func (r *Runner) classify(ctx, runCtx context.Context, mod api.Module, callErr error,
	alloc *limitedAllocator, stdout, stderr *cappedBuffer, limits Limits) error {
	var exitCode uint32
	var exitErr *sys.ExitError
	switch {
	case callErr == nil:
		return nil
	case errors.As(callErr, &exitErr):
		exitCode = exitErr.ExitCode()
		if exitCode == 0 {
			return nil
		}
	}

	var overflow *errOutputOverflow
	switch {
	case errors.As(callErr, &overflow):
		return failure(ErrOutputTooLarge, "output too large: %v", overflow)
	case meter.Exhausted(mod):
		return failure(ErrInstructionLimit, "instruction limit exceeded: the program used all %d instructions it was allowed (the cap is %d)",
			limits.MaxInstructions, MaxInstructionsCap)
	case ctx.Err() != nil:
		return fmt.Errorf("exec: run cancelled: %w", ctx.Err())
	case runCtx.Err() != nil:
		return failure(ErrTimeLimit, "time limit exceeded: the program ran longer than %s", limits.Timeout)
	case alloc.refused:
		// The program asked for memory, was refused, and died of it (Go
		// programs print "out of memory" and exit with status 2).
		return failureWithCause(ErrMemoryLimit, callErr, "memory limit exceeded: the program needed more than %d MiB of memory%s",
			limits.MaxMemoryMB, stderrSuffix(stderr))
	case exitErr != nil:
		e := failure(ErrExit, "exit status %d%s", exitCode, stderrSuffix(stderr))
		e.ExitCode = exitCode
		return e
	}
	return failureWithCause(ErrTrap, callErr, "the program trapped: %s%s", strings.TrimPrefix(callErr.Error(), "wasm error: "), stderrSuffix(stderr))
}

// stderrMessageBytes bounds how much of stderr goes into an error message;
// all of it (up to MaxStderrBytes) stays in Result.Stderr.
const stderrMessageBytes = 2 << 10

// stderrSuffix quotes what the program said on stderr for an error message.
// A Go program's crash report ends with a dump of every goroutine, which
// says nothing the first lines do not; it is left out.
func stderrSuffix(stderr *cappedBuffer) string {
	b := stderr.buf
	if i := bytes.Index(b, []byte("\n\ngoroutine ")); i >= 0 {
		b = b[:i]
	}
	cut := len(b) > stderrMessageBytes || len(b) < len(stderr.buf) || stderr.truncated
	b = b[:min(len(b), stderrMessageBytes)]
	msg := strings.TrimSpace(strings.ToValidUTF8(string(b), "\uFFFD"))
	if msg == "" {
		return " (the program wrote nothing to stderr)"
	}
	if cut {
		msg += " […]"
	}
	return ": " + msg
}

// minFairCPU is the share of its wall-time limit a run must have had as
// CPU time for a time-limit failure to be the program's. A program in this
// sandbox never waits (sleeps are virtual, its streams are in memory), so
// on an idle machine it gets nearly all of its wall time as CPU; a run
// that got less than three quarters was kept from the CPU by the node:
// paused, swapping or overloaded.
const minFairCPU = 0.75

// stalled returns ErrNodeStalled when a run stopped at its wall-time limit
// had less than minFairCPU of that limit as CPU time.
func stalled(cpu, wall, limit time.Duration) error {
	if float64(cpu) >= minFairCPU*float64(limit) {
		return nil
	}
	return nodeFailure(ErrNodeStalled, "the run hit its wall-time limit of %s after %s, but the node gave it only %s of CPU time; another node should run it",
		limit, wall.Round(time.Millisecond), cpu.Round(time.Millisecond))
}
