package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	osexec "os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/outlayer/outlayer/exec"
	"github.com/outlayer/outlayer/failure"
	"github.com/outlayer/outlayer/store"
)

func TestClassify(t *testing.T) {
	// Real sandbox failures: Limits.Validate returns an *exec.Error.
	badLimits := exec.Limits{MaxMemoryMB: 1 << 20}.Validate()
	cases := []struct {
		name  string
		err   error
		kind  failure.Kind
		final bool
	}{
		{"sandbox refused the request", badLimits, failure.InvalidRequest, true},
		{"wrapped sandbox failure", fmt.Errorf("run: %w", badLimits), failure.InvalidRequest, true},
		{"code source", failure.New(failure.CompilationFailed, "build failed"), failure.CompilationFailed, true},
		{"crashed sandbox", failure.New(failure.SandboxCrashed, "signal 9"), failure.SandboxCrashed, false},
		{"stalled node", fmt.Errorf("x: %w", failure.NodeStalled), failure.NodeStalled, false},
		{"exec: sandbox died", &exec.NodeError{Fault: exec.ErrSandboxCrashed, Message: "killed"}, failure.SandboxCrashed, false},
		{"exec: node stalled", fmt.Errorf("run: %w", &exec.NodeError{Fault: exec.ErrNodeStalled, Message: "paused"}), failure.NodeStalled, false},
		{"cancelled", context.Canceled, failure.NodeFault, false},
		{"plain node error", errors.New("disk full"), failure.NodeFault, false},
	}
	for _, c := range cases {
		k := classify(c.err)
		if k != c.kind || k.Final() != c.final {
			t.Errorf("%s: %q (final %v), want %q (final %v)", c.name, k, k.Final(), c.kind, c.final)
		}
	}
	if classify(nil) != "" {
		t.Error("no error has no kind")
	}
	// Every sandbox kind has its own name in the vocabulary: none collapses
	// to the generic execution_failed.
	seen := map[failure.Kind]exec.Kind{}
	for ek, fk := range execKinds {
		if !fk.Known() || !fk.Final() || fk == failure.ExecutionFailed {
			t.Errorf("exec kind %q maps to %q", ek, fk)
		}
		if prev, dup := seen[fk]; dup {
			t.Errorf("exec kinds %q and %q both map to %q", prev, ek, fk)
		}
		seen[fk] = ek
	}
	for _, ek := range exec.Kinds() {
		if _, ok := execKinds[ek]; !ok {
			t.Errorf("exec kind %q has no failure kind: it would be recorded as %q", ek, failure.ExecutionFailed)
		}
	}
}

// TestCompileLimitIsTheRequestsAnswer: a module that exceeds the sandbox's
// compile budget, in a runner isolated as the node's is, fails as its own
// final kind — the request is resolved (paid, refunded minus the base fee)
// rather than run again elsewhere, where it would exceed it too.
func TestCompileLimitIsTheRequestsAnswer(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a Go program")
	}
	// A Go program takes seconds of CPU to instrument and compile, far
	// past this budget.
	wasmPath := filepath.Join(t.TempDir(), "echo.wasm")
	cmd := osexec.Command("go", "build", "-trimpath", "-o", wasmPath, "../testnet/examples/programs/echo")
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building echo: %v\n%s", err, out)
	}
	wasm, err := os.ReadFile(wasmPath)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	r, err := exec.NewRunner(ctx, exec.Config{CacheDir: t.TempDir(), Isolate: true, Sandboxes: 1,
		CompileTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(ctx)
	_, err = r.Run(ctx, exec.Request{Wasm: wasm, Input: []byte("x")})
	if !errors.Is(err, exec.ErrCompileLimit) {
		t.Fatalf("compiling past the budget: %v, want %q", err, exec.ErrCompileLimit)
	}
	k := classify(fmt.Errorf("running request 1: %w", err))
	if k != failure.CompileLimit || k.Class() != failure.ClassRequest || !k.Final() {
		t.Fatalf("classified as %q (class %v, final %v), want %q, the request's final answer", k, k.Class(), k.Final(), failure.CompileLimit)
	}
	t.Logf("%s: %v", k, err)
}

// TestLastAttemptKind: a crashed sandbox or a stalled node leaves the
// request to another node until the attempt bound; on the last attempt the
// request fails with what happened. Released attempts do not count.
func TestLastAttemptKind(t *testing.T) {
	attempts := func(outcomes ...store.AttemptOutcome) *store.Job {
		j := &store.Job{}
		for _, o := range outcomes {
			j.Attempts = append(j.Attempts, store.Attempt{Outcome: o})
		}
		return j
	}
	for _, c := range []struct {
		name string
		kind failure.Kind
		job  *store.Job
		want failure.Kind
		ok   bool
	}{
		{"first crash", failure.SandboxCrashed, attempts(store.AttemptLeased), "", false},
		{"third crash", failure.SandboxCrashed, attempts(store.AttemptExpired, store.AttemptExpired, store.AttemptLeased), failure.ExecutionFailed, true},
		{"released ones do not count", failure.SandboxCrashed, attempts(store.AttemptReleased, store.AttemptExpired, store.AttemptLeased), "", false},
		{"third stall", failure.NodeStalled, attempts(store.AttemptExpired, store.AttemptExpired, store.AttemptLeased), failure.TimeLimit, true},
		{"other node faults never decide", failure.NodeFault, attempts(store.AttemptExpired, store.AttemptExpired, store.AttemptLeased), "", false},
	} {
		got, ok := lastAttemptKind(c.kind, c.job, 3)
		if ok != c.ok || (ok && got != c.want) {
			t.Errorf("%s: %q, %v; want %q, %v", c.name, got, ok, c.want, c.ok)
		}
	}
}
