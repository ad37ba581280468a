// Package wasmtest builds Go programs for wasip1 in tests, the way a
// program author builds them, once per test binary and package.
package wasmtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

var built sync.Map // package path → *entry

type entry struct {
	once sync.Once
	wasm []byte
	err  string
}

// Root is the repository's root directory.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Build builds the main package pkg (relative to the repository root, e.g.
// "./exec/hostabi/testdata/hostprobe") with GOOS=wasip1 GOARCH=wasm and
// returns the module.
func Build(tb testing.TB, pkg string) []byte {
	tb.Helper()
	v, _ := built.LoadOrStore(pkg, &entry{})
	e := v.(*entry)
	e.once.Do(func() {
		dir, err := os.MkdirTemp("", "wasmtest-")
		if err != nil {
			e.err = err.Error()
			return
		}
		defer os.RemoveAll(dir)
		out := filepath.Join(dir, "prog.wasm")
		cmd := exec.Command("go", "build", "-trimpath", "-o", out, pkg)
		cmd.Dir = Root()
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
		if msg, err := cmd.CombinedOutput(); err != nil {
			e.err = "building " + pkg + ": " + err.Error() + "\n" + string(msg)
			return
		}
		if e.wasm, err = os.ReadFile(out); err != nil {
			e.err = err.Error()
		}
	})
	if e.err != "" {
		tb.Fatal(e.err)
	}
	return e.wasm
}
