package exec

import (
	"errors"
	"testing"
	"time"
)

// TestStalledRule: a time-limit stop is the program's when it had at least
// minFairCPU of its limit as CPU time, the node's otherwise.
func TestStalledRule(t *testing.T) {
	limit := 10 * time.Second
	for _, c := range []struct {
		cpu     time.Duration
		stalled bool
	}{
		{10 * time.Second, false},
		{7500 * time.Millisecond, false},
		{7400 * time.Millisecond, true},
		{0, true}, // paused the whole time (SIGSTOP)
	} {
		err := stalled(c.cpu, limit+time.Millisecond, limit)
		if (err != nil) != c.stalled {
			t.Fatalf("cpu %s of a %s limit: %v, want stalled=%v", c.cpu, limit, err, c.stalled)
		}
		if err != nil && (!errors.Is(err, ErrNodeStalled) || IsProgramFailure(err)) {
			t.Fatalf("a stall must be a node-side ErrNodeStalled: %v", err)
		}
	}
}
