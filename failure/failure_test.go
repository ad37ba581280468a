package failure

import (
	"errors"
	"fmt"
	"testing"
)

func TestClasses(t *testing.T) {
	cases := []struct {
		kind  Kind
		class Class
		final bool
	}{
		{InvalidRequest, ClassRequest, true},
		{CompilationFailed, ClassRequest, true},
		{CompileLimit, ClassRequest, true},
		{InstructionLimit, ClassRequest, true},
		{AccessDenied, ClassRequest, true},
		{SecretsUnavailable, ClassRequest, true},
		{NodeFault, ClassNode, false},
		{SandboxCrashed, ClassNode, false},
		{NodeStalled, ClassNode, false},
		{SecretsNotReady, ClassNode, false},
		{DeadlineNear, ClassCluster, true},
		{AttemptsExhausted, ClassCluster, true},
		// A kind this binary does not know is never a final answer.
		{Kind("made_up"), ClassNode, false},
		{Kind(""), ClassNode, false},
	}
	for _, c := range cases {
		if got := c.kind.Class(); got != c.class {
			t.Errorf("%q: class %v, want %v", c.kind, got, c.class)
		}
		if got := c.kind.Final(); got != c.final {
			t.Errorf("%q: final %v, want %v", c.kind, got, c.final)
		}
	}
	if Kind("made_up").Known() || !Trap.Known() {
		t.Error("Known is wrong")
	}
}

func TestKindOf(t *testing.T) {
	cause := errors.New("disk on fire")
	e := Wrap(SandboxCrashed, cause, "the sandbox died")
	wrapped := fmt.Errorf("running request 7: %w", e)
	if k, ok := KindOf(wrapped); !ok || k != SandboxCrashed {
		t.Fatalf("KindOf(wrapped) = %q %v", k, ok)
	}
	if !errors.Is(wrapped, SandboxCrashed) || !errors.Is(wrapped, cause) || errors.Is(wrapped, NodeStalled) {
		t.Fatal("errors.Is does not see the kind and the cause")
	}
	if k, ok := KindOf(fmt.Errorf("x: %w", Trap)); !ok || k != Trap {
		t.Fatalf("KindOf(bare kind) = %q %v", k, ok)
	}
	if _, ok := KindOf(cause); ok {
		t.Fatal("a plain error has no kind")
	}
	if New(Trap, "trap at %d", 3).Error() != "trap at 3" {
		t.Fatal("message")
	}
}
