package meter

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

type engine struct {
	name string
	cfg  func() wazero.RuntimeConfig
}

func engines() []engine {
	return []engine{
		{"compiler", wazero.NewRuntimeConfigCompiler},
		{"interpreter", wazero.NewRuntimeConfigInterpreter},
	}
}

// instantiate instruments wasm and instantiates it on a fresh runtime with
// an "env" host module providing tick() (counted in *ticks).
func instantiate(t *testing.T, e engine, wasm []byte, opts Options, ticks *int) (api.Module, error) {
	t.Helper()
	ctx := context.Background()
	out, err := Instrument(wasm, opts)
	if err != nil {
		t.Fatalf("Instrument: %v", err)
	}
	rt := wazero.NewRuntimeWithConfig(ctx, e.cfg())
	t.Cleanup(func() { rt.Close(ctx) })
	_, err = rt.NewHostModuleBuilder("env").
		NewFunctionBuilder().WithFunc(func() {
		if ticks != nil {
			*ticks++
		}
	}).Export("tick").
		NewFunctionBuilder().WithFunc(func() {}).Export("tock").
		Instantiate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return rt.InstantiateWithConfig(ctx, out, wazero.NewModuleConfig().WithStartFunctions())
}

// callCount calls export fn with args under budget and returns the
// results and the instructions used.
func callCount(t *testing.T, mod api.Module, fn string, budget uint64, args ...uint64) ([]uint64, uint64, error) {
	t.Helper()
	if err := SetBudget(mod, budget); err != nil {
		t.Fatal(err)
	}
	res, callErr := mod.ExportedFunction(fn).Call(context.Background(), args...)
	used, err := Used(mod, budget)
	if err != nil {
		t.Fatal(err)
	}
	return res, used, callErr
}

type handCase struct {
	name  string
	mod   testModule
	fn    string
	args  []uint64
	want  uint64 // hand-computed instruction count
	ret   []uint64
	ticks int
}

