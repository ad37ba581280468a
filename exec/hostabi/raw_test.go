package hostabi_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	outexec "github.com/outlayer/outlayer/exec"
)

// rawModule assembles a command module that imports one outlayer_v1
// function of type params -> i64 (or () -> () when params is nil and
// noResult) and whose _start runs body.
func rawModule(name string, params []byte, noResult bool, body []byte) []byte {
	vec := func(items ...[]byte) []byte {
		out := []byte{byte(len(items))}
		for _, it := range items {
			out = append(out, it...)
		}
		return out
	}
	str := func(s string) []byte { return append([]byte{byte(len(s))}, s...) }
	section := func(id byte, content []byte) []byte {
		return append([]byte{id, byte(len(content))}, content...)
	}
	imported := append([]byte{0x60}, vec(func() [][]byte {
		var ps [][]byte
		for _, p := range params {
			ps = append(ps, []byte{p})
		}
		return ps
	}()...)...)
	if noResult {
		imported = append(imported, 0)
	} else {
		imported = append(imported, 1, 0x7e)
	}
	start := []byte{0x60, 0, 0}
	m := []byte{0, 'a', 's', 'm', 1, 0, 0, 0}
	m = append(m, section(1, vec(imported, start))...)
	m = append(m, section(2, vec(append(append(str("outlayer_v1"), str(name)...), 0x00, 0)))...)
	m = append(m, section(3, vec([]byte{1}))...)
	m = append(m, section(5, vec([]byte{0, 1}))...)
	m = append(m, section(7, vec(append(str("_start"), 0, 1), append(str("memory"), 2, 0)))...)
	code := append([]byte{0}, body...) // no locals
	m = append(m, section(10, vec(append([]byte{byte(len(code))}, code...)))...)
	return m
}

func TestUnknownHostFunctionIsInvalidWasm(t *testing.T) {
	r := runners(t)["in-process"]
	wasm := rawModule("storage_frobnicate", nil, true, []byte{0x0b})
	_, err := r.Run(context.Background(), outexec.Request{Wasm: wasm})
	if !errors.Is(err, outexec.ErrInvalidWasm) || !strings.Contains(err.Error(), "outlayer_v1.storage_frobnicate") {
		t.Fatalf("got %v, want invalid wasm naming the import", err)
	}
}

func TestPointersOutsideMemoryTrapBeforeTheCall(t *testing.T) {
	i32 := byte(0x7f)
	// storage_get(scope 0, key at 0xfffffff0 (65520 past one page), len 100, out 0, cap 0)
	body := []byte{
		0x41, 0x00, // scope
		0x41, 0x70, // key ptr: -16 = 0xfffffff0
		0x41, 0xe4, 0x00, // key len 100
		0x41, 0x00, 0x41, 0x00, // out, cap
		0x10, 0x00, // call 0
		0x1a, // drop
		0x0b,
	}
	wasm := rawModule("storage_get", []byte{i32, i32, i32, i32, i32}, false, body)
	for name, r := range runners(t) {
		w := &fakeWorld{}
		_, err := r.Run(context.Background(), outexec.Request{Wasm: wasm, Host: w.handle})
		if !errors.Is(err, outexec.ErrTrap) || !strings.Contains(err.Error(), "outside the program's memory") {
			t.Fatalf("%s: got %v, want a trap about memory", name, err)
		}
		if len(w.calls) != 0 {
			t.Fatalf("%s: the call reached the handler", name)
		}
	}
	// An output buffer past the end traps too.
	body = []byte{
		0x41, 0x00, 0x41, 0x00, 0x41, 0x00, // scope, key 0, len 0
		0x41, 0x80, 0x80, 0x04, // out = 65536 (the end of memory)
		0x41, 0x08, // cap 8
		0x10, 0x00, 0x1a, 0x0b,
	}
	wasm = rawModule("storage_get", []byte{i32, i32, i32, i32, i32}, false, body)
	w := &fakeWorld{}
	_, err := runners(t)["in-process"].Run(context.Background(), outexec.Request{Wasm: wasm, Host: w.handle})
	if !errors.Is(err, outexec.ErrTrap) || !strings.Contains(err.Error(), "output buffer") || len(w.calls) != 0 {
		t.Fatalf("got %v after %d calls, want a trap about the output buffer before any call", err, len(w.calls))
	}
}
