package vm

import (
	"bytes"
	"context"
	"testing"
)

func i32c(v int32) []byte { return append([]byte{0x41}, sleb(int64(v))...) }

// Pooled memories are reused between calls, so every call must still see the
// zeroed memory wasm promises: both the initial page and pages it grows into.
func TestRecycledMemoryStartsZeroed(t *testing.T) {
	e := newEngine(t)
	fns := []*hostFunction{hostFn(t, "value_return")}
	const far = 4*65536 - 4 // last word of the grown memory
	var code []byte
	code = append(code, i32c(3)...)
	code = append(code, 0x40, 0x00, 0x1a) // memory.grow 3; drop
	// mem[104..108] = mem[far..far+4]
	code = append(code, i32c(104)...)
	code = append(code, i32c(far)...)
	code = append(code, 0x28, 0x02, 0x00, 0x36, 0x02, 0x00)
	// value_return(mem[100..108]): what this call found
	code = append(append(append(code, i64c(8)...), i64c(100)...), call(0)...)
	// then dirty both places for the next call
	for _, addr := range []int32{100, far} {
		code = append(code, i32c(addr)...)
		code = append(code, i32c(0x5a5a5a5a)...)
		code = append(code, 0x36, 0x02, 0x00)
	}
	mod := module(fns, "probe", code, nil)
	for i := range 3 {
		out := e.Run(context.Background(), mod, "probe", callCtx("", false), newMapHost())
		if out.Err != nil {
			t.Fatalf("call %d: %v", i, out.Err)
		}
		if !bytes.Equal(out.ReturnData, make([]byte, 8)) {
			t.Fatalf("call %d found %x in fresh memory, want zeros", i, out.ReturnData)
		}
	}
	e.memory.mu.Lock()
	defer e.memory.mu.Unlock()
	if len(e.memory.free) == 0 || cap(e.memory.free[0]) < 4*65536 {
		t.Fatalf("the pool kept %d buffers; want the 4-page memory back", len(e.memory.free))
	}
}
