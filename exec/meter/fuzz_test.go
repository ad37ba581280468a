package meter

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
)

// FuzzInstrument feeds arbitrary bytes to Instrument. It must never panic;
// whatever it accepts from a module wazero accepts must still be accepted
// by wazero, and what it accepts from a module wazero refuses must still
// be refused (instrumentation never makes an invalid module valid). (wazero only sees inputs Instrument accepted: some
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
		orig, origErr := rt.CompileModule(ctx, wasm)
		m, err := rt.CompileModule(ctx, out)
		switch {
		case origErr == nil && err != nil:
			t.Fatalf("wazero accepts the module but not its instrumented form: %v", err)
		case origErr != nil && err == nil && !strings.Contains(origErr.Error(), "custom section"):
			// The forge: an invalid module made valid by what the meter
			// adds (an index that reaches the counter or the budget).
			// Custom sections are not code and are exempt: the meter
			// drops DWARF, and wazero refuses an empty custom section
			// only when it ends the module.
			t.Fatalf("wazero refuses the module (%v) but accepts its instrumented form", origErr)
		}
		if orig != nil {
			orig.Close(ctx)
		}
		if m != nil {
			m.Close(ctx)
		}
	})
}
