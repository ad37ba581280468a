package meter

import (
	"bytes"
	"context"
	"errors"
	"math"
	"runtime"
	"testing"

	"github.com/tetratelabs/wazero"
)

// TestOutOfRangeIndicesAreRefused: an index past the submitted module's
// own index spaces would, after instrumentation, name the counter local or
// the budget global the meter adds (the forge: local.set of the counter to
// INT64_MAX ran 10^8 iterations under a budget of 1,000). Every index kind
// is checked before anything is rewritten.
func TestOutOfRangeIndicesAreRefused(t *testing.T) {
	void := [2][]byte{nil, nil}
	fn := func(body ...[]byte) []testFunc { return []testFunc{{typ: 0, code: code(append(body, opEnd)...)}} }
	one := uint32(1)
	cases := map[string]testModule{
		// Function 0 has no params and no locals: local 0 is the counter.
		"local.set of the counter": {types: [][2][]byte{void}, funcs: fn(i64c(math.MaxInt64), lset(0))},
		"local.tee of the counter": {types: [][2][]byte{void}, funcs: fn(i64c(math.MaxInt64), ltee(0), opDrop)},
		"local.get of the counter": {types: [][2][]byte{void}, funcs: fn(lget(0), opDrop)},
		// No globals: global 0 is the budget.
		"global.set of the budget": {types: [][2][]byte{void}, funcs: fn(i64c(math.MaxInt64), gset(0))},
		"global.get of the budget": {types: [][2][]byte{void}, funcs: fn(gget(0), opDrop)},
		"export of the budget":     {exports: []testExport{{"b", 3, 0}}},
		"global init reads the budget": {
			globals: [][]byte{code([]byte{tI64, 0x00}, gget(0), opEnd)}},
		"element offset reads the budget": {
			tables:  [][]byte{{0x70, 0x01, 0x01, 0x01}},
			globals: [][]byte{code([]byte{tI32, 0x00}, i32c(0), opEnd)},
			elems:   [][]byte{code([]byte{0x00}, gget(1), opEnd, []byte{0x00})}},
		"data offset reads the budget": {memory: true,
			data: [][]byte{code([]byte{0x00}, gget(0), opEnd, []byte{0x00})}},
		"call past the functions":   {types: [][2][]byte{void}, funcs: fn(call(1))},
		"call_indirect bad type":    {types: [][2][]byte{void}, tables: [][]byte{{0x70, 0x01, 0x01, 0x01}}, funcs: fn(i32c(0), []byte{0x11, 0x05, 0x00})},
		"call_indirect no table":    {types: [][2][]byte{void}, funcs: fn(i32c(0), []byte{0x11, 0x00, 0x00})},
		"block type past the types": {types: [][2][]byte{void}, funcs: fn([]byte{0x02, 0x07}, opEnd)},
		"load without a memory":     {types: [][2][]byte{void}, funcs: fn(i32c(0), []byte{0x28, 0x02, 0x00}, opDrop)},
		"memory.grow without one":   {types: [][2][]byte{void}, funcs: fn(i32c(0), []byte{0x40, 0x00}, opDrop)},
		"ref.func past functions":   {types: [][2][]byte{void}, funcs: fn([]byte{0xd2, 0x03}, opDrop)},
		"table.get without a table": {types: [][2][]byte{void}, funcs: fn(i32c(0), []byte{0x25, 0x00}, opDrop)},
		"memory.init without data count": {types: [][2][]byte{void}, memory: true,
			funcs: fn(i32c(0), i32c(0), i32c(0), []byte{0xfc, 0x08, 0x00, 0x00})},
		"data.drop past the segments": {types: [][2][]byte{void}, memory: true, dataCount: &one,
			data: [][]byte{{0x01, 0x00}}, funcs: fn([]byte{0xfc, 0x09, 0x01})},
		"elem.drop without segments": {types: [][2][]byte{void}, funcs: fn([]byte{0xfc, 0x0d, 0x00})},
		"export past the functions":  {exports: []testExport{{"f", 0, 0}}},
		"start past the functions":   {start: &one},
		"branch out of the function": {types: [][2][]byte{void}, funcs: fn(br(1))},
	}
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	defer rt.Close(ctx)
	for name, m := range cases {
		wasm := m.bytes()
		_, err := Instrument(wasm, Options{})
		var se *SectionError
		if !errors.As(err, &se) {
			t.Errorf("%s: want a *SectionError, got %v", name, err)
			continue
		}
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: want ErrInvalid, got %v", name, err)
		}
		// Each is invalid WebAssembly: the engine refuses it as well.
		if c, err := rt.CompileModule(ctx, wasm); err == nil {
			c.Close(ctx)
			t.Errorf("%s: wazero accepts the module: the test case is not invalid", name)
		}
		t.Logf("%s: %v", name, err)
	}
}

