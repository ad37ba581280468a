package meter

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"
)

// goPrograms builds the programs under testdata with the Go toolchain, once
// per test binary; the Go build cache makes later runs cheap.
var goPrograms struct {
	once  sync.Once
	dir   string
	err   error
	cache wazero.CompilationCache // shared so each module compiles once per test binary
}

func goProgram(tb testing.TB, name string) []byte {
	tb.Helper()
	goPrograms.once.Do(func() {
		goPrograms.dir, goPrograms.err = os.MkdirTemp("", "meter-wasm-")
		if goPrograms.err != nil {
			return
		}
		goPrograms.cache = wazero.NewCompilationCache()
		goBin, err := exec.LookPath("go")
		if err != nil {
			goPrograms.err = err
			return
		}
		for _, p := range []string{"collatz", "sieve", "sha", "jsonwork", "echo"} {
			cmd := exec.Command(goBin, "build", "-trimpath",
				"-o", filepath.Join(goPrograms.dir, p+".wasm"), "./testdata/"+p)
			cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
			if out, err := cmd.CombinedOutput(); err != nil {
				goPrograms.err = errors.New("building testdata/" + p + " for wasip1: " + err.Error() + "\n" + string(out))
				return
			}
		}
	})
	if goPrograms.err != nil {
		tb.Fatal(goPrograms.err)
	}
	wasm, err := os.ReadFile(filepath.Join(goPrograms.dir, name+".wasm"))
	if err != nil {
		tb.Fatal(err)
	}
	return wasm
}

func TestMain(m *testing.M) {
	code := m.Run()
	if goPrograms.cache != nil {
		goPrograms.cache.Close(context.Background())
	}
	if goPrograms.dir != "" {
		os.RemoveAll(goPrograms.dir)
	}
	os.Exit(code)
}

type wasiRun struct {
	stdout, stderr string
	exitCode       uint32
	trapped        error // a trap, not a proc_exit
	used           uint64
	exhausted      bool
}

// runWASI compiles wasm on a fresh runtime and runs its _start. A budget
// of 0 means the module is not instrumented.
func runWASI(tb testing.TB, cfg wazero.RuntimeConfig, wasm []byte, stdin string, budget uint64, args ...string) wasiRun {
	tb.Helper()
	ctx := context.Background()
	if goPrograms.cache != nil {
		cfg = cfg.WithCompilationCache(goPrograms.cache)
	}
	rt := wazero.NewRuntimeWithConfig(ctx, cfg)
	defer rt.Close(ctx)
	wasi_snapshot_preview1.MustInstantiate(ctx, rt)
	compiled, err := rt.CompileModule(ctx, wasm)
	if err != nil {
		tb.Fatal(err)
	}
	return runCompiled(tb, ctx, rt, compiled, stdin, budget, args...)
}

func runCompiled(tb testing.TB, ctx context.Context, rt wazero.Runtime, compiled wazero.CompiledModule, stdin string, budget uint64, args ...string) wasiRun {
	tb.Helper()
	var stdout, stderr bytes.Buffer
	cfg := wazero.NewModuleConfig().WithName("").WithStartFunctions().
		WithStdin(bytes.NewBufferString(stdin)).WithStdout(&stdout).WithStderr(&stderr).
		WithArgs(append([]string{"prog"}, args...)...)
	mod, err := rt.InstantiateModule(ctx, compiled, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	defer mod.Close(ctx)
	if budget > 0 {
		if err := SetBudget(mod, budget); err != nil {
			tb.Fatal(err)
		}
	}
	_, err = mod.ExportedFunction("_start").Call(ctx)
	var res wasiRun
	var exit *sys.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		res.exitCode = exit.ExitCode()
	default:
		res.trapped = err
	}
	res.stdout, res.stderr = stdout.String(), stderr.String()
	if budget > 0 {
		if res.used, err = Used(mod, budget); err != nil {
			tb.Fatal(err)
		}
		res.exhausted = Exhausted(mod)
	}
	return res
}