func handCases() []handCase {
	voidToI32 := [2][]byte{nil, {tI32}}
	i32ToVoid := [2][]byte{{tI32}, nil}
	i32ToI32 := [2][]byte{{tI32}, {tI32}}
	export := func(name string, idx uint32) []testExport { return []testExport{{name: name, kind: 0, index: idx}} }

	straight := testModule{
		types:   [][2][]byte{voidToI32},
		funcs:   []testFunc{{typ: 0, code: code(i32c(1), i32c(2), opI32Add, opEnd)}},
		exports: export("f", 0),
	}
	// loop; local.get 0; i32.const 1; i32.sub; local.tee 0; br_if 0; end
	// costs 1 (loop) + 5 per iteration.
	countdown := testModule{
		types:   [][2][]byte{i32ToVoid},
		funcs:   []testFunc{{typ: 0, code: code(opLoop, lget(0), i32c(1), opI32Sub, ltee(0), brIf(0), opEnd, opEnd)}},
		exports: export("f", 0),
	}
	// Three nested blocks; br_if d out of the innermost; a nop after each
	// end. Entry: 3 blocks + local.get + br_if = 5. Falling through adds
	// i32.const, drop and three nops = 5 more.
	nested := func(depth uint32) testModule {
		return testModule{
			types: [][2][]byte{i32ToVoid},
			funcs: []testFunc{{typ: 0, code: code(
				opBlock, opBlock, opBlock,
				lget(0), brIf(depth), i32c(7), opDrop,
				opEnd, opNop, opEnd, opNop, opEnd, opNop, opEnd)}},
			exports: export("f", 0),
		}
	}
	// br_table over three blocks: 5 to reach it, then case 0 runs 4 (10+0,
	// return), case 1 runs 2 (20, return), default runs 1 (30).
	table := testModule{
		types: [][2][]byte{i32ToI32},
		funcs: []testFunc{{typ: 0, code: code(
			opBlock, opBlock, opBlock, lget(0), brTable(2, 0, 1), opEnd,
			i32c(10), i32c(0), opI32Add, opReturn, opEnd,
			i32c(20), opReturn, opEnd,
			i32c(30), opEnd)}},
		exports: export("f", 0),
	}
	// inc(x) = x+1 costs 3; f = 5, inc, inc costs 1+1+3+1+3 = 9.
	calls := testModule{
		types: [][2][]byte{i32ToI32, voidToI32},
		funcs: []testFunc{
			{typ: 0, code: code(lget(0), i32c(1), opI32Add, opEnd)},
			{typ: 1, code: code(i32c(5), call(0), call(0), opEnd)},
		},
		exports: export("f", 1),
	}
	// fact(0) costs 4 (local.get, eqz, if, const); fact(n) = 9 + fact(n-1).
	fact := testModule{
		types: [][2][]byte{i32ToI32},
		funcs: []testFunc{{typ: 0, code: code(
			lget(0), opI32Eqz, opIfI32, i32c(1), opElse,
			lget(0), lget(0), i32c(1), opI32Sub, call(0), opI32Mul, opEnd, opEnd)}},
		exports: export("f", 0),
	}
	// Host calls: tick is charged 1 each, two ticks then a loop that runs
	// twice: call, call, i32.const 2, local.set, loop (5) + 2 * (call tick,
	// local.get, i32.const, i32.sub, local.tee, br_if) (12) + local.get (1).
	host := testModule{
		types:   [][2][]byte{{nil, nil}, voidToI32},
		imports: []testImport{{"env", "tick", 0x00, []byte{0x00}}},
		funcs: []testFunc{{typ: 1, groups: 1, locals: []byte{0x01, tI32}, code: code(
			call(0), call(0), i32c(2), lset(0),
			opLoop, call(0), lget(0), i32c(1), opI32Sub, ltee(0), brIf(0), opEnd,
			lget(0), opEnd)}},
		exports: export("f", 1),
	}
	// A loop whose head block is not the block that branches back, so its
	// charge is hoisted onto the br_if edge and refunded after it:
	// loop (1) + per iteration: local.get, i32.const, i32.sub, local.tee, if
	// (5), nop while x != 0, local.get, br_if (2). n iterations: 8n.
	hoisted := testModule{
		types: [][2][]byte{i32ToVoid},
		funcs: []testFunc{{typ: 0, code: code(opLoop, lget(0), i32c(1), opI32Sub, ltee(0), opIf, opNop, opEnd,
			lget(0), brIf(0), opEnd, opEnd)}},
		exports: export("f", 0),
	}
	return []handCase{
		{name: "hoisted-loop1", mod: hoisted, fn: "f", args: []uint64{1}, want: 8},
		{name: "hoisted-loop5", mod: hoisted, fn: "f", args: []uint64{5}, want: 40},
		{name: "straight", mod: straight, fn: "f", want: 3, ret: []uint64{3}},
		{name: "loop1", mod: countdown, fn: "f", args: []uint64{1}, want: 6},
		{name: "loop10", mod: countdown, fn: "f", args: []uint64{10}, want: 51},
		{name: "loop1000", mod: countdown, fn: "f", args: []uint64{1000}, want: 5001},
		{name: "nested-out-of-3-taken", mod: nested(2), fn: "f", args: []uint64{1}, want: 5 + 1},
		{name: "nested-out-of-2-taken", mod: nested(1), fn: "f", args: []uint64{1}, want: 5 + 2},
		{name: "nested-out-of-1-taken", mod: nested(0), fn: "f", args: []uint64{1}, want: 5 + 3},
		{name: "nested-not-taken", mod: nested(2), fn: "f", args: []uint64{0}, want: 10},
		{name: "br_table-0", mod: table, fn: "f", args: []uint64{0}, want: 9, ret: []uint64{10}},
		{name: "br_table-1", mod: table, fn: "f", args: []uint64{1}, want: 7, ret: []uint64{20}},
		{name: "br_table-default", mod: table, fn: "f", args: []uint64{7}, want: 6, ret: []uint64{30}},
		{name: "calls", mod: calls, fn: "f", want: 9, ret: []uint64{7}},
		{name: "fact0", mod: fact, fn: "f", args: []uint64{0}, want: 4, ret: []uint64{1}},
		{name: "fact5", mod: fact, fn: "f", args: []uint64{5}, want: 49, ret: []uint64{120}},
		{name: "fact10", mod: fact, fn: "f", args: []uint64{10}, want: 94, ret: []uint64{3628800}},
		{name: "host-calls", mod: host, fn: "f", want: 18, ret: []uint64{0}, ticks: 4},
	}
}

