package exec_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	outexec "github.com/outlayer/outlayer/exec"
)

// TestHostileModulesAgainstTheMeter: modules that tried to forge the
// instruction count or to exhaust the host through declared sizes are
// refused as invalid wasm, and the same long-lived Runner keeps serving
// honest requests with exact counts in between.
func TestHostileModulesAgainstTheMeter(t *testing.T) {
	r := newRunner(t, outexec.Config{})
	i64max := []byte{0x42, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00}
	cases := map[string]struct {
		spec moduleSpec
		want string
	}{
		// _start has no locals: local 0 would be the meter's counter. The
		// forge set it to INT64_MAX on each of 10^8 iterations and was
		// billed 1 instruction.
		"counter forge": {moduleSpec{code: cat([]byte{0x03, blockEmpty}, i64max, []byte{0x21, 0x00, 0x0c, 0x00, opEnd})},
			"local index 0 is out of range"},
		// No globals: global 0 would be the meter's budget.
		"budget forge": {moduleSpec{code: cat(i64max, []byte{0x24, 0x00})}, "global index 0 is out of range"},
		// 2×(2^31−1) locals: wazero allocated 4 GiB for them and the
		// node died of Go's fatal out of memory.
		"locals bomb": {moduleSpec{locals: cat(uleb(2), uleb(1<<31-1), []byte{0x7e}, uleb(1<<31-1), []byte{0x7e})},
			"above the cap of 50000"},
		// One table.grow of 2^32−2 elements ended the node.
		"table.grow bomb": {moduleSpec{table: []byte{0x70, 0x00, 0x00},
			code: []byte{0xd0, 0x70, opI32Const, 0x7e, 0xfc, 0x0f, 0x00, opDrop}}, "declares no maximum size"},
		"table above the cap": {moduleSpec{table: cat([]byte{0x70, 0x01, 0x00}, uleb(10_000_001))}, "above the cap of 10000000"},
	}
	for name, c := range cases {
		_, err := run(t, r, outexec.Request{Wasm: c.spec.wasm()})
		e := wantKind(t, err, outexec.ErrInvalidWasm)
		if !strings.HasPrefix(e.Error(), "invalid wasm: ") || !strings.Contains(e.Error(), c.want) {
			t.Errorf("%s: %v; want an invalid wasm error saying %q", name, err, c.want)
		}
		t.Logf("%s: %v", name, err)
		res, err := run(t, r, outexec.Request{Wasm: helloModule()})
		if err != nil || string(res.Output) != "hello" || res.Instructions != 6 {
			t.Fatalf("after %s the runner answers %q, %d instructions, %v", name, res.Output, res.Instructions, err)
		}
	}

	// A bounded table's elements count against the memory limit: 10^7
	// elements (80 MB) do not fit in 64 MiB with the module's memory.
	big := moduleSpec{table: cat([]byte{0x70, 0x01, 0x00}, uleb(10_000_000))}.wasm()
	_, err := run(t, r, outexec.Request{Wasm: big, Limits: outexec.Limits{MaxMemoryMB: 64}})
	wantKind(t, err, outexec.ErrMemoryLimit)
	t.Log(err)
	if _, err := run(t, r, outexec.Request{Wasm: big, Limits: outexec.Limits{MaxMemoryMB: 128}}); err != nil {
		t.Fatalf("the same table within a 128 MiB limit: %v", err)
	}
}

// TestBulkAndDeadlineBombs: work that the meter once did not see — bulk
// memory operations (20 × (fill 1 GiB + copy 512 MiB) cost 304
// instructions) and a recursion with no loop — is charged or stopped, and
// loops nested past the cap, a compile bomb, are refused.
func TestBulkAndDeadlineBombs(t *testing.T) {
	r := newRunner(t, outexec.Config{})
	const pages = 1024 // 64 MiB
	fill := moduleSpec{memPages: pages, code: cat([]byte{opI32Const}, i32(0), []byte{opI32Const}, i32(0),
		[]byte{opI32Const}, i32(pages*65536), []byte{0xfc, 0x0b, 0x00})}.wasm()
	// 3 constants and the fill, plus one per 8 bytes filled.
	want := uint64(4 + pages*65536/8)
	res, err := run(t, r, outexec.Request{Wasm: fill, Limits: outexec.Limits{MaxMemoryMB: 128}})
	if err != nil || res.Instructions != want {
		t.Fatalf("filling 64 MiB: %d instructions, %v; want %d", res.Instructions, err, want)
	}
	res, err = run(t, r, outexec.Request{Wasm: fill, Limits: outexec.Limits{MaxMemoryMB: 128, MaxInstructions: want - 1}})
	wantKind(t, err, outexec.ErrInstructionLimit)

	// _start recurses twice while mem[0] < 40: 2^40 calls, no loop, so
	// only the check at function entries can stop it at the deadline.
	load := []byte{opI32Const, 0x00, 0x28, 0x02, 0x00}
	step := func(op byte) []byte {
		return cat([]byte{opI32Const, 0x00}, load, []byte{opI32Const, 0x01, op, 0x36, 0x02, 0x00})
	}
	fork := moduleSpec{code: cat(load, []byte{opI32Const, 40, 0x49, opIf, blockEmpty},
		step(0x6a), []byte{opCall, 2, opCall, 2}, step(0x6b), []byte{opEnd})}.wasm()
	start := time.Now()
	_, err = run(t, r, outexec.Request{Wasm: fork,
		Limits: outexec.Limits{MaxInstructions: outexec.MaxInstructionsCap, Timeout: 300 * time.Millisecond}})
	wantTimeLimit(t, err) // either way, the run stopped
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("stopping took %v", d)
	}

	nested := moduleSpec{code: cat(bytes.Repeat([]byte{0x03, blockEmpty}, 101), bytes.Repeat([]byte{opEnd}, 101))}.wasm()
	_, err = run(t, r, outexec.Request{Wasm: nested})
	if e := wantKind(t, err, outexec.ErrInvalidWasm); !strings.Contains(e.Error(), "loops nest more than 100 deep") {
		t.Errorf("nested loops: %v", err)
	}
	if res, err := run(t, r, outexec.Request{Wasm: helloModule()}); err != nil || res.Instructions != 6 {
		t.Fatalf("the runner no longer answers: %d, %v", res.Instructions, err)
	}
}
