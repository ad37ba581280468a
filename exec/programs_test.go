package exec_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	outexec "github.com/outlayer/outlayer/exec"
)

// The sample programs are built once per test binary, with the real Go
// toolchain, the way a program author builds them.
var samples = struct {
	mu    sync.Mutex
	dir   string
	built map[string][]byte
}{built: map[string][]byte{}}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "exec-samples-")
	if err != nil {
		panic(err)
	}
	samples.dir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func repoRoot(tb testing.TB) string {
	tb.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		tb.Fatal("cannot locate the test file")
	}
	return filepath.Dir(filepath.Dir(file))
}

// sample returns the WASM of testnet/examples/programs/<name>.
func sample(tb testing.TB, name string) []byte {
	tb.Helper()
	return buildProgram(tb, name, "./testnet/examples/programs/"+name)
}

// buildProgram builds the Go main package at pkg (relative to the
// repository root) for wasip1, once per test binary.
func buildProgram(tb testing.TB, name, pkg string) []byte {
	tb.Helper()
	samples.mu.Lock()
	defer samples.mu.Unlock()
	if wasm, ok := samples.built[name]; ok {
		return wasm
	}
	out := filepath.Join(samples.dir, name+".wasm")
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, pkg)
	cmd.Dir = repoRoot(tb)
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("building sample %s: %v\n%s", name, err, msg)
	}
	wasm, err := os.ReadFile(out)
	if err != nil {
		tb.Fatal(err)
	}
	samples.built[name] = wasm
	return wasm
}

// newRunner starts a runner closed at the end of the test. Unless the test
// chooses its own, every runner shares one on-disk compilation cache, so a
// sample is compiled to machine code once per test binary; that also
// exercises wazero's disk cache.
func newRunner(tb testing.TB, cfg outexec.Config) *outexec.Runner {
	tb.Helper()
	if cfg.CacheDir == "" {
		cfg.CacheDir = filepath.Join(samples.dir, "wazero-cache")
	}
	r, err := outexec.NewRunner(context.Background(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := r.Close(context.Background()); err != nil {
			tb.Error(err)
		}
	})
	return r
}
