package meter

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// peepExpr runs the peephole pass over one function body holding expr
// (no locals) and returns the rewritten expression.
func peepExpr(t *testing.T, expr []byte) []byte {
	t.Helper()
	body := append([]byte{0x00}, expr...)
	sec := appendU32(appendU32(nil, 1), uint32(len(body)))
	out, err := peephole(append(sec, body...), &moduleInfo{}, true)
	if err != nil {
		t.Fatalf("peephole(% x): %v", expr, err)
	}
	r := &reader{buf: out}
	_, _ = r.u32()
	n, _ := r.u32()
	got, err := r.bytes(int(n))
	if err != nil || !r.eof() || got[0] != 0x00 {
		t.Fatalf("peephole wrote a malformed section % x", out)
	}
	return got[1:]
}

// Integer compares by opcode: name and opposite, from the specification's
// opcode table.
var intCompares = []struct {
	op, opposite byte
	name         string
}{
	{0x46, 0x47, "i32.eq"}, {0x47, 0x46, "i32.ne"},
	{0x48, 0x4e, "i32.lt_s"}, {0x49, 0x4f, "i32.lt_u"},
	{0x4a, 0x4c, "i32.gt_s"}, {0x4b, 0x4d, "i32.gt_u"},
	{0x4c, 0x4a, "i32.le_s"}, {0x4d, 0x4b, "i32.le_u"},
	{0x4e, 0x48, "i32.ge_s"}, {0x4f, 0x49, "i32.ge_u"},
	{0x51, 0x52, "i64.eq"}, {0x52, 0x51, "i64.ne"},
	{0x53, 0x59, "i64.lt_s"}, {0x54, 0x5a, "i64.lt_u"},
	{0x55, 0x57, "i64.gt_s"}, {0x56, 0x58, "i64.gt_u"},
	{0x57, 0x55, "i64.le_s"}, {0x58, 0x56, "i64.le_u"},
	{0x59, 0x53, "i64.ge_s"}, {0x5a, 0x54, "i64.ge_u"},
}

func TestPeepholeRewrites(t *testing.T) {
	wrap := []byte{0xa7}
	add, sub := []byte{0x7c}, []byte{0x7d}
	cases := []struct {
		name     string
		in, want []byte
	}{
		{"wrap 0", code(i64c(0), wrap, opEnd), code(i32c(0), opEnd)},
		{"wrap -1", code(i64c(-1), wrap, opEnd), code(i32c(-1), opEnd)},
		{"wrap 2^31 wraps to MinInt32", code(i64c(1<<31), wrap, opEnd), code(i32c(math.MinInt32), opEnd)},
		{"wrap 2^32+5", code(i64c(1<<32+5), wrap, opEnd), code(i32c(5), opEnd)},
		{"wrap MinInt64", code(i64c(math.MinInt64), wrap, opEnd), code(i32c(0), opEnd)},
		{"wrap MaxInt64", code(i64c(math.MaxInt64), wrap, opEnd), code(i32c(-1), opEnd)},
		{"wrap rotate amount", code(lget(0), i64c(7), wrap, []byte{0x77}, opEnd), code(lget(0), i32c(7), []byte{0x77}, opEnd)},
		{"add -1", code(lget(0), i64c(-1), add, opEnd), code(lget(0), i64c(1), sub, opEnd)},
		{"add -64", code(lget(0), i64c(-64), add, opEnd), code(lget(0), i64c(64), sub, opEnd)},
		{"add MinInt64+1", code(lget(0), i64c(math.MinInt64+1), add, opEnd), code(lget(0), i64c(math.MaxInt64), sub, opEnd)},
		{"add MinInt64 kept", code(lget(0), i64c(math.MinInt64), add, opEnd), code(lget(0), i64c(math.MinInt64), add, opEnd)},
		{"add 0 kept", code(lget(0), i64c(0), add, opEnd), code(lget(0), i64c(0), add, opEnd)},
		{"add 5 kept", code(lget(0), i64c(5), add, opEnd), code(lget(0), i64c(5), add, opEnd)},
		{"sub -5 kept", code(lget(0), i64c(-5), sub, opEnd), code(lget(0), i64c(-5), sub, opEnd)},
		{"not across nop", code(i64c(3), opNop, wrap, opEnd), code(i64c(3), opNop, wrap, opEnd)},
		{"not across end", code(opBlock, i64c(3), opEnd, wrap, opEnd), code(opBlock, i64c(3), opEnd, wrap, opEnd)},
		{"i32.const then wrap kept", code(i32c(3), wrap, opEnd), code(i32c(3), wrap, opEnd)},
		{"compare eqz eqz", code(lget(0), lget(1), []byte{0x48}, opI32Eqz, opI32Eqz, opEnd), code(lget(0), lget(1), []byte{0x48}, opEnd)},
		{"eqz eqz kept", code(lget(0), opI32Eqz, opI32Eqz, opEnd), code(lget(0), opI32Eqz, opI32Eqz, opEnd)},
		{"i64.eqz eqz kept", code(lget(0), []byte{0x50}, opI32Eqz, opEnd), code(lget(0), []byte{0x50}, opI32Eqz, opEnd)},
		{"compare eqz if", code(lget(0), lget(1), []byte{0x53}, opI32Eqz, opIf, opEnd, opEnd), code(lget(0), lget(1), []byte{0x59}, opIf, opEnd, opEnd)},
		// An immediate holding the bytes of a pattern is not an instruction.
		{"immediate bytes", code(i32c(0x27|1<<7), opDrop, opEnd), code(i32c(0x27|1<<7), opDrop, opEnd)},
		{"const, wrap then const add", code(lget(0), i64c(-9), wrap, opDrop, i64c(-9), add, opEnd), code(lget(0), i32c(-9), opDrop, i64c(9), sub, opEnd)},
	}
	for _, c := range intCompares {
		cmp := []byte{c.op}
		cases = append(cases, struct {
			name     string
			in, want []byte
		}{c.name + " eqz", code(lget(0), lget(1), cmp, opI32Eqz, opEnd), code(lget(0), lget(1), []byte{c.opposite}, opEnd)})
	}
	for op := byte(0x5b); op <= 0x66; op++ { // f32 and f64 compares
		in := code(lget(0), lget(1), []byte{op}, opI32Eqz, opEnd)
		cases = append(cases, struct {
			name     string
			in, want []byte
		}{fmt.Sprintf("float compare 0x%02x kept", op), in, in})
	}
	for _, c := range cases {
		if got := peepExpr(t, c.in); !bytes.Equal(got, c.want) {
			t.Errorf("%s: % x became % x, want % x", c.name, c.in, got, c.want)
		}
	}
}

