package meter

import (
	"context"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
)

// Modules shaped to break threaded calls (thread.go): the counter passed
// along calls, through tables, into recursion, out to the host.
func threadCases() []handCase {
	i32ToI32 := [2][]byte{{tI32}, {tI32}}
	voidToI32 := [2][]byte{nil, {tI32}}
	// A table of two functions, called through call_indirect with the
	// index in the argument. inc(x) = x+1 (3), dbl(x) = x*2 (3);
	// f(i) = i32.const 20; local.get 0; call_indirect (3) + callee (3) = 6.
	indirect := testModule{
		types: [][2][]byte{i32ToI32},
		funcs: []testFunc{
			{typ: 0, code: code(lget(0), i32c(1), opI32Add, opEnd)},
			{typ: 0, code: code(lget(0), i32c(2), opI32Mul, opEnd)},
			{typ: 0, code: code(i32c(20), lget(0), callIndirect(0, 0), opEnd)},
		},
		tables:  [][]byte{{0x70, 0x01, 0x02, 0x02}},
		elems:   [][]byte{append(append([]byte{0x00}, i32c(0)...), append([]byte{0x0b}, vec(appendU32(nil, 0), appendU32(nil, 1))...)...)},
		exports: []testExport{{"f", 0, 2}},
	}
	// Mutual recursion without a loop: even(n) and odd(n) call each other
	// down to 0. even(n) = local.get, eqz, if(i32) const 1 else local.get,
	// const 1, sub, call odd end = 4 at 0, 7 + odd(n-1) otherwise; odd the
	// same with const 0.
	parity := func(other uint32, base int32) testFunc {
		return testFunc{typ: 0, code: code(
			lget(0), opI32Eqz, opIfI32, i32c(base), opElse,
			lget(0), i32c(1), opI32Sub, call(other), opEnd, opEnd)}
	}
	mutual := testModule{
		types:   [][2][]byte{i32ToI32},
		funcs:   []testFunc{parity(1, 1), parity(0, 0)},
		exports: []testExport{{"even", 0, 0}, {"odd", 0, 1}},
	}
	// An exported function that is also called inside the module, and a
	// function with declared locals after its parameter (which threading
	// renumbers): sq(x) = local.get 0; local.set 1; local.get 1; local.get
	// 1; i32.mul (5). g() = i32.const 7; call sq; call sq (3 + 10) = 13.
	locals := testModule{
		types: [][2][]byte{i32ToI32, voidToI32},
		funcs: []testFunc{
			{typ: 0, groups: 1, locals: []byte{0x01, tI32}, code: code(lget(0), lset(1), lget(1), lget(1), opI32Mul, opEnd)},
			{typ: 1, code: code(i32c(7), call(0), call(0), opEnd)},
		},
		exports: []testExport{{"sq", 0, 0}, {"g", 0, 1}},
	}
	// A branch to the function's label and a return: r(x) = local.get 0;
	// local.get 0; br_if 0; i32.const 1; i32.add: 5 when x = 0, else 3
	// (the br_if leaves the function with x).
	exits := testModule{
		types: [][2][]byte{i32ToI32, voidToI32},
		funcs: []testFunc{
			{typ: 0, code: code(lget(0), lget(0), brIf(0), i32c(1), opI32Add, opEnd)},
			{typ: 1, code: code(i32c(0), call(0), call(0), opReturn, opEnd)},
		},
		exports: []testExport{{"r", 0, 0}, {"h", 0, 1}},
	}
	return []handCase{
		{name: "indirect-inc", mod: indirect, fn: "f", args: []uint64{0}, want: 6, ret: []uint64{21}},
		{name: "indirect-dbl", mod: indirect, fn: "f", args: []uint64{1}, want: 6, ret: []uint64{40}},
		{name: "mutual-0", mod: mutual, fn: "even", args: []uint64{0}, want: 4, ret: []uint64{1}},
		{name: "mutual-7", mod: mutual, fn: "odd", args: []uint64{7}, want: 7*7 + 4, ret: []uint64{1}},
		{name: "mutual-100", mod: mutual, fn: "even", args: []uint64{100}, want: 100*7 + 4, ret: []uint64{1}},
		{name: "exported-sq", mod: locals, fn: "sq", args: []uint64{9}, want: 5, ret: []uint64{81}},
		{name: "exported-called-inside", mod: locals, fn: "g", want: 13, ret: []uint64{2401}},
		{name: "br_if-out-of-callee", mod: exits, fn: "r", args: []uint64{4}, want: 3, ret: []uint64{4}},
		{name: "fall-out-of-callee", mod: exits, fn: "r", args: []uint64{0}, want: 5, ret: []uint64{1}},
		// h: const (1) + r(0) (1+5) + r(1) (1+3) + return (1) = 12.
		{name: "return-after-calls", mod: exits, fn: "h", want: 12, ret: []uint64{1}},
	}
}