func TestHandCountedModules(t *testing.T) {
	// NoStop changes only what the loop and entry checks compare with.
	variants := map[string]Options{"": {}, "/nostop": {NoStop: true}}
	for _, c := range handCases() {
		for _, e := range engines() {
			for variant, opts := range variants {
				t.Run(c.name+"/"+e.name+variant, func(t *testing.T) {
					testHandCounted(t, c, e, opts)
				})
			}
		}
	}
}

func testHandCounted(t *testing.T, c handCase, e engine, opts Options) {
	ticks := 0
	mod, err := instantiate(t, e, c.mod.bytes(), opts, &ticks)
	if err != nil {
		t.Fatal(err)
	}
	// Exactly enough budget: runs, and uses all of it.
	res, used, err := callCount(t, mod, c.fn, c.want, c.args...)
	if err != nil {
		t.Fatalf("with budget = count %d: %v", c.want, err)
	}
	if used != c.want {
		t.Errorf("used %d instructions, hand count is %d", used, c.want)
	}
	if c.ret != nil && (len(res) != 1 || uint32(res[0]) != uint32(c.ret[0])) {
		t.Errorf("returned %v, want %v", res, c.ret)
	}
	if ticks != c.ticks {
		t.Errorf("host function ran %d times, want %d", ticks, c.ticks)
	}
	if Exhausted(mod) {
		t.Error("Exhausted after a successful call")
	}
	// Repeat with plenty of budget: the count does not change.
	if _, used, err = callCount(t, mod, c.fn, 1<<40, c.args...); err != nil || used != c.want {
		t.Errorf("second run: used %d, err %v; want %d", used, err, c.want)
	}
	// One short: traps, and the trap is the meter's.
	_, _, err = callCount(t, mod, c.fn, c.want-1, c.args...)
	if err == nil {
		t.Fatalf("with budget = count-1 = %d the call succeeded", c.want-1)
	}
	if !Exhausted(mod) {
		t.Errorf("trap %v not attributed to the meter", err)
	}
	if used, _ := Used(mod, c.want-1); used != c.want-1 {
		t.Errorf("Used after exhaustion = %d, want the whole budget %d", used, c.want-1)
	}
}

// A host call is made only while the budget covers everything before it:
// with budget b the host-calls module makes exactly as many host calls as
// the exact semantics allow.
func TestHostCallsStopAtTheExactBudget(t *testing.T) {
	var host handCase
	for _, c := range handCases() {
		if c.name == "host-calls" {
			host = c
		}
	}
	// Metered blocks of the host module with calls ending blocks:
	// [call] [call] [i32.const 2, local.set, loop] then per iteration
	// [call] [local.get, i32.const, i32.sub, local.tee, br_if], then
	// [local.get, end]. The n-th tick happens once the blocks up to and
	// including its own are paid for.
	tickAt := []uint64{1, 2, 2 + 3 + 1, 2 + 3 + 1 + 5 + 1}
	for _, e := range engines() {
		for budget := uint64(0); budget <= host.want; budget++ {
			ticks := 0
			mod, err := instantiate(t, e, host.mod.bytes(), Options{}, &ticks)
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = callCount(t, mod, "f", budget)
			want := 0
			for _, at := range tickAt {
				if budget >= at {
					want++
				}
			}
			if ticks != want {
				t.Errorf("%s budget %d: %d host calls, want %d", e.name, budget, ticks, want)
			}
			if (err != nil) != (budget < host.want) || (err != nil) != Exhausted(mod) {
				t.Errorf("%s budget %d: err %v, exhausted %v", e.name, budget, err, Exhausted(mod))
			}
		}
	}
}

