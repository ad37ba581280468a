package daemon

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v5"
)

func TestRetryEvery(t *testing.T) {
	ctx := context.Background()
	transient, final := errors.New("leader changing"), errors.New("not the holder")
	cases := []struct {
		name    string
		answers []error
		tries   uint
		want    error
		calls   int
	}{
		{"first try", []error{nil}, 0, nil, 1},
		{"after two transient errors", []error{transient, transient, nil}, 0, nil, 3},
		{"permanent stops at once, unwrapped", []error{transient, backoff.Permanent(final), nil}, 0, final, 2},
		{"bounded tries return the last error", []error{transient, transient, transient, nil}, 2, transient, 2},
	}
	for _, c := range cases {
		calls := 0
		err := retryEvery(ctx, time.Millisecond, c.tries, func() error {
			calls++
			return c.answers[calls-1]
		})
		if !errors.Is(err, c.want) || (c.want == nil) != (err == nil) || calls != c.calls {
			t.Errorf("%s: %v after %d calls, want %v after %d", c.name, err, calls, c.want, c.calls)
		}
	}
	// A cancelled context ends it with the last error seen, not ctx's.
	cctx, cancel := context.WithCancel(ctx)
	calls := 0
	err := retryEvery(cctx, time.Hour, 0, func() error { calls++; cancel(); return transient })
	if !errors.Is(err, transient) || calls != 1 {
		t.Fatalf("cancelled: %v after %d calls", err, calls)
	}
}

func TestResolverBackoffSchedule(t *testing.T) {
	r := testResolver(newFakeReplica(), &fakeProposer{}, &fakeChain{})
	want := []time.Duration{200, 400, 800, 1600, 3200, 6400, 10000, 10000}
	for i, w := range want {
		if got := r.backoff(7); got != w*time.Millisecond {
			t.Fatalf("try %d: %s, want %s", i+1, got, w*time.Millisecond)
		}
	}
	if d := r.backoff(8); d != 200*time.Millisecond {
		t.Fatalf("another request starts at %s", d)
	}
	r.forget(7)
	if d := r.backoff(7); d != 200*time.Millisecond {
		t.Fatalf("a forgotten request starts again at %s", d)
	}
}