func callIndirect(typ, table uint32) []byte {
	return appendU32(appendU32([]byte{0x11}, typ), table)
}

func TestThreadedCallsCountExactly(t *testing.T) {
	for _, c := range threadCases() {
		for _, e := range engines() {
			for variant, opts := range map[string]Options{"": {}, "/nostop": {NoStop: true}} {
				t.Run(c.name+"/"+e.name+variant, func(t *testing.T) {
					testHandCounted(t, c, e, opts)
				})
			}
		}
	}
}

// The hand-counted modules take the threaded path: their exports name
// wrappers appended after the module's functions. (A module that does not
// is covered by TestUnthreadableModulesKeepTheGlobal.)
func TestThreadedModulesExportWrappers(t *testing.T) {
	for _, c := range append(threadCases(), handCases()...) {
		out, err := Instrument(c.mod.bytes(), Options{})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		rt := wazero.NewRuntime(ctx)
		cm, err := rt.CompileModule(ctx, out)
		if err != nil {
			rt.Close(ctx)
			t.Fatalf("%s: %v", c.name, err)
		}
		n := uint32(len(c.mod.imports) + len(c.mod.funcs))
		if idx := cm.ExportedFunctions()[c.fn].Index(); idx < n {
			t.Errorf("%s: export %q names function %d, not a wrapper (index >= %d)", c.name, c.fn, idx, n)
		}
		rt.Close(ctx)
	}
}

// Unbounded recursion without any loop, directly and through a table,
// stops at the budget on both engines: every function entry checks.
func TestRecursionWithoutLoopsIsBounded(t *testing.T) {
	voidToVoid := [2][]byte{nil, nil}
	direct := testModule{
		types:   [][2][]byte{voidToVoid},
		funcs:   []testFunc{{typ: 0, code: code(call(0), opEnd)}},
		exports: []testExport{{"f", 0, 0}},
	}
	// f calls g through the table, g calls f directly.
	viaTable := testModule{
		types: [][2][]byte{voidToVoid},
		funcs: []testFunc{
			{typ: 0, code: code(i32c(0), callIndirect(0, 0), opEnd)},
			{typ: 0, code: code(call(0), opEnd)},
		},
		tables:  [][]byte{{0x70, 0x01, 0x01, 0x01}},
		elems:   [][]byte{append(append([]byte{0x00}, i32c(0)...), append([]byte{0x0b}, vec(appendU32(nil, 1))...)...)},
		exports: []testExport{{"f", 0, 0}},
	}
	for name, m := range map[string]testModule{"direct": direct, "via-table": viaTable} {
		for _, e := range engines() {
			mod, err := instantiate(t, e, m.bytes(), Options{NoStop: true}, nil)
			if err != nil {
				t.Fatal(err)
			}
			// Small budgets end in the meter's trap before the call
			// stack runs out.
			for _, budget := range []uint64{1, 2, 3, 100, 1001} {
				_, used, err := callCount(t, mod, "f", budget)
				if err == nil || !Exhausted(mod) || used != budget {
					t.Errorf("%s/%s budget %d: err %v exhausted %v used %d; want the meter's trap", name, e.name, budget, err, Exhausted(mod), used)
				}
			}
		}
	}
}

