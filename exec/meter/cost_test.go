package meter

import (
	"fmt"
	"testing"
)

// TestBulkOperationsPayForTheirSize: memory.fill/copy/init, table
// fill/copy/init and both grows are charged for the bytes, elements or
// pages they touch, before they run: budget = count succeeds and leaves
// the operation's effect, count − 1 is exhausted without it. Hand counts,
// both engines.
func TestBulkOperationsPayForTheirSize(t *testing.T) {
	costs := DefaultCosts()
	sizeOp := [2][]byte{{tI32}, {tI32}} // (size) -> probe
	two := uint32(2)
	// Each function does the operation with size = its argument, then
	// returns a probe of its effect.
	probeMem := code(i32c(0), []byte{0x2d, 0x00, 0x00}) // i32.load8_u offset 0
	type op struct {
		name   string
		body   []byte // the operation, its size from local 0
		static uint64 // instructions up to the operation, then of the probe
		unit   func(n uint64) uint64
		effect uint64 // the probe's value once the operation ran (n > 0)
	}
	bytes8 := func(n uint64) uint64 { return n >> costs.BulkByteShift }
	elems := func(n uint64) uint64 { return n * uint64(costs.TableElement) }
	pages := func(n uint64) uint64 { return n * uint64(costs.GrowPage) }
	ops := []op{
		{"memory.fill", code(i32c(0), i32c(0xab), lget(0), []byte{0xfc, 0x0b, 0x00}, probeMem), 4 + 2, bytes8, 0xab},
		// Copies the data segment's 0x5a from address 1000 to 0.
		{"memory.copy", code(i32c(0), i32c(1000), lget(0), []byte{0xfc, 0x0a, 0x00, 0x00}, probeMem), 4 + 2, bytes8, 0x5a},
		{"memory.init", code(i32c(0), i32c(0), lget(0), []byte{0xfc, 0x08, 0x00, 0x00}, probeMem), 4 + 2, bytes8, 0x5a},
		{"memory.grow", code(lget(0), []byte{0x40, 0x00}, opDrop, []byte{0x3f, 0x00}), 2 + 2, pages, 2},
		{"table.grow", code([]byte{0xd0, 0x70}, lget(0), []byte{0xfc, 0x0f, 0x00}, opDrop, []byte{0xfc, 0x10, 0x00}, i32c(64), opI32Sub), 3 + 4, elems, 0},
		{"table.fill", code(i32c(0), []byte{0xd2, 0x00}, lget(0), []byte{0xfc, 0x11, 0x00}, i32c(0), []byte{0x25, 0x00, 0xd1}), 4 + 3, elems, 0},
		{"table.copy", code(i32c(0), i32c(1), lget(0), []byte{0xfc, 0x0e, 0x00, 0x00}, i32c(0), []byte{0x25, 0x00, 0xd1}), 4 + 3, elems, 0},
		{"table.init", code(i32c(0), i32c(0), lget(0), []byte{0xfc, 0x0c, 0x01, 0x00}, i32c(0), []byte{0x25, 0x00, 0xd1}), 4 + 3, elems, 0},
	}
	for _, o := range ops {
		m := testModule{
			types: [][2][]byte{sizeOp},
			funcs: []testFunc{{typ: 0, code: code(o.body, opEnd)}},
			// Table of 64 (max 128): element 1 is function 0, element 0 null
			// until filled, copied or initialised from the passive segment.
			tables:    [][]byte{{0x70, 0x01, 0x01, 0x40}},
			elems:     [][]byte{code([]byte{0x00}, i32c(1), opEnd, []byte{0x01, 0x00}), {0x01, 0x00, 0x01, 0x00}},
			dataCount: &two,
			memory:    true,
			// Segment 0 passive, segment 1 at address 1000: 4096 × 0x5a.
			data:    [][]byte{code([]byte{0x01}, bytes_(0x5a, 4096)), code([]byte{0x00}, i32c(1000), opEnd, bytes_(0x5a, 4096))},
			exports: []testExport{{"f", 0, 0}},
		}
		m.tables[0] = []byte{0x70, 0x01, 0x40, 0x80, 0x01}
		for _, n := range []uint64{0, 1, 7, 8, 9, 1000, 4096} {
			if o.name == "memory.grow" && n > 1 || o.name[:5] == "table" && n > 64 {
				continue
			}
			if o.name == "table.copy" || o.name == "table.init" {
				if n > 1 {
					continue
				}
			}
			want := o.static + o.unit(n)
			for _, e := range engines() {
				t.Run(fmt.Sprintf("%s/%d/%s", o.name, n, e.name), func(t *testing.T) {
					mod, err := instantiate(t, e, m.bytes(), Options{}, nil)
					if err != nil {
						t.Fatal(err)
					}
					res, used, err := callCount(t, mod, "f", want, n)
					if err != nil || used != want {
						t.Fatalf("budget = count %d: used %d, err %v", want, used, err)
					}
					effect := o.effect
					if o.name == "table.grow" {
						effect = n
					}
					if n > 0 && o.name != "table.fill" && res[0] != effect {
						t.Errorf("probe %d after the operation, want %d", res[0], effect)
					}
					// Fresh instances. One short: exhausted.
					mod, err = instantiate(t, e, m.bytes(), Options{}, nil)
					if err != nil {
						t.Fatal(err)
					}
					if _, _, err := callCount(t, mod, "f", want-1, n); err == nil || !Exhausted(mod) {
						t.Fatalf("budget = count − 1: err %v, exhausted %v", err, Exhausted(mod))
					}
					// One short of the operation's own charge: exhausted
					// before the operation runs.
					if o.unit(n) == 0 {
						return
					}
					untilOp := want - 3
					if o.name == "memory.grow" || o.name == "table.grow" {
						untilOp = want - 2
					}
					mod, err = instantiate(t, e, m.bytes(), Options{}, nil)
					if err != nil {
						t.Fatal(err)
					}
					if _, _, err := callCount(t, mod, "f", untilOp-1, n); err == nil || !Exhausted(mod) {
						t.Fatalf("budget = %d: err %v, exhausted %v", untilOp-1, err, Exhausted(mod))
					}
					switch o.name {
					case "memory.fill", "memory.copy", "memory.init":
						if b, _ := mod.Memory().ReadByte(0); b != 0 {
							t.Errorf("%s ran on an exhausted budget: byte 0 = %#x", o.name, b)
						}
					case "memory.grow":
						if p := mod.Memory().Size() / 65536; p != 1 {
							t.Errorf("memory.grow ran on an exhausted budget: %d pages", p)
						}
					}
				})
			}
		}
	}
}

func bytes_(b byte, n int) []byte {
	out := appendU32(nil, uint32(n))
	for i := 0; i < n; i++ {
		out = append(out, b)
	}
	return out
}
