package reexec_test

import (
	"context"
	"errors"
	"os"
	osexec "os/exec"
	"strings"
	"testing"

	"github.com/outlayer/outlayer/internal/reexec"
)

// echoEntry is this test binary's child: it prints its arguments and its
// environment, and exits with status 3 when its first argument is "fail".
const echoEntry = "outlayer-reexec-test-echo"

func init() {
	reexec.Serve(echoEntry, func(args []string) int {
		os.Stdout.WriteString("args=" + strings.Join(args, ",") + " env=" + strings.Join(os.Environ(), ",") + "\n")
		if len(args) > 0 && args[0] == "fail" {
			return 3
		}
		return 0
	})
}

func TestChildRunsItsEntryPointOnly(t *testing.T) {
	t.Setenv("REEXEC_PARENT_SECRET", "s3cret")
	out, err := reexec.Command(context.Background(), echoEntry, "a", "b c").Output()
	if err != nil {
		t.Fatalf("child: %v", err)
	}
	// The child ran the entry point, not this binary's tests (which would
	// print PASS), and saw none of the parent's environment.
	if got := string(out); got != "args=a,b c env=\n" {
		t.Fatalf("child printed %q", got)
	}
	err = reexec.Command(context.Background(), echoEntry, "fail").Run()
	var ee *osexec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Fatalf("a failing entry point: %v, want exit status 3", err)
	}
	// Another name is not this entry point: the child is the test binary
	// itself, which runs its tests (none match) instead.
	out, err = reexec.Command(context.Background(), "outlayer-reexec-test-other", "-test.run=^$").Output()
	if err != nil || strings.Contains(string(out), "args=") {
		t.Fatalf("an unserved name ran the entry point: %q, %v", out, err)
	}
}

func TestCommandHonoursItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := reexec.Command(ctx, echoEntry).Run(); err == nil {
		t.Fatal("a child started with a cancelled context ran")
	}
}