// A trap in a callee (not the meter's) leaves the count as of the last
// call or return: the caller's work up to the call and every callee that
// returned, not the trapping frame's own blocks.
func TestTrapAfterReturnedCalleeCountsIt(t *testing.T) {
	// inc(x) = x+1 (3); div(x) = i32.const 100; local.get 0; i32.div_u (3);
	// f(x) = local.get 0; call inc (2+3); drop; local.get 0; call div.
	// f(0): the callee div traps. Synced: f's 2, inc's 3, then f's drop,
	// local.get and call (3) before the call to div = 8.
	i32ToI32 := [2][]byte{{tI32}, {tI32}}
	m := testModule{
		types: [][2][]byte{i32ToI32},
		funcs: []testFunc{
			{typ: 0, code: code(lget(0), i32c(1), opI32Add, opEnd)},
			{typ: 0, code: code(i32c(100), lget(0), opI32DivU, opEnd)},
			{typ: 0, code: code(lget(0), call(0), opDrop, lget(0), call(1), opEnd)},
		},
		exports: []testExport{{"f", 0, 2}},
	}
	for _, e := range engines() {
		mod, err := instantiate(t, e, m.bytes(), Options{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		res, used, err := callCount(t, mod, "f", 1000, 5)
		if err != nil || used != 11 || res[0] != 20 {
			t.Fatalf("%s: f(5) = %v used %d err %v; want 20 used 11", e.name, res, used, err)
		}
		_, used, err = callCount(t, mod, "f", 1000, 0)
		if err == nil || !strings.Contains(err.Error(), "divide by zero") || Exhausted(mod) {
			t.Fatalf("%s: want a divide-by-zero trap not attributed to the meter, got %v", e.name, err)
		}
		if used != 8 {
			t.Errorf("%s: trap in the second callee used %d, want 8", e.name, used)
		}
	}
}

// A module in which a host function could reach a table keeps the budget
// global around every call, and still counts exactly: an imported function
// in the table, called through call_indirect, runs only within the budget.
func TestUnthreadableModulesKeepTheGlobal(t *testing.T) {
	voidToVoid := [2][]byte{nil, nil}
	// f = i32.const 0; call_indirect (tick through the table) = 2, the
	// host function charged nothing more.
	m := testModule{
		types:   [][2][]byte{voidToVoid},
		imports: []testImport{{"env", "tick", 0x00, []byte{0x00}}},
		funcs:   []testFunc{{typ: 0, code: code(i32c(0), callIndirect(0, 0), opEnd)}},
		tables:  [][]byte{{0x70, 0x01, 0x01, 0x01}},
		elems:   [][]byte{append(append([]byte{0x00}, i32c(0)...), append([]byte{0x0b}, vec(appendU32(nil, 0))...)...)},
		exports: []testExport{{"f", 0, 1}},
	}
	sections, err := splitSections(m.bytes())
	if err != nil {
		t.Fatal(err)
	}
	info, _, err := parseSections(sections)
	if err != nil {
		t.Fatal(err)
	}
	if info.threadable() {
		t.Fatal("a module with an imported function in its table is threaded")
	}
	for _, e := range engines() {
		ticks := 0
		mod, err := instantiate(t, e, m.bytes(), Options{}, &ticks)
		if err != nil {
			t.Fatal(err)
		}
		if _, used, err := callCount(t, mod, "f", 2); err != nil || used != 2 || ticks != 1 {
			t.Errorf("%s: budget 2: used %d ticks %d err %v", e.name, used, ticks, err)
		}
		if _, _, err := callCount(t, mod, "f", 1); err == nil || !Exhausted(mod) || ticks != 1 {
			t.Errorf("%s: budget 1: the host function ran (%d ticks) or no meter trap: %v", e.name, ticks, err)
		}
	}
}

// Threading moves declared locals up by one: the name section loses its
// local names (which would be off by one) and keeps the rest.
func TestThreadedModulesDropLocalNames(t *testing.T) {
	sub := func(id byte, body []byte) []byte { return append(appendU32([]byte{id}, uint32(len(body))), body...) }
	funcNames := sub(1, vec(append(appendU32(nil, 0), str("sq")...)))
	localNames := sub(2, vec(append(appendU32(nil, 0), vec(append(appendU32(nil, 1), str("tmp")...))...)))
	m := threadCases()[5].mod // "exported-sq": a declared local after the parameter
	m.custom = nil
	wasm := append(m.bytes(), sect(secCustom, append(append(str("name"), funcNames...), localNames...))...)
	out, err := Instrument(wasm, Options{})
	if err != nil {
		t.Fatal(err)
	}
	sections, err := splitSections(out)
	if err != nil {
		t.Fatal(err)
	}
	var name []byte
	for _, s := range sections {
		if s.id == secCustom {
			name = s.body
		}
	}
	if want := append(str("name"), funcNames...); string(name) != string(want) {
		t.Errorf("name section %x, want %x (function names only)", name, want)
	}
}
