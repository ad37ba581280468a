package meter

import (
	"context"
	"errors"
	"runtime/debug"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
)

// TestStopEndsARunFromAnotherGoroutine: the host's deadline reaches a loop
// that never calls out, and a recursion with no loop at all, through the
// stop flag the meter's checks read; the count stays that of the work
// done, and the stop is not mistaken for exhaustion.
func TestStopEndsARunFromAnotherGoroutine(t *testing.T) {
	spin := testModule{
		types:   [][2][]byte{{nil, nil}},
		funcs:   []testFunc{{typ: 0, code: code(opLoop, br(0), opEnd, opEnd)}},
		exports: []testExport{{"run", 0, 0}},
	}
	// f(n): if n { f(n-1); f(n-1) }: 2^n calls, no loop.
	fork := testModule{
		types: [][2][]byte{{[]byte{tI32}, nil}},
		funcs: []testFunc{{typ: 0, code: code(lget(0), opIf,
			lget(0), i32c(1), opI32Sub, call(0), lget(0), i32c(1), opI32Sub, call(0), opEnd, opEnd)}},
		exports: []testExport{{"run", 0, 0}},
	}
	ctx := context.Background()
	// A garbage collection that starts while compiled code loops waits
	// for it (no preemption point), and so does the goroutine that would
	// call Stop (DESIGN.md): with a budget of 2^62 that is forever. Hold
	// GC off to test the flag itself.
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	for name, m := range map[string]testModule{"loop": spin, "recursion": fork} {
		t.Run(name, func(t *testing.T) {
			out, err := Instrument(m.bytes(), Options{})
			if err != nil {
				t.Fatal(err)
			}
			rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigCompiler())
			defer rt.Close(ctx)
			mod, err := rt.Instantiate(ctx, out)
			if err != nil {
				t.Fatal(err)
			}
			if err := SetBudget(mod, 1<<62); err != nil {
				t.Fatal(err)
			}
			if Stopped(mod) {
				t.Fatal("stopped before Stop")
			}
			timer := time.AfterFunc(50*time.Millisecond, func() { _ = Stop(mod) })
			defer timer.Stop()
			start := time.Now()
			var args []uint64
			if name == "recursion" {
				args = []uint64{62}
			}
			_, err = mod.ExportedFunction("run").Call(ctx, args...)
			if err == nil {
				t.Fatal("the run ended without error")
			}
			if !Stopped(mod) || Exhausted(mod) {
				t.Fatalf("stopped %v exhausted %v: %v", Stopped(mod), Exhausted(mod), err)
			}
			if used, err := Used(mod, 1<<62); err != nil || used == 0 {
				t.Errorf("used %d, %v: the work done is not counted", used, err)
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("took %v to stop", d)
			}
		})
	}
	if err := Stop(nil); !errors.Is(err, ErrNotInstrumented) {
		t.Errorf("Stop(nil) = %v", err)
	}
}

// TestNoStop: without the stop global the module exports only the budget,
// cannot be stopped, and an endless loop still ends at its budget.
func TestNoStop(t *testing.T) {
	spin := testModule{
		types:   [][2][]byte{{nil, nil}},
		funcs:   []testFunc{{typ: 0, code: code(opLoop, br(0), opEnd, opEnd)}},
		exports: []testExport{{"run", 0, 0}},
	}
	out, err := Instrument(spin.bytes(), Options{NoStop: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigCompiler())
	defer rt.Close(ctx)
	mod, err := rt.Instantiate(ctx, out)
	if err != nil {
		t.Fatal(err)
	}
	if mod.ExportedGlobal(StopName) != nil {
		t.Fatal("the stop global is exported")
	}
	if err := Stop(mod); !errors.Is(err, ErrNotInstrumented) {
		t.Fatalf("Stop without a stop global: %v", err)
	}
	if err := SetBudget(mod, 1000); err != nil {
		t.Fatal(err)
	}
	if _, err := mod.ExportedFunction("run").Call(ctx); err == nil || !Exhausted(mod) || Stopped(mod) {
		t.Fatalf("the endless loop: %v, exhausted %v", err, Exhausted(mod))
	}
}
