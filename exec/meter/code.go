package meter

import (
	"errors"
	"fmt"
)

// ctrlKind is the kind of a structured control instruction.
type ctrlKind uint8

const (
	ctrlFunc ctrlKind = iota
	ctrlBlock
	ctrlLoop
	ctrlIf
)

type ctrlFrame struct {
	kind ctrlKind
	// targeted records whether any branch leaves to this frame's end. A
	// block's continuation that no branch targets is entered only by falling
	// through, so it can share the metered block that falls into it.
	targeted bool
}

// insertion is injected code placed before the original instruction at
// pos (an offset into the function's expression).
type insertion struct {
	pos    int
	charge int64 // cost to subtract from the budget; 0 means none
	check  bool  // trap if the budget is overdrawn
	dead   bool  // the metered block starting here is unreachable
}

// funcRewriter scans one function body and records where to inject code.
type funcRewriter struct {
	info       *moduleInfo
	global     uint32
	hostFacing bool

	ins   []insertion
	ctrl  []ctrlFrame
	cur   int  // index in ins of the open metered block's charge
	dead  bool // the open metered block is unreachable: inject nothing
	costs *CostTable
}

// beginBlock closes the open metered block and opens one at pos.
func (f *funcRewriter) beginBlock(pos int, dead bool) {
	f.ins = append(f.ins, insertion{pos: pos, dead: dead})
	f.cur = len(f.ins) - 1
	f.dead = dead
}

func (f *funcRewriter) charge(n int64) {
	f.ins[f.cur].charge += n
}

// checkAt asks for a budget check before the instruction at pos.
func (f *funcRewriter) checkAt(pos int) {
	if f.dead {
		return
	}
	if last := &f.ins[len(f.ins)-1]; last.pos == pos {
		last.check = true
		return
	}
	f.ins = append(f.ins, insertion{pos: pos, check: true})
}

// target marks the frame a branch of relative depth depth leaves to, and
// reports whether the branch leaves the function.
func (f *funcRewriter) target(depth uint32) (exits bool, err error) {
	if uint64(depth) >= uint64(len(f.ctrl)) {
		return false, fmt.Errorf("branch depth %d exceeds the %d enclosing blocks", depth, len(f.ctrl))
	}
	fr := &f.ctrl[len(f.ctrl)-1-int(depth)]
	fr.targeted = true
	return fr.kind == ctrlFunc, nil
}

// scan walks the instructions of one function expression (after the local
// declarations) and fills f.ins. expr must end with the function's end.
func (f *funcRewriter) scan(r *reader) error {
	f.ctrl = append(f.ctrl[:0], ctrlFrame{kind: ctrlFunc})
	f.ins = f.ins[:0]
	f.beginBlock(0, false)
	f.checkAt(0)
	for {
		if len(f.ctrl) == 0 {
			if !r.eof() {
				return errors.New("instructions after the function's final end")
			}
			return nil
		}
		pos := r.pos
		op, err := r.byte()
		if err != nil {
			return fmt.Errorf("function body ends without its final end: %w", err)
		}
		if err := f.step(r, pos, op); err != nil {
			return fmt.Errorf("opcode 0x%02x at expression offset %d: %w", op, pos, err)
		}
	}
}

