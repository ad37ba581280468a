package meter

import (
	"context"
	"errors"
	"testing"

	"github.com/tetratelabs/wazero"
)

// FuzzInstrument feeds arbitrary bytes to Instrument. It must never panic,
// and whatever it accepts from a module wazero accepts must still be
// accepted by wazero. (wazero only sees inputs Instrument accepted: some
// malformed modules with huge declared counts make wazero allocate without
// bound, which is not what this fuzzes.)
//
//	go test -run '^$' -fuzz FuzzInstrument -fuzztime 60s ./exec/meter
func FuzzInstrument(f *testing.F) {
	for _, c := range handCases() {
		f.Add(c.mod.bytes())
	}
	start := uint32(0)
	f.Add(testModule{
		types:   [][2][]byte{{nil, nil}},
		globals: [][]byte{code([]byte{tI32, 0x01}, i32c(0), opEnd)},
		funcs:   []testFunc{{typ: 0, code: code(gget(0), i32c(1), opI32Add, gset(0), opEnd)}},
		start:   &start,
		memory:  true,
		custom:  []byte("x"),
	}.bytes())
	f.Add([]byte{0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00})
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	f.Cleanup(func() { rt.Close(ctx) })
	f.Fuzz(func(t *testing.T, wasm []byte) {
		out, err := Instrument(wasm, Options{})
		if err != nil {
			var se *SectionError
			if !errors.As(err, &se) && !errors.Is(err, ErrUnsupported) {
				t.Fatalf("error is not a *SectionError: %v", err)
			}
			return
		}
		orig, err := rt.CompileModule(ctx, wasm)
		if err != nil {
			return
		}
		orig.Close(ctx)
		m, err := rt.CompileModule(ctx, out)
		if err != nil {
			t.Fatalf("wazero accepts the module but not its instrumented form: %v", err)
		}
		m.Close(ctx)
	})
}
