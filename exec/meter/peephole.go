package meter

import (
	"fmt"
	"math"
)

// peephole rewrites three instruction pairs of an instrumented code
// section into forms wazero's compiler turns into better machine code
// (measured in ../DESIGN.md, "Speed against wasmtime"):
//
//   - i64.const K; i32.wrap_i64 → i32.const int32(K)
//   - an integer compare; i32.eqz → the opposite integer compare
//   - i64.const K; i64.add, K < 0 (not MinInt64) → i64.const −K; i64.sub
//
// Each computes the same value as the pair it replaces, for every operand,
// and has the same operand and result types, so a module's behaviour and
// validity are unchanged. It runs on the meter's output, after every
// charge is a constant in the injected code: the counts are those of the
// submitted module by construction, although the executed code is shorter.
// It walks the output the way the meter walks its input, one instruction
// at a time, so a pair is rewritten only when the two are adjacent in the
// final code (never across injected code or a structured instruction).
//
// code is the body of a code section the meter wrote; info describes the
// module, before the meter's globals were added. compares turns on the
// second rewrite; Instrument leaves it off because it made collatz slower
// in CPU time (DESIGN.md, "Peephole pass after instrumentation").
func peephole(code []byte, info *moduleInfo, compares bool) ([]byte, error) {
	r := &reader{buf: code}
	n, err := r.u32()
	if err != nil {
		return nil, peepErr(r, err)
	}
	// The instruction decoder is the meter's; its index checks must admit
	// what the meter added (two globals, the counter and scratch locals).
	withMeter := *info
	withMeter.definedGlobals += 2
	dec := &funcRewriter{info: &withMeter, local: math.MaxUint32, nLocals: math.MaxUint32}

	out := make([]byte, 0, len(code))
	out = appendU32(out, n)
	var body []byte
	for i := uint32(0); i < n; i++ {
		size, err := r.u32()
		if err != nil {
			return nil, peepErr(r, err)
		}
		raw, err := r.bytes(int(size))
		if err != nil {
			return nil, peepErr(r, err)
		}
		br := &reader{buf: raw, base: r.offset() - len(raw)}
		if body, err = peepBody(body[:0], br, dec, compares); err != nil {
			return nil, fmt.Errorf("function %d: %w", i, err)
		}
		out = appendU32(out, uint32(len(body)))
		out = append(out, body...)
	}
	return out, nil
}

func peepErr(r *reader, err error) error {
	return fmt.Errorf("meter: peephole pass at code offset %d: %w (the meter's own output should never fail here)", r.offset(), err)
}

// peepBody copies one function body to dst, rewriting the pairs.
func peepBody(dst []byte, r *reader, dec *funcRewriter, compares bool) ([]byte, error) {
	groups, err := r.u32()
	if err != nil {
		return nil, peepErr(r, err)
	}
	for g := uint32(0); g < groups; g++ {
		if _, err := r.u32(); err != nil {
			return nil, peepErr(r, err)
		}
		if err := parseValType(r); err != nil {
			return nil, peepErr(r, err)
		}
	}
	dst = append(dst, r.buf[:r.pos]...)

	// The previous instruction, when it can start a pair: an i64.const
	// (its value in k) or an integer compare, written at dst[prevAt:].
	const (
		none = iota
		i64Const
		compare
	)
	prev, prevAt, k := none, 0, int64(0)
	for !r.eof() {
		pos := r.pos
		op, _ := r.byte()
		if op == 0x42 {
			if k, err = r.signed(64); err != nil {
				return nil, peepErr(r, err)
			}
		} else if err := dec.skipImmediates(r, op); err != nil {
			return nil, peepErr(r, fmt.Errorf("opcode 0x%02x: %w", op, err))
		}
		switch {
		case op == 0xa7 && prev == i64Const: // i32.wrap_i64
			dst = appendS64(append(dst[:prevAt], 0x41), int64(int32(k)))
			prev = none
			continue
		case op == 0x7c && prev == i64Const && k < 0 && k != math.MinInt64: // i64.add
			dst = append(appendS64(append(dst[:prevAt], 0x42), -k), 0x7d)
			prev = none
			continue
		case op == 0x45 && prev == compare && compares: // i32.eqz
			dst[prevAt] = oppositeCompare(dst[prevAt])
			continue // still a compare: a second eqz flips it back
		}
		prev, prevAt = none, len(dst)
		switch {
		case op == 0x42:
			prev = i64Const
		case oppositeCompare(op) != 0:
			prev = compare
		}
		dst = append(dst, r.buf[pos:r.pos]...)
	}
	return dst, nil
}

// oppositeCompare returns the integer compare that is the negation of op,
// or 0 if op is not an integer compare. i32: 0x46..0x4f, i64: 0x51..0x5a,
// in the order eq ne lt_s lt_u gt_s gt_u le_s le_u ge_s ge_u. Float
// compares are left out: with a NaN operand, lt and ge are both false.
func oppositeCompare(op byte) byte {
	var base byte
	switch {
	case op >= 0x46 && op <= 0x4f:
		base = 0x46
	case op >= 0x51 && op <= 0x5a:
		base = 0x51
	default:
		return 0
	}
	// eq↔ne, lt_s↔ge_s, lt_u↔ge_u, gt_s↔le_s, gt_u↔le_u
	opposite := [10]byte{1, 0, 8, 9, 6, 7, 4, 5, 2, 3}
	return base + opposite[op-base]
}

// skipImmediates skips the immediates of any instruction the meter
// accepts or emits, with the same decoders scan uses.
func (f *funcRewriter) skipImmediates(r *reader, op byte) error {
	switch op {
	case 0x00, 0x05, 0x0b, 0x0f: // unreachable, else, end, return
		return nil
	case 0x02, 0x03, 0x04: // block, loop, if
		return f.skipBlockType(r)
	case 0x0c, 0x0d, 0x10: // br, br_if, call
		_, err := r.u32()
		return err
	case 0x0e: // br_table: n labels and the default
		n, err := r.u32()
		for i := uint64(0); err == nil && i <= uint64(n); i++ {
			_, err = r.u32()
		}
		return err
	case 0x11: // call_indirect type table
		if _, err := r.u32(); err != nil {
			return err
		}
		_, err := r.u32()
		return err
	case 0x1c: // select t*
		n, err := r.u32()
		for i := uint32(0); err == nil && i < n; i++ {
			err = parseValType(r)
		}
		return err
	case 0x3f, 0x40: // memory.size, memory.grow
		_, err := r.u32()
		return err
	case 0xfc:
		sub, err := r.u32()
		if err != nil {
			return err
		}
		return f.skipFCImmediates(r, sub)
	}
	return f.skipPlainImmediates(r, op)
}