func (f *funcRewriter) step(r *reader, pos int, op byte) error {
	switch op {
	case 0x00: // unreachable
		f.charge(f.costs.Default)
		f.beginBlock(r.pos, true)
	case 0x02, 0x03, 0x04: // block, loop, if
		if err := skipBlockType(r); err != nil {
			return err
		}
		f.charge(f.costs.Default)
		switch op {
		case 0x02:
			f.ctrl = append(f.ctrl, ctrlFrame{kind: ctrlBlock})
		case 0x03:
			f.ctrl = append(f.ctrl, ctrlFrame{kind: ctrlLoop})
			// Every iteration enters here: charge and check, so that a loop
			// can never run unmetered or past its budget.
			f.beginBlock(r.pos, f.dead)
			f.checkAt(r.pos)
		case 0x04:
			f.ctrl = append(f.ctrl, ctrlFrame{kind: ctrlIf})
			f.beginBlock(r.pos, f.dead)
		}
	case 0x05: // else
		if len(f.ctrl) < 2 || f.ctrl[len(f.ctrl)-1].kind != ctrlIf {
			return errors.New("else outside an if")
		}
		// The then-arm falls through to the end: the continuation has more
		// than one way in, treat it as targeted.
		f.ctrl[len(f.ctrl)-1].targeted = true
		// Reachability of the else arm is that of the if itself; we do not
		// track it and inject into it, which is harmless if it is dead.
		f.beginBlock(r.pos, false)
	case 0x0b: // end
		fr := f.ctrl[len(f.ctrl)-1]
		f.ctrl = f.ctrl[:len(f.ctrl)-1]
		switch fr.kind {
		case ctrlFunc:
			if f.hostFacing {
				f.checkAt(pos)
			}
		case ctrlLoop:
			// Branches to a loop go to its head; its end is reached only by
			// falling through, so the continuation joins the open block.
		case ctrlBlock:
			if fr.targeted {
				f.beginBlock(r.pos, false)
			}
		case ctrlIf:
			f.beginBlock(r.pos, false)
		}
	case 0x0c: // br
		l, err := r.u32()
		if err != nil {
			return err
		}
		exits, err := f.target(l)
		if err != nil {
			return err
		}
		f.charge(f.costs.Default)
		if exits && f.hostFacing {
			f.checkAt(pos)
		}
		f.beginBlock(r.pos, true)
	case 0x0d: // br_if
		l, err := r.u32()
		if err != nil {
			return err
		}
		exits, err := f.target(l)
		if err != nil {
			return err
		}
		f.charge(f.costs.Default)
		if exits && f.hostFacing {
			f.checkAt(pos)
		}
		f.beginBlock(r.pos, f.dead)
	case 0x0e: // br_table
		n, err := r.u32()
		if err != nil {
			return err
		}
		exits := false
		for i := uint64(0); i <= uint64(n); i++ {
			l, err := r.u32()
			if err != nil {
				return err
			}
			e, err := f.target(l)
			if err != nil {
				return err
			}
			exits = exits || e
		}
		f.charge(f.costs.Default)
		if exits && f.hostFacing {
			f.checkAt(pos)
		}
		f.beginBlock(r.pos, true)
	case 0x0f: // return
		f.charge(f.costs.Default)
		if f.hostFacing {
			f.checkAt(pos)
		}
		f.beginBlock(r.pos, true)
	case 0x10: // call
		idx, err := r.u32()
		if err != nil {
			return err
		}
		f.charge(f.costs.Default)
		if idx < f.info.importedFuncs {
			// Host functions have effects the host can observe: never call
			// one with the budget overdrawn.
			f.checkAt(pos)
		}
		f.afterCall(r.pos)
	case 0x11: // call_indirect
		if _, err := r.u32(); err != nil {
			return err
		}
		if _, err := r.u32(); err != nil {
			return err
		}
		f.charge(f.costs.Default)
		// The table may hold a host function.
		f.checkAt(pos)
		f.afterCall(r.pos)
	case 0x12, 0x13:
		return fmt.Errorf("tail calls: %w", ErrUnsupported)
	case 0x1c: // select t*
		n, err := r.u32()
		if err != nil {
			return err
		}
		for i := uint32(0); i < n; i++ {
			if err := parseValType(r); err != nil {
				return err
			}
		}
		f.charge(f.costs.Default)
	case 0x3f, 0x40: // memory.size, memory.grow
		m, err := r.u32()
		if err != nil {
			return err
		}
		if m != 0 {
			return fmt.Errorf("memory index %d (multi-memory): %w", m, ErrUnsupported)
		}
		if op == 0x40 {
			f.charge(f.costs.MemoryGrow)
		} else {
			f.charge(f.costs.Default)
		}
	case 0xfc:
		sub, err := r.u32()
		if err != nil {
			return err
		}
		if err := skipFCImmediates(r, sub); err != nil {
			return fmt.Errorf("0xfc %d: %w", sub, err)
		}
		f.charge(f.costs.Default)
	case 0xfd:
		return fmt.Errorf("SIMD (0xfd prefix): %w", ErrUnsupported)
	case 0xfe:
		return fmt.Errorf("threads/atomics (0xfe prefix): %w", ErrUnsupported)
	default:
		if err := skipPlainImmediates(r, op); err != nil {
			return err
		}
		f.charge(f.costs.Default)
	}
	return nil
}