// After a trap that is not the meter's, the count covers every frame up to
// its last sync with the global: the callers' charges up to the call, not the
// trapping frame's own (see DESIGN.md).
// The hoisted-loop case really is hoisted: its instrumented code refunds
// the head's cost (i64.const -5; i64.sub) after the br_if.
func TestLoopHeadChargeIsHoisted(t *testing.T) {
	out, err := Instrument(handCases()[0].mod.bytes(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(out, []byte{0x42, 0x7b, 0x7d}) {
		t.Error("no refund of the loop head's charge after br_if: hoisting did not happen")
	}
}

func TestTrapCountsUpToTheTrappingCall(t *testing.T) {
	// f(x) = i32.const 1; drop; g(x)   charges 4 before the call
	// g(x) = 100 / x + 1                charges 5, traps inside for x = 0
	m := testModule{
		types: [][2][]byte{{{tI32}, {tI32}}},
		funcs: []testFunc{
			{typ: 0, code: code(i32c(1), opDrop, lget(0), call(1), opEnd)},
			{typ: 0, code: code(i32c(100), lget(0), opI32DivU, i32c(1), opI32Add, opEnd)},
		},
		exports: []testExport{{"f", 0, 0}},
	}
	for _, e := range engines() {
		mod, err := instantiate(t, e, m.bytes(), Options{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		res, used, err := callCount(t, mod, "f", 1000, 4)
		if err != nil || used != 9 || res[0] != 26 {
			t.Fatalf("%s: f(4) = %v used %d err %v; want 26 used 9", e.name, res, used, err)
		}
		_, used, err = callCount(t, mod, "f", 1000, 0)
		if err == nil || !strings.Contains(err.Error(), "divide by zero") {
			t.Fatalf("%s: want a divide-by-zero trap, got %v", e.name, err)
		}
		if Exhausted(mod) {
			t.Errorf("%s: divide by zero attributed to the meter", e.name)
		}
		if used != 4 {
			t.Errorf("%s: trap in the callee used %d, want the caller's 4", e.name, used)
		}
	}
}

func TestInfiniteLoopIsStopped(t *testing.T) {
	m := testModule{
		types:   [][2][]byte{{nil, nil}},
		funcs:   []testFunc{{typ: 0, code: code(opLoop, br(0), opEnd, opEnd)}},
		exports: []testExport{{"spin", 0, 0}},
	}
	for _, e := range engines() {
		mod, err := instantiate(t, e, m.bytes(), Options{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, used, err := callCount(t, mod, "spin", 1_000_001)
		if err == nil || !Exhausted(mod) || used != 1_000_001 {
			t.Fatalf("%s: err %v exhausted %v used %d", e.name, err, Exhausted(mod), used)
		}
		// loop (1) + 500000 iterations of br (1) fit in 500001 exactly? No:
		// the budget runs out at the first iteration that does not fit.
		rem, _ := Remaining(mod)
		if rem != -1 {
			t.Errorf("%s: remaining %d after the trap, want -1 (one iteration overdrawn)", e.name, rem)
		}
	}
}

func TestGlobalIndexAfterImportedAndDefinedGlobals(t *testing.T) {
	// The module imports a global and defines one initialised from it; the
	// function returns the sum of both and sets the defined one. Our global
	// must not shift either index.
	m := testModule{
		types:   [][2][]byte{{nil, {tI32}}},
		imports: []testImport{{"env", "base", 0x03, []byte{tI32, 0x00}}},
		globals: [][]byte{code([]byte{tI32, 0x01}, gget(0), opEnd)},
		funcs: []testFunc{{typ: 0, code: code(
			gget(0), gget(1), opI32Add, gget(1), i32c(1), opI32Add, gset(1), opEnd)}},
		exports: []testExport{{"f", 0, 0}, {"g", 3, 1}},
	}
	ctx := context.Background()
	for _, e := range engines() {
		out, err := Instrument(m.bytes(), Options{})
		if err != nil {
			t.Fatal(err)
		}
		rt := wazero.NewRuntimeWithConfig(ctx, e.cfg())
		defer rt.Close(ctx)
		// A module exporting an immutable global "base" = 40.
		base := testModule{
			globals: [][]byte{code([]byte{tI32, 0x00}, i32c(40), opEnd)},
			exports: []testExport{{"base", 3, 0}},
		}
		if _, err := rt.InstantiateWithConfig(ctx, base.bytes(), wazero.NewModuleConfig().WithName("env")); err != nil {
			t.Fatal(err)
		}
		mod, err := rt.InstantiateWithConfig(ctx, out, wazero.NewModuleConfig().WithName("m"))
		if err != nil {
			t.Fatal(err)
		}
		res, used, err := callCount(t, mod, "f", 100)
		if err != nil || res[0] != 80 || used != 7 {
			t.Fatalf("%s: f() = %v used %d err %v; want 80 used 7", e.name, res, used, err)
		}
		if g := mod.ExportedGlobal("g").Get(); g != 41 {
			t.Errorf("%s: defined global = %d, want 41", e.name, g)
		}
	}
}

func TestStartSectionNeedsInitialBudget(t *testing.T) {
	start := uint32(0)
	m := testModule{
		types:   [][2][]byte{{nil, nil}},
		globals: [][]byte{code([]byte{tI32, 0x01}, i32c(0), opEnd)},
		funcs:   []testFunc{{typ: 0, code: code(gget(0), i32c(1), opI32Add, gset(0), opEnd)}},
		exports: []testExport{{"count", 3, 0}},
		start:   &start,
	}
	for _, e := range engines() {
		if _, err := instantiate(t, e, m.bytes(), Options{}, nil); err == nil {
			t.Errorf("%s: start function ran with a zero initial budget", e.name)
		}
		mod, err := instantiate(t, e, m.bytes(), Options{InitialBudget: 10}, nil)
		if err != nil {
			t.Fatalf("%s: %v", e.name, err)
		}
		if rem, _ := Remaining(mod); rem != 6 {
			t.Errorf("%s: remaining after start = %d, want 10-4", e.name, rem)
		}
		if got := mod.ExportedGlobal("count").Get(); got != 1 {
			t.Errorf("%s: start function did not run: count = %d", e.name, got)
		}
	}
}

func TestSectionsInsertedInOrderAndCustomKept(t *testing.T) {
	// No global, export or code section at all, plus a custom section: the
	// output must still be a valid module with our export, and keep the
	// custom section's bytes.
	m := testModule{memory: true, custom: []byte("keep me")}
	out, err := Instrument(m.bytes(), Options{InitialBudget: 5})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(out, []byte("test.custom")) || !bytes.Contains(out, []byte("keep me")) {
		t.Error("custom section lost")
	}
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	mod, err := rt.Instantiate(ctx, out)
	if err != nil {
		t.Fatal(err)
	}
	if rem, err := Remaining(mod); err != nil || rem != 5 {
		t.Errorf("remaining = %d, %v; want 5", rem, err)
	}
}

func TestDebugSectionsDropped(t *testing.T) {
	m := testModule{memory: true}.bytes()
	m = append(m, sect(secCustom, append(str(".debug_info"), "dwarf offsets"...))...)
	m = append(m, sect(secCustom, append(str("name"), 0x00, 0x00))...)
	m = append(m, sect(secCustom, append(str("sourceMappingURL"), "x.map"...))...)
	out, err := Instrument(m, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(out, []byte(".debug_info")) || bytes.Contains(out, []byte("x.map")) {
		t.Error("DWARF or source map kept although every code offset moved")
	}
	if !bytes.Contains(out, append(str("name"), 0x00, 0x00)) {
		t.Error("name section dropped")
	}
}

func TestRejectsWhatItCannotCount(t *testing.T) {
	f := func(body []byte) []byte {
		return testModule{
			types: [][2][]byte{{nil, nil}},
			funcs: []testFunc{{typ: 0, code: body}},
		}.bytes()
	}
	cases := map[string][]byte{
		"simd":         f(code([]byte{0xfd, 0x0c}, make([]byte, 16), opDrop, opEnd)),
		"atomics":      f(code([]byte{0xfe, 0x03, 0x00}, opEnd)),
		"tail call":    f(code([]byte{0x12, 0x00}, opEnd)),
		"bad opcode":   f(code([]byte{0x27}, opEnd)),
		"bad br depth": f(code(br(3), opEnd)),
		"else alone":   f(code(opElse, opEnd)),
		"no final end": f(code(opNop)),
		"after end":    f(code(opEnd, opNop)),
		"component":    {0x00, 'a', 's', 'm', 0x0d, 0x00, 0x01, 0x00},
		"not wasm":     []byte("#!/bin/sh\necho hi\n"),
		"short":        {0x00, 'a', 's'},
	}
	for name, wasm := range cases {
		_, err := Instrument(wasm, Options{})
		var se *SectionError
		if !errors.As(err, &se) {
			t.Errorf("%s: want a *SectionError, got %v", name, err)
			continue
		}
		t.Logf("%s: %v", name, err)
	}
	for _, name := range []string{"simd", "atomics", "tail call", "component"} {
		if _, err := Instrument(cases[name], Options{}); !errors.Is(err, ErrUnsupported) {
			t.Errorf("%s: want ErrUnsupported, got %v", name, err)
		}
	}
	// Instrumenting twice would double-count: refused.
	once, err := Instrument(handCases()[0].mod.bytes(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Instrument(once, Options{}); err == nil || !strings.Contains(err.Error(), "instrumented twice") {
		t.Errorf("instrumenting twice: %v", err)
	}
}

func TestTruncatedInputNeverPanics(t *testing.T) {
	for _, c := range handCases() {
		wasm := c.mod.bytes()
		for n := 0; n < len(wasm); n++ {
			out, err := Instrument(wasm[:n], Options{})
			if err != nil {
				continue
			}
			// A cut on a section boundary can leave a valid, shorter
			// module; then the output must be valid too.
			ctx := context.Background()
			rt := wazero.NewRuntime(ctx)
			if _, err := rt.CompileModule(ctx, out); err != nil {
				t.Errorf("%s cut at %d/%d: instrumented without error but the output does not compile: %v", c.name, n, len(wasm), err)
			}
			rt.Close(ctx)
		}
	}
}

func TestHelpersRejectUninstrumentedModules(t *testing.T) {
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	mod, err := rt.Instantiate(ctx, handCases()[0].mod.bytes())
	if err != nil {
		t.Fatal(err)
	}
	if err := SetBudget(mod, 10); !errors.Is(err, ErrNotInstrumented) {
		t.Errorf("SetBudget: %v", err)
	}
	if _, err := Remaining(mod); !errors.Is(err, ErrNotInstrumented) {
		t.Errorf("Remaining: %v", err)
	}
	if Exhausted(mod) {
		t.Error("Exhausted on an uninstrumented module")
	}
	if _, err := Instrument(handCases()[0].mod.bytes(), Options{InitialBudget: 1 << 63}); err == nil {
		t.Error("initial budget above MaxInt64 accepted")
	}
}