// TestLocalsBombIsRefusedBeforeAllocating: 62 bytes declaring 2×(2^31−1)
// locals made wazero allocate 4 GiB and end the process.
func TestLocalsBombIsRefusedBeforeAllocating(t *testing.T) {
	bomb := testModule{
		types: [][2][]byte{{nil, nil}},
		funcs: []testFunc{{typ: 0, groups: 2,
			locals: code(appendU32(nil, math.MaxInt32), []byte{tI64}, appendU32(nil, math.MaxInt32), []byte{tI64}),
			code:   opEnd}},
		exports: []testExport{{"_start", 0, 0}},
	}.bytes()
	if len(bomb) > 64 {
		t.Fatalf("bomb is %d bytes", len(bomb))
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := Instrument(bomb, Options{})
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrLimit) {
		t.Fatalf("locals bomb: want ErrLimit, got %v", err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Errorf("refusing the bomb allocated %d bytes", grew)
	}
	t.Log(err)

	// At the cap exactly: accepted, and the engine compiles the output.
	atCap := testModule{
		types: [][2][]byte{{[]byte{tI32}, nil}},
		funcs: []testFunc{{typ: 0, groups: 1, locals: code(appendU32(nil, MaxLocals-1), []byte{tI64}), code: opEnd}},
	}.bytes()
	out, err := Instrument(atCap, Options{})
	if err != nil {
		t.Fatalf("%d locals: %v", MaxLocals, err)
	}
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	if _, err := rt.CompileModule(ctx, out); err != nil {
		t.Fatal(err)
	}
	over := testModule{
		types: [][2][]byte{{[]byte{tI32}, nil}},
		funcs: []testFunc{{typ: 0, groups: 1, locals: code(appendU32(nil, MaxLocals), []byte{tI64}), code: opEnd}},
	}.bytes()
	if _, err := Instrument(over, Options{}); !errors.Is(err, ErrLimit) {
		t.Errorf("%d locals: want ErrLimit, got %v", MaxLocals+1, err)
	}
}

// TestTablesAreBounded: one table.grow of 2^32−2 elements (charged as one
// instruction, outside the memory limit) ended the node. A table must be
// bounded; one that declares no maximum is fixed at its minimum and may
// not be grown.
func TestTablesAreBounded(t *testing.T) {
	void := [2][]byte{nil, nil}
	grow := []testFunc{{typ: 0, code: code([]byte{0xd0, 0x70}, i32c(-2), []byte{0xfc, 0x0f, 0x00}, opDrop, opEnd)}}
	limits := func(b ...byte) []byte { return append([]byte{0x70}, b...) }
	big := code([]byte{0x01}, appendU32(nil, 0), appendU32(nil, MaxTableElements+1))
	cases := map[string]testModule{
		"grow an unbounded table": {types: [][2][]byte{void}, tables: [][]byte{limits(0x00, 0x01)}, funcs: grow},
		"maximum above the cap":   {tables: [][]byte{limits(big...)}},
		"sum above the cap": {tables: [][]byte{
			limits(code([]byte{0x01, 0x00}, appendU32(nil, MaxTableElements/2+1))...),
			limits(code([]byte{0x01, 0x00}, appendU32(nil, MaxTableElements/2+1))...)}},
		"imported without a maximum": {imports: []testImport{{"env", "t", 0x01, limits(0x00, 0x00)}}},
	}
	for name, m := range cases {
		if _, err := Instrument(m.bytes(), Options{}); !errors.Is(err, ErrLimit) {
			t.Errorf("%s: want ErrLimit, got %v", name, err)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}

	// Unbounded but never grown (Go's output): fixed at its minimum.
	fixed := testModule{types: [][2][]byte{void}, tables: [][]byte{limits(0x00, 0x05)},
		funcs: []testFunc{{typ: 0, code: code([]byte{0xfc, 0x10, 0x00}, opDrop, opEnd)}}}
	m, err := InstrumentModule(fixed.bytes(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if m.TableElements != 5 {
		t.Errorf("TableElements = %d, want 5", m.TableElements)
	}
	if !bytes.Contains(m.Wasm, []byte{0x04, 0x05, 0x01, 0x70, 0x01, 0x05, 0x05}) {
		t.Errorf("table section not rewritten to min 5 max 5: % x", m.Wasm)
	}
	// Bounded and grown: accepted, its maximum counted.
	bounded := testModule{types: [][2][]byte{void}, tables: [][]byte{limits(0x01, 0x00, 0xe8, 0x07)}, funcs: grow}
	if m, err = InstrumentModule(bounded.bytes(), Options{}); err != nil || m.TableElements != 1000 {
		t.Fatalf("bounded table: %v, TableElements %v", err, m)
	}
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	if _, err := rt.CompileModule(ctx, m.Wasm); err != nil {
		t.Fatal(err)
	}
}

func TestShapeCaps(t *testing.T) {
	void := [2][]byte{nil, nil}
	nested := func(depth int) []byte {
		body := bytes.Repeat(opBlock, depth)
		return append(body, bytes.Repeat(opEnd, depth+1)...)
	}
	manyParams := [2][]byte{bytes.Repeat([]byte{tI32}, MaxParams+1), nil}
	dataCount := uint32(MaxDataSegments + 1)
	huge := append(append([]byte{}, wasmMagic...), wasmVersion...)
	huge = append(huge, sect(secCustom, append(str("pad"), make([]byte, MaxModuleBytes)...))...)
	funcSec := append(append(append([]byte{}, wasmMagic...), wasmVersion...), sect(secType, vec(code([]byte{0x60, 0x00, 0x00})))...)
	funcSec = append(funcSec, sect(secFunction, append(appendU32(nil, MaxFunctions+1), make([]byte, MaxFunctions+1)...))...)
	cases := map[string][]byte{
		"nesting":    testModule{types: [][2][]byte{void}, funcs: []testFunc{{typ: 0, code: nested(MaxNesting + 1)}}}.bytes(),
		"body size":  testModule{types: [][2][]byte{void}, funcs: []testFunc{{typ: 0, code: append(bytes.Repeat(opNop, MaxBodyBytes), opEnd...)}}}.bytes(),
		"parameters": testModule{types: [][2][]byte{manyParams}}.bytes(),
		"loop nesting": testModule{types: [][2][]byte{void}, funcs: []testFunc{{typ: 0,
			code: append(bytes.Repeat(opLoop, MaxLoopNesting+1), bytes.Repeat(opEnd, MaxLoopNesting+2)...)}}}.bytes(),
		"data segments": testModule{memory: true, dataCount: &dataCount}.bytes(),
		"module size":   huge,
		"functions":     funcSec,
	}
	for name, wasm := range cases {
		if _, err := Instrument(wasm, Options{}); !errors.Is(err, ErrLimit) {
			t.Errorf("%s: want ErrLimit, got %v", name, err)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
	// At the nesting cap: accepted and compiled.
	out, err := Instrument(testModule{types: [][2][]byte{void}, funcs: []testFunc{{typ: 0, code: nested(MaxNesting)}}}.bytes(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	if _, err := rt.CompileModule(ctx, out); err != nil {
		t.Fatal(err)
	}
}