// peepModule has one exported function per rewrite, so that a test can run
// each with and without the pass:
//
//	cmp_<name>(a, b) = eqz(a <name> b) for every integer compare
//	fcmp_<op>(a, b) = eqz(a <op> b) for every f64 compare
//	wrap_<i>() = i32.wrap_i64(i64.const wrapK[i])
//	add_<i>(x) = x + addK[i] (i64)
func peepModule(wrapK, addK []int64) (testModule, []string) {
	var m testModule
	m.types = [][2][]byte{
		{{tI32, tI32}, {tI32}},
		{{tI64, tI64}, {tI32}},
		{{0x7c, 0x7c}, {tI32}},
		{nil, {tI32}},
		{{tI64}, {tI64}},
	}
	var names []string
	fn := func(name string, typ uint32, body []byte) {
		m.exports = append(m.exports, testExport{name: name, kind: 0, index: uint32(len(m.funcs))})
		m.funcs = append(m.funcs, testFunc{typ: typ, code: body})
		names = append(names, name)
	}
	for _, c := range intCompares {
		typ := uint32(0)
		if c.op >= 0x51 {
			typ = 1
		}
		fn("cmp_"+c.name, typ, code(lget(0), lget(1), []byte{c.op}, opI32Eqz, opEnd))
	}
	for op := byte(0x61); op <= 0x66; op++ {
		fn(fmt.Sprintf("fcmp_%02x", op), 2, code(lget(0), lget(1), []byte{op}, opI32Eqz, opEnd))
	}
	for i, k := range wrapK {
		fn(fmt.Sprintf("wrap_%d", i), 3, code(i64c(k), []byte{0xa7}, opEnd))
	}
	for i, k := range addK {
		fn(fmt.Sprintf("add_%d", i), 4, code(lget(0), i64c(k), []byte{0x7c}, opEnd))
	}
	return m, names
}

// The rewritten functions compute what the originals do, at the same
// count, on both engines, for edge operands.
func TestPeepholeKeepsResultsAndCounts(t *testing.T) {
	edges := []int64{0, 1, -1, 2, math.MaxInt32, math.MinInt32, 1 << 32, math.MaxInt64, math.MinInt64, math.MinInt64 + 1, 1<<31 + 7}
	checkPeepholeModule(t, edges, edges)
}

// FuzzPeephole: for any constants and operands, the pass changes neither
// results nor counts.
//
//	go test -run '^$' -fuzz FuzzPeephole -fuzztime 30s ./exec/meter
func FuzzPeephole(f *testing.F) {
	f.Add(int64(-64), int64(math.MinInt64), int64(5))
	f.Add(int64(math.MaxInt64), int64(-1), int64(0))
	f.Fuzz(func(t *testing.T, a, b, c int64) {
		checkPeepholeModule(t, []int64{a, b, c}, []int64{a, b, c})
	})
}

