package meter

import (
	"bytes"
	"testing"
)

// dispatchModule is a countdown in the shape of Go's wasm output: every
// jump stores a case number in $pc (param 0) and branches to one loop
// whose head dispatches with br_table. f($pc, $n):
//
//	loop                                      1, once
//	  block block block; local.get $pc;
//	  br_table A B C (default C)              5 per visit of the head
//	  end; A: $n -= 1                         4 (falls into B)
//	  end; B: local.get $n; if                2
//	          i32.const 0; local.set $pc; br loop   3 (n != 0: to A)
//	        end
//	        i32.const 2; local.set $pc; br loop     3 (n == 0: to C)
//	  end; C: local.get $n; return            2
//	end; i32.const 0                          (never runs)
//
// From case A with n = N >= 1: the entry (1), N passes through head, A, B
// (5+4+2 = 11 each), N-1 of them leaving by the then-arm (3) and the last
// by the jump to C (3), then head and C (5+2): 1 + 11N + 3N + 7 = 14N + 8. From case B with n = N:
// entry, head, B, then N passes through head, A, B, and head and C:
// 1 + 5 + 2 + 3 + 14N + 7 = 14N + 18 (no then-arm for N = 0: 18). From
// the default case: 1 + 5 + 2 = 8.
//
// With tee set, the then-arm jumps by `i32.const 0; local.tee $pc; drop`
// instead, which costs one more (4) and is not a plain jump, so the meter
// leaves the cases' charges where they are: from case A, 15N + 7.
func dispatchModule(tee bool) testModule {
	jumpToA := code(i32c(0), lset(0), br(2))
	if tee {
		jumpToA = code(i32c(0), ltee(0), opDrop, br(2))
	}
	return testModule{
		types: [][2][]byte{{{tI32, tI32}, {tI32}}},
		funcs: []testFunc{{typ: 0, code: code(
			opLoop, opBlock, opBlock, opBlock, lget(0), brTable(2, 0, 1, 2), opEnd,
			lget(1), i32c(1), opI32Sub, lset(1), opEnd,
			lget(1), opIf, jumpToA, opEnd,
			i32c(2), lset(0), br(1), opEnd,
			lget(1), opReturn,
			opEnd, i32c(0), opEnd)}},
		exports: []testExport{{name: "f", kind: 0, index: 0}},
	}
}

func dispatchCases() []handCase {
	d, tee := dispatchModule(false), dispatchModule(true)
	return []handCase{
		{name: "dispatch-A-1", mod: d, fn: "f", args: []uint64{0, 1}, want: 22, ret: []uint64{0}},
		{name: "dispatch-A-5", mod: d, fn: "f", args: []uint64{0, 5}, want: 78, ret: []uint64{0}},
		{name: "dispatch-B-0", mod: d, fn: "f", args: []uint64{1, 0}, want: 18, ret: []uint64{0}},
		{name: "dispatch-B-3", mod: d, fn: "f", args: []uint64{1, 3}, want: 60, ret: []uint64{0}},
		{name: "dispatch-default", mod: d, fn: "f", args: []uint64{9, 4}, want: 8, ret: []uint64{4}},
		{name: "dispatch-tee-A-1", mod: tee, fn: "f", args: []uint64{0, 1}, want: 22, ret: []uint64{0}},
		{name: "dispatch-tee-A-5", mod: tee, fn: "f", args: []uint64{0, 5}, want: 82, ret: []uint64{0}},
	}
}

// Go-shaped dispatch loops count exactly on both engines, whether or not
// the meter can move the cases' charges onto the jumps; budget = count
// runs, count - 1 traps in the meter.
func TestDispatchLoopsCountExactly(t *testing.T) {
	for _, c := range dispatchCases() {
		for _, e := range engines() {
			t.Run(c.name+"/"+e.name, func(t *testing.T) {
				mod, err := instantiate(t, e, c.mod.bytes(), Options{}, nil)
				if err != nil {
					t.Fatal(err)
				}
				res, used, err := callCount(t, mod, c.fn, c.want, c.args...)
				if err != nil || used != c.want || len(res) != 1 || uint32(res[0]) != uint32(c.ret[0]) {
					t.Fatalf("budget = count %d: used %d, returned %v, err %v; want %v", c.want, used, res, err, c.ret)
				}
				if _, used, err = callCount(t, mod, c.fn, 1<<40, c.args...); err != nil || used != c.want {
					t.Errorf("plenty of budget: used %d, err %v; want %d", used, err, c.want)
				}
				if _, _, err = callCount(t, mod, c.fn, c.want-1, c.args...); err == nil || !Exhausted(mod) {
					t.Errorf("budget = count-1: err %v, exhausted %v; want a meter trap", err, Exhausted(mod))
				}
			})
		}
	}
}

// The plain-jump module really is rewritten: the loop's entry charges the
// first case with a second `local.get $pc; br_table`, and the cases lose
// their own charges; the tee variant is left alone.
func TestDispatchChargesMoveOntoJumps(t *testing.T) {
	dispatchOf := func(tee bool) int {
		out, err := Instrument(dispatchModule(tee).bytes(), Options{})
		if err != nil {
			t.Fatal(err)
		}
		return bytes.Count(out, []byte{0x20, 0x00, 0x0e})
	}
	if n := dispatchOf(false); n != 2 {
		t.Errorf("plain jumps: %d br_tables on $pc, want 2 (the loop's and the entry charge's)", n)
	}
	if n := dispatchOf(true); n != 1 {
		t.Errorf("tee jump: %d br_tables on $pc, want 1 (no entry charge)", n)
	}
}
