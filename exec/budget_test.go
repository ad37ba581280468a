package exec_test

import (
	"context"
	"errors"
	"testing"
	"time"

	outexec "github.com/outlayer/outlayer/exec"
)

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// The runs are isolated, as on a node: an in-process run's stop can wait
// on a garbage collection that waits on the compiled loop (exec/DESIGN.md).
func TestMemoryBudget(t *testing.T) {
	r := newIsolatedRunner(t, outexec.Config{MemoryBudgetMB: 64, Sandboxes: 3})

	_, err := run(t, r, outexec.Request{Wasm: helloModule(), Limits: outexec.Limits{MaxMemoryMB: 65}})
	if err == nil || outexec.IsProgramFailure(err) {
		t.Fatalf("a limit above the node's whole budget is the node's refusal, got %v", err)
	}

	// A run holding 48 of the 64 MiB makes a 32 MiB run wait...
	ctx1, cancel1 := context.WithCancel(context.Background())
	defer cancel1()
	done := make(chan error, 1)
	go func() {
		_, err := r.Run(ctx1, outexec.Request{Wasm: sample(t, "loop"),
			Limits: outexec.Limits{MaxInstructions: outexec.MaxInstructionsCap, MaxMemoryMB: 48, Timeout: time.Minute}})
		done <- err
	}()
	waitFor(t, "the first run to hold its memory", func() bool { return r.MemoryInUseMB() == 48 })

	ctx2, cancel2 := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel2()
	_, err = r.Run(ctx2, outexec.Request{Wasm: helloModule(), Limits: outexec.Limits{MaxMemoryMB: 32}})
	if !errors.Is(err, context.DeadlineExceeded) || outexec.IsProgramFailure(err) {
		t.Fatalf("a run that does not fit should wait for its context, got %v", err)
	}
	// ...while a 16 MiB run fits beside it.
	if res, err := run(t, r, outexec.Request{Wasm: helloModule(), Limits: outexec.Limits{MaxMemoryMB: 16}}); err != nil || string(res.Output) != "hello" {
		t.Fatalf("a run that fits: %v", err)
	}

	cancel1()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("first run: %v", err)
	}
	if n := r.MemoryInUseMB(); n != 0 {
		t.Fatalf("%d MiB still reserved after every run ended", n)
	}
}

// TestCloseDuringRun: a run cut short by Close is the node's failure, never
// a success with partial output nor a verdict on the program.
func TestCloseDuringRun(t *testing.T) {
	r, err := outexec.NewRunner(context.Background(), outexec.Config{Isolate: true, Sandboxes: 1})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := r.Run(context.Background(), outexec.Request{Wasm: sample(t, "loop"),
			Limits: outexec.Limits{MaxInstructions: outexec.MaxInstructionsCap, Timeout: time.Minute}})
		done <- err
	}()
	waitFor(t, "the run to start", func() bool { return r.MemoryInUseMB() > 0 })
	if err := r.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err == nil || outexec.IsProgramFailure(err) {
			t.Fatalf("a run stopped by Close returned %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("Close did not stop the run")
	}
}