// afterCall ends the metered block at a call when the cost table asks for
// it (see DESIGN.md: whether instructions after a call that never returns
// are charged).
func (f *funcRewriter) afterCall(next int) {
	if f.costs.SplitAtCalls {
		f.beginBlock(next, f.dead)
	}
}

func skipBlockType(r *reader) error {
	if r.eof() {
		return errTruncated
	}
	switch b := r.buf[r.pos]; b {
	case 0x40, 0x7f, 0x7e, 0x7d, 0x7c, 0x70, 0x6f:
		r.pos++
		return nil
	case 0x7b:
		return fmt.Errorf("v128 block type (SIMD): %w", ErrUnsupported)
	}
	idx, err := r.signed(33)
	if err != nil {
		return fmt.Errorf("block type: %w", err)
	}
	if idx < 0 {
		return fmt.Errorf("invalid block type %d", idx)
	}
	return nil
}

// skipFCImmediates skips the immediates of the 0xFC-prefixed instructions:
// non-trapping float-to-int (0..7), bulk memory and table ops (8..17).
func skipFCImmediates(r *reader, sub uint32) error {
	var n int // number of u32 immediates
	switch {
	case sub <= 7:
		n = 0
	case sub == 8: // memory.init data mem
		n = 2
	case sub == 9: // data.drop
		n = 1
	case sub == 10: // memory.copy mem mem
		n = 2
	case sub == 11: // memory.fill mem
		n = 1
	case sub == 12: // table.init elem table
		n = 2
	case sub == 13: // elem.drop
		n = 1
	case sub == 14: // table.copy
		n = 2
	case sub >= 15 && sub <= 17: // table.grow/size/fill
		n = 1
	default:
		return fmt.Errorf("unknown 0xfc instruction: %w", ErrUnsupported)
	}
	for i := 0; i < n; i++ {
		v, err := r.u32()
		if err != nil {
			return err
		}
		if (sub == 8 && i == 1 || sub == 10 || sub == 11) && v != 0 {
			return fmt.Errorf("memory index %d (multi-memory): %w", v, ErrUnsupported)
		}
	}
	return nil
}

// skipPlainImmediates skips the immediates of every single-byte opcode not
// handled as control flow, and rejects opcodes that do not exist.
func skipPlainImmediates(r *reader, op byte) error {
	var err error
	switch {
	case op == 0x01, op == 0x1a, op == 0x1b: // nop, drop, select
	case op >= 0x20 && op <= 0x26: // local.*, global.*, table.get/set
		_, err = r.u32()
	case op >= 0x28 && op <= 0x3e: // loads and stores: memarg
		var align uint32
		if align, err = r.u32(); err != nil {
			return err
		}
		if align&0x40 != 0 {
			return fmt.Errorf("memarg with a memory index (multi-memory): %w", ErrUnsupported)
		}
		_, err = r.u32()
	case op == 0x41:
		_, err = r.signed(32)
	case op == 0x42:
		_, err = r.signed(64)
	case op == 0x43:
		_, err = r.bytes(4)
	case op == 0x44:
		_, err = r.bytes(8)
	case op >= 0x45 && op <= 0xc4: // numeric, incl. sign extension 0xc0..0xc4
	case op == 0xd0: // ref.null t
		_, err = r.byte()
	case op == 0xd1: // ref.is_null
	case op == 0xd2: // ref.func
		_, err = r.u32()
	default:
		return fmt.Errorf("unknown or unsupported opcode: %w", ErrUnsupported)
	}
	return err
}

// emit writes the expression with the injected code, in front of each
// recorded position, and returns the new expression.
func (f *funcRewriter) emit(dst, expr []byte) []byte {
	last := 0
	for _, in := range f.ins {
		dst = append(dst, expr[last:in.pos]...)
		last = in.pos
		if in.charge != 0 && !in.dead {
			// global.get g; i64.const c; i64.sub; global.set g
			dst = append(dst, 0x23)
			dst = appendU32(dst, f.global)
			dst = append(dst, 0x42)
			dst = appendS64(dst, in.charge)
			dst = append(dst, 0x7d, 0x24)
			dst = appendU32(dst, f.global)
		}
		if in.check {
			// global.get g; i64.const 0; i64.lt_s; if; unreachable; end
			dst = append(dst, 0x23)
			dst = appendU32(dst, f.global)
			dst = append(dst, 0x42, 0x00, 0x53, 0x04, 0x40, 0x00, 0x0b)
		}
	}
	return append(dst, expr[last:]...)
}