func checkPeepholeModule(t *testing.T, wrapK, addK []int64) {
	t.Helper()
	tm, names := peepModule(wrapK, addK)
	wasm := tm.bytes()
	with, err := Instrument(wasm, Options{peepholeCompares: true})
	if err != nil {
		t.Fatal(err)
	}
	without, err := Instrument(wasm, Options{noPeephole: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(with) >= len(without) {
		t.Fatalf("the pass did not shorten the module: %d bytes, %d without", len(with), len(without))
	}
	ints := []uint64{0, 1, 2, 0x7fffffff, 0x80000000, 0xffffffff, 1 << 32, 1<<63 - 1, 1 << 63, math.MaxUint64}
	floats := []float64{0, math.Copysign(0, -1), 1, -1, math.Inf(1), math.Inf(-1), math.NaN()}
	ctx := context.Background()
	for _, e := range engines() {
		rt := wazero.NewRuntimeWithConfig(ctx, e.cfg())
		modWith, err := rt.InstantiateWithConfig(ctx, with, wazero.NewModuleConfig().WithName("with"))
		if err != nil {
			t.Fatal(err)
		}
		modWithout, err := rt.InstantiateWithConfig(ctx, without, wazero.NewModuleConfig().WithName("without"))
		if err != nil {
			t.Fatal(err)
		}
		run := func(mod api.Module, name string, args ...uint64) (uint64, uint64) {
			res, used, err := callCount(t, mod, name, 1<<40, args...)
			if err != nil || len(res) != 1 {
				t.Fatalf("%s %s%v: %v %v", e.name, name, args, res, err)
			}
			return res[0], used
		}
		same := func(name string, args ...uint64) {
			r1, u1 := run(modWith, name, args...)
			r2, u2 := run(modWithout, name, args...)
			if r1 != r2 || u1 != u2 {
				t.Errorf("%s %s%v: %d in %d instructions with the pass, %d in %d without", e.name, name, args, r1, u1, r2, u2)
			}
		}
		for _, name := range names {
			switch name[:3] {
			case "cmp":
				for _, a := range ints {
					for _, b := range ints {
						same(name, a, b)
					}
				}
			case "fcm":
				for _, a := range floats {
					for _, b := range floats {
						same(name, math.Float64bits(a), math.Float64bits(b))
					}
				}
			case "wra":
				same(name)
			case "add":
				for _, a := range ints {
					same(name, a)
				}
			}
		}
		rt.Close(ctx)
	}
}

// Go programs print the same and count the same with and without the
// pass, on the compiler and the interpreter, and the pass rewrote them.
func TestPeepholeGoProgramsUnchanged(t *testing.T) {
	if testing.Short() {
		t.Skip("builds Go programs for wasip1")
	}
	for _, c := range goCases()[:4] { // collatz, sieve, sha, JSON
		t.Run(c.prog, func(t *testing.T) {
			orig := goProgram(t, c.prog)
			shipped, err := Instrument(orig, Options{})
			if err != nil {
				t.Fatal(err)
			}
			with, err := Instrument(orig, Options{peepholeCompares: true})
			if err != nil {
				t.Fatal(err)
			}
			without, err := Instrument(orig, Options{noPeephole: true})
			if err != nil {
				t.Fatal(err)
			}
			if len(with) >= len(shipped) || len(shipped) >= len(without) {
				t.Fatalf("the pass did not shorten the module: %d bytes with compares, %d without, %d with no pass", len(with), len(shipped), len(without))
			}
			const budget = 1 << 40
			for _, e := range engines() {
				b := runWASI(t, e.cfg(), without, c.stdin, budget, c.args...)
				for name, m := range map[string][]byte{"with the pass": shipped, "with compares too": with} {
					if a := runWASI(t, e.cfg(), m, c.stdin, budget, c.args...); a != b || a.trapped != nil || a.used == 0 {
						t.Errorf("%s: %s %+v, without %+v", e.name, name, a, b)
					}
				}
			}
			t.Logf("%s: %d bytes instrumented, %d without the pass", c.prog, len(with), len(without))
		})
	}
}

// The hand-counted modules keep their hand counts without the pass too
// (TestHandCountedModules runs them with it), and the hostile shapes,
// which hold none of the patterns, come out byte for byte the same.
func TestPeepholeHandAndHostile(t *testing.T) {
	for _, c := range handCases() {
		t.Run(c.name, func(t *testing.T) {
			testHandCounted(t, c, engines()[0], Options{noPeephole: true})
		})
	}
	for name, wasm := range map[string][]byte{
		"nested loops": nestedLoopsModule(64 << 10),
		"dispatch":     dispatchBombModule(64 << 10),
	} {
		with, err := Instrument(wasm, Options{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		without, err := Instrument(wasm, Options{noPeephole: true})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !bytes.Equal(with, without) {
			t.Errorf("%s: the pass changed a module with none of its patterns", name)
		}
	}
}
