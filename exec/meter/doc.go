// Package meter makes WASM execution cost deterministic: it rewrites a
// module before compilation so that it counts the instructions it executes
// against a budget and traps once the budget is overdrawn. The count is a
// property of the module and its input only, so it is identical on
// wazero's compiler and interpreter, on every run and on every machine.
//
// Use:
//
//	metered, err := meter.Instrument(wasm, meter.Options{})
//	compiled, err := rt.CompileModule(ctx, metered)
//	mod, err := rt.InstantiateModule(ctx, compiled,
//		wazero.NewModuleConfig().WithStartFunctions()) // don't run _start yet
//	err = meter.SetBudget(mod, limit)
//	_, err = mod.ExportedFunction("_start").Call(ctx)
//	if err != nil && meter.Exhausted(mod) { /* instruction limit exceeded */ }
//	used, err := meter.Used(mod, limit)
//
// The instrumented module defines and exports a mutable i64 global named
// GlobalName that holds the remaining budget, and one named StopName that
// the host raises (Stop) to end a run at its deadline (left out with
// Options.NoStop, for hosts that stop runs by killing their process); it
// imports nothing
// new and adds no functions, so function indices and the name section stay
// valid (DWARF, whose code offsets move, is dropped). Before rewriting,
// every index is checked against the submitted module and its shape
// against the caps in caps.go. When the budget would go below zero the module executes
// unreachable; the host tells that trap from others with Exhausted, which
// reads the global. A last peephole pass shortens a few instruction pairs
// of the output for wazero's compiler without changing a count. The
// precise cost model is in DESIGN.md.
package meter