type goCase struct {
	prog  string
	args  []string
	stdin string
}

func goCases() []goCase {
	return []goCase{
		{prog: "collatz", args: []string{"2000"}},
		{prog: "sieve", args: []string{"50000"}},
		{prog: "sha", args: []string{"200"}},
		{prog: "jsonwork", args: []string{"1"}},
		{prog: "echo", stdin: "hello, metered world\n"},
		{prog: "echo", args: []string{"exit3"}, stdin: "bye"},
	}
}

// Instrumented Go programs print the same bytes and exit the same way as
// the originals, and count the same on both engines and on every run.
func TestGoProgramsRunIdenticallyAndCountDeterministically(t *testing.T) {
	if testing.Short() {
		t.Skip("builds Go programs for wasip1")
	}
	for _, c := range goCases() {
		t.Run(c.prog+"/"+c.stdin, func(t *testing.T) {
			orig := goProgram(t, c.prog)
			metered, err := Instrument(orig, Options{})
			if err != nil {
				t.Fatal(err)
			}
			noStop, err := Instrument(orig, Options{NoStop: true})
			if err != nil {
				t.Fatal(err)
			}
			const budget = 1 << 40
			want := runWASI(t, wazero.NewRuntimeConfigCompiler(), orig, c.stdin, 0, c.args...)
			if want.trapped != nil {
				t.Fatalf("original program trapped: %v", want.trapped)
			}
			runs := []wasiRun{
				runWASI(t, wazero.NewRuntimeConfigCompiler(), metered, c.stdin, budget, c.args...),
				runWASI(t, wazero.NewRuntimeConfigCompiler(), metered, c.stdin, budget, c.args...),
				runWASI(t, wazero.NewRuntimeConfigInterpreter(), metered, c.stdin, budget, c.args...),
				runWASI(t, wazero.NewRuntimeConfigCompiler(), noStop, c.stdin, budget, c.args...),
			}
			for i, got := range runs {
				if got.trapped != nil || got.stdout != want.stdout || got.stderr != want.stderr || got.exitCode != want.exitCode {
					t.Errorf("run %d: stdout %q stderr %q exit %d trap %v; original printed %q %q exit %d",
						i, got.stdout, got.stderr, got.exitCode, got.trapped, want.stdout, want.stderr, want.exitCode)
				}
				if got.used != runs[0].used || got.used == 0 {
					t.Errorf("run %d counted %d instructions, run 0 counted %d", i, got.used, runs[0].used)
				}
			}
			t.Logf("%s %v: %d instructions, stdout %q", c.prog, c.args, runs[0].used, want.stdout)
		})
	}
}

// The budget trap is exact on a real program: a budget equal to the count
// runs to completion, one less traps and is attributed to the meter.
func TestGoProgramBudgetIsExact(t *testing.T) {
	if testing.Short() {
		t.Skip("builds Go programs for wasip1")
	}
	metered, err := Instrument(goProgram(t, "collatz"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range engines() {
		full := runWASI(t, e.cfg(), metered, "", 1<<40, "500")
		if full.trapped != nil || full.exitCode != 0 {
			t.Fatalf("%s: full run failed: %+v", e.name, full)
		}
		exact := runWASI(t, e.cfg(), metered, "", full.used, "500")
		if exact.trapped != nil || exact.exhausted || exact.stdout != full.stdout || exact.used != full.used {
			t.Errorf("%s: budget = count %d: %+v", e.name, full.used, exact)
		}
		short := runWASI(t, e.cfg(), metered, "", full.used-1, "500")
		if short.trapped == nil || !short.exhausted {
			t.Errorf("%s: budget = count-1: want a meter trap, got %+v", e.name, short)
		}
		tiny := runWASI(t, e.cfg(), metered, "", 1000, "500")
		if tiny.trapped == nil || !tiny.exhausted || tiny.used != 1000 {
			t.Errorf("%s: budget 1000: %+v", e.name, tiny)
		}
	}
}
