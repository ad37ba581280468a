package daemon

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/outlayer/outlayer/exec"
	"github.com/outlayer/outlayer/failure"
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
}
