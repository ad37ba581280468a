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

	// For loops: the metered blocks involved in hoisting the loop head's
	// charge into the edges that enter it (see hoistLoopHead).
	pre     int      // block open when the loop was entered (falls into it)
	head    int      // first metered block of the body
	brs     []int    // blocks ending in an unconditional br to the loop
	brIfs   [][2]int // blocks ending in br_if to the loop, and the block after
	noHoist bool     // some entry cannot take the charge

	disp *dispatch // for a loop in Go's dispatch shape
	// inLoop is the dispatch of the innermost loop enclosing this frame's
	// body (nil if that loop is not a dispatch), so that finding it is
	// O(1), not a walk up the nesting.
	inLoop *dispatch

	// For the blocks of a dispatch loop's head: the loop, and the depth of
	// the block as seen from its br_table.
	caseOf  *dispatch
	caseIdx int
}

// insertion is code injected before the original instruction at pos (an
// offset into the function's expression). Its parts are emitted in the
// order of the fields.
type insertion struct {
	pos    int
	reload bool  // counter = budget global (function entry, after a call)
	charge int64 // counter -= charge (the metered block starting here)
	dead   bool  // the metered block starting here is unreachable: no charge
	check  bool  // if counter < 0 { budget global = counter; unreachable }
	// depth of the check's br_if to the trap block (number of labels
	// enclosing pos inside the function, plus one)
	checkDepth uint32
	// stop: the check compares with the stop global instead of 0, so it
	// also traps once the host raised it (function entries and loop heads,
	// which every unbounded run passes).
	stop bool
	// dyn charges the size operand on top of the stack (a bulk
	// operation's length, a grow's delta) before the check: shifted right
	// by dynShift, or multiplied by dynMul.
	dyn      bool
	dynShift uint8
	dynMul   int64
	store    bool      // budget global = counter (before a call or an exit)
	entry    *dispatch // charge the first case of a dispatch loop (emitEntry)
	// optimistic: the charge includes a loop head's, taken before a br_if
	// that may not branch; it must not move before a check.
	optimistic bool

	// Threaded calls (thread.go): pop takes the counter a call returned
	// (local.set, first of all); push passes it as the last argument or
	// result (local.get, last of all, just before the instruction).
	pop, push bool
	// under: push the counter under the i32 on top of the stack (the
	// table index of a call_indirect), through the scratch local.
	under bool
	// repl replaces the original instruction at pos, up to replEnd: a
	// local index shifted past the counter parameter, a call_indirect's
	// threaded type.
	repl    []byte
	replEnd int
}

// funcRewriter scans one function body and records where to inject code.
//
// Within a function the budget lives in a local, the counter: charging a
// block is then register arithmetic. The global is the source of truth
// across frames, so the counter is stored to it before every call and every
// exit, and reloaded from it at entry and after every call.
type funcRewriter struct {
	info       *moduleInfo
	global     uint32
	noStop     bool   // Options.NoStop: checks compare with 0, never the stop global
	local      uint32 // index of the counter local
	hostFacing bool
	// resultBlock is the block type of the function's results (0 if there
	// is none): with it, the body is wrapped as
	//   block; block (result); BODY; return; end; TRAP
	// and a check is one br_if to TRAP, which keeps the hot path to a
	// compare and an untaken branch.
	resultBlock byte

	// scratch: the function charges a size operand, which needs an i32
	// local (index scratchIdx) to copy it into.
	scratch    bool
	scratchIdx uint32

	// threaded: the counter is the function's last parameter and its last
	// result, passed along every call to a defined function (thread.go).
	// Locals from index params on move up by one.
	threaded bool
	params   uint32
	nLocals  uint32 // the function's own locals, parameters included

	ins   []insertion
	ctrl  []ctrlFrame
	cur   int  // index in ins of the open metered block's charge
	dead  bool // the open metered block is unreachable: inject nothing
	costs *CostTable

	// Dispatch loop bookkeeping (see dispatch.go).
	loops       int         // loops enclosing the scan position
	disps       []*dispatch // enclosing dispatch loops, outermost first
	dispNext    *dispatch   // loop whose head blocks are being opened
	dispRemain  int         // head blocks still to open
	inHeadTable bool        // scanning the head br_table of a dispatch loop
	prevConst   bool        // the previous instruction was i32.const prevK
	prevK       int64
	pendSet     *dispatch // previous instruction was local.set $pc
	pendOK      bool      // ... of the constant pendPC
	pendPC      uint32
}

// at returns the insertion for pos, creating it after all earlier ones.
func (f *funcRewriter) at(pos int) *insertion {
	if n := len(f.ins); n > 0 && f.ins[n-1].pos == pos {
		return &f.ins[n-1]
	}
	f.ins = append(f.ins, insertion{pos: pos})
	return &f.ins[len(f.ins)-1]
}

// beginBlock closes the open metered block and opens one at pos.
func (f *funcRewriter) beginBlock(pos int, dead bool) {
	f.at(pos).dead = dead
	f.cur = len(f.ins) - 1
	f.dead = dead
}

func (f *funcRewriter) charge(n int64) {
	f.ins[f.cur].charge += n
}

// checkAt asks for a budget check before the instruction at pos, inside
// the current control frames.
func (f *funcRewriter) checkAt(pos int) {
	f.checkAtDepth(pos, uint32(len(f.ctrl)))
}

// checkAtDepth asks for a check at pos, where depth labels enclose it
// (the function's own included).
func (f *funcRewriter) checkAtDepth(pos int, depth uint32) {
	if !f.dead {
		in := f.at(pos)
		in.check = true
		in.checkDepth = depth
	}
}

// storeAt asks for the counter to be written to the global before pos.
func (f *funcRewriter) storeAt(pos int) {
	if !f.dead {
		f.at(pos).store = true
	}
}

// exitAt prepares an exit from the function at pos: host-facing functions
// check the budget, and every function publishes its counter.
func (f *funcRewriter) exitAt(pos int) {
	f.exitAtDepth(pos, uint32(len(f.ctrl)))
}

func (f *funcRewriter) exitAtDepth(pos int, depth uint32) {
	if f.threaded {
		// The counter leaves as the last result (emitTrapTail). The store
		// keeps a trap's count what it was (DESIGN.md); a store is cheap,
		// what threading saves is the reload after the call.
		f.storeAt(pos)
		return
	}
	if f.hostFacing {
		f.checkAtDepth(pos, depth)
	}
	f.storeAt(pos)
}

// target marks the frame a branch of relative depth depth leaves to, and
// reports whether the branch leaves the function.
func (f *funcRewriter) target(depth uint32) (exits bool, err error) {
	if uint64(depth) >= uint64(len(f.ctrl)) {
		return false, fmt.Errorf("branch depth %d exceeds the %d enclosing blocks: %w", depth, len(f.ctrl), ErrInvalid)
	}
	fr := &f.ctrl[len(f.ctrl)-1-int(depth)]
	fr.targeted = true
	if fr.caseOf != nil && !f.inHeadTable {
		fr.caseOf.invalid = true // a case entered other than by its dispatch
	}
	return fr.kind == ctrlFunc, nil
}

func (f *funcRewriter) scan(r *reader) error {
	f.ctrl = append(f.ctrl[:0], ctrlFrame{kind: ctrlFunc})
	f.ins = f.ins[:0]
	f.scratch = false
	f.dispNext, f.dispRemain, f.inHeadTable = nil, 0, false
	f.disps = f.disps[:0]
	f.loops = 0
	f.prevConst, f.pendSet = false, nil
	f.at(0).reload = !f.threaded
	f.beginBlock(0, false)
	f.checkAt(0)
	f.ins[f.cur].stop = true
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
	wasConst, k := f.prevConst, f.prevK
	f.prevConst = false
	pend := f.pendSet
	f.pendSet = nil
	if pend != nil && op != 0x0c {
		pend.invalid = true // $pc set, but not for a jump
	}
	switch op {
	case 0x00: // unreachable
		f.charge(f.costs.Default)
		f.storeAt(pos) // so that the host sees what the trapping block charged
		f.beginBlock(r.pos, true)
	case 0x02, 0x03, 0x04: // block, loop, if
		if err := f.skipBlockType(r); err != nil {
			return err
		}
		if len(f.ctrl) > MaxNesting {
			return fmt.Errorf("blocks nest more than %d deep: %w", MaxNesting, ErrLimit)
		}
		f.charge(f.costs.Default)
		switch op {
		case 0x02:
			fr := ctrlFrame{kind: ctrlBlock, inLoop: f.ctrl[len(f.ctrl)-1].inLoop}
			if f.dispRemain > 0 {
				f.dispRemain--
				fr.caseOf, fr.caseIdx = f.dispNext, f.dispRemain
			}
			f.ctrl = append(f.ctrl, fr)
		case 0x03:
			if f.loops++; f.loops > MaxLoopNesting {
				return fmt.Errorf("loops nest more than %d deep: %w", MaxLoopNesting, ErrLimit)
			}
			var disp *dispatch
			if !f.dead && f.costs.SplitAtCalls {
				if disp = detectDispatch(r.buf[r.pos:], r.pos); disp != nil {
					f.at(pos)
					disp.preIns = len(f.ins) - 1
					f.dispNext, f.dispRemain = disp, len(disp.caseStart)
				}
			}
			pre := f.cur
			// Every iteration enters here: charge and check, so that a loop
			// can never run unmetered or past its budget.
			f.beginBlock(r.pos, f.dead)
			f.checkAtDepth(r.pos, uint32(len(f.ctrl))+1) // inside the loop
			f.ins[f.cur].stop = true
			f.ctrl = append(f.ctrl, ctrlFrame{kind: ctrlLoop, pre: pre, head: f.cur, noHoist: f.dead || !f.costs.SplitAtCalls, disp: disp, inLoop: disp})
			if disp != nil {
				f.disps = append(f.disps, disp)
			}
		case 0x04:
			f.ctrl = append(f.ctrl, ctrlFrame{kind: ctrlIf, inLoop: f.ctrl[len(f.ctrl)-1].inLoop})
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
			f.exitAtDepth(pos, 1)
		case ctrlLoop:
			// Branches to a loop go to its head; its end is reached only by
			// falling through, so the continuation joins the open block.
			f.loops--
			if fr.disp != nil {
				f.disps = f.disps[:len(f.disps)-1]
			}
			f.hoistLoopHead(&fr)
		case ctrlBlock:
			if fr.targeted {
				fall := f.cur
				if f.dead {
					fall = -1
				}
				f.beginBlock(r.pos, false)
				if fr.caseOf != nil {
					fr.caseOf.fallPred[fr.caseIdx] = fall
					fr.caseOf.caseStart[fr.caseIdx] = f.cur
				}
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
		if lp := f.loopAt(l); lp != nil {
			lp.brs = append(lp.brs, f.cur)
			if d := lp.disp; d != nil {
				if pend == d && f.pendOK {
					d.jumps = append(d.jumps, dispatchJump{block: f.cur, pc: f.pendPC})
				} else {
					d.invalid = true // a jump whose case is not known here
				}
			}
		}
		if pend != nil && pend != f.loopAt0(l) {
			pend.invalid = true
		}
		f.charge(f.costs.Default)
		if exits {
			f.exitAt(pos)
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
		if exits {
			f.exitAt(pos)
		}
		src := f.cur
		f.beginBlock(r.pos, f.dead)
		if lp := f.loopAt(l); lp != nil {
			if lp.disp != nil {
				lp.disp.invalid = true
			}
			// The charge for the loop head is taken before we know whether
			// the branch is taken: no check may see it in between.
			for _, in := range f.ins[src : len(f.ins)-1] {
				if in.check {
					lp.noHoist = true
				}
			}
			lp.brIfs = append(lp.brIfs, [2]int{src, f.cur})
		}
	case 0x0e: // br_table
		n, err := r.u32()
		if err != nil {
			return err
		}
		exits := false
		if lp := f.enclosingDispatch(); lp != nil && lp.tablePos == pos {
			f.inHeadTable = true
			defer func() { f.inHeadTable = false }()
		}
		for i := uint64(0); i <= uint64(n); i++ {
			l, err := r.u32()
			if err != nil {
				return err
			}
			e, err := f.target(l)
			if err != nil {
				return err
			}
			if lp := f.loopAt(l); lp != nil {
				lp.noHoist = true
				if lp.disp != nil {
					lp.disp.invalid = true
				}
			}
			exits = exits || e
		}
		f.charge(f.costs.Default)
		if exits {
			f.exitAt(pos)
		}
		f.beginBlock(r.pos, true)
	case 0x0f: // return
		f.charge(f.costs.Default)
		f.exitAt(pos)
		if f.threaded {
			f.at(pos).push = true
		}
		f.beginBlock(r.pos, true)
	case 0x10: // call
		idx, err := r.u32()
		if err != nil {
			return err
		}
		if err := checkIndex("function", idx, f.info.funcs()); err != nil {
			return err
		}
		f.charge(f.costs.Default)
		if f.threaded && idx >= f.info.importedFuncs {
			f.threadCall(pos, r.pos)
			break
		}
		if idx < f.info.importedFuncs {
			// Host functions have effects the host can observe: never call
			// one with the budget overdrawn.
			f.checkAt(pos)
		}
		f.storeAt(pos)
		f.afterCall(r.pos)
	case 0x11: // call_indirect
		t, err := r.u32()
		if err != nil {
			return err
		}
		if err := checkIndex("type", t, f.info.types()); err != nil {
			return err
		}
		tab, err := r.u32()
		if err != nil {
			return err
		}
		if err := checkIndex("table", tab, f.info.tables()); err != nil {
			return err
		}
		f.charge(f.costs.Default)
		if f.threaded {
			// Only defined functions reach a table here (thread.go).
			in := f.at(pos)
			in.repl = appendU32(appendU32([]byte{0x11}, f.info.threadType(t)), tab)
			in.replEnd = r.pos
			in.under = true
			f.scratch = true
			f.threadCall(pos, r.pos)
			break
		}
		// The table may hold a host function.
		f.checkAt(pos)
		f.storeAt(pos)
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
		if err := checkIndex("memory", 0, f.info.mems()); err != nil {
			return err
		}
		if op == 0x40 {
			f.charge(f.costs.MemoryGrow)
			f.chargeOperand(pos, r.pos, 0, f.costs.GrowPage)
		} else {
			f.charge(f.costs.Default)
		}
	case 0xfc:
		sub, err := r.u32()
		if err != nil {
			return err
		}
		if err := f.skipFCImmediates(r, sub); err != nil {
			return fmt.Errorf("0xfc %d: %w", sub, err)
		}
		f.charge(f.costs.Default)
		switch sub {
		case 8, 10, 11: // memory.init, memory.copy, memory.fill
			f.chargeOperand(pos, r.pos, f.costs.BulkByteShift, 1)
		case 12, 14, 15, 17: // table.init, table.copy, table.grow, table.fill
			f.chargeOperand(pos, r.pos, 0, f.costs.TableElement)
		}
	case 0xfd:
		return fmt.Errorf("SIMD (0xfd prefix): %w", ErrUnsupported)
	case 0xfe:
		return fmt.Errorf("threads/atomics (0xfe prefix): %w", ErrUnsupported)
	default:
		if err := f.skipPlainImmediates(r, op); err != nil {
			return err
		}
		f.charge(f.costs.Default)
		switch op {
		case 0x41: // i32.const
			imm := &reader{buf: r.buf[pos+1 : r.pos]}
			f.prevK, _ = imm.signed(32)
			f.prevConst = true
		case 0x21, 0x22: // local.set, local.tee
			imm := &reader{buf: r.buf[pos+1 : r.pos]}
			x, _ := imm.u32()
			f.localWrite(op, x, wasConst, k)
		}
		if op >= 0x20 && op <= 0x22 && f.threaded {
			imm := &reader{buf: r.buf[pos+1 : r.pos]}
			if x, _ := imm.u32(); x >= f.params {
				in := f.at(pos)
				in.repl = appendU32([]byte{op}, x+1)
				in.replEnd = r.pos
			}
		}
	}
	return nil
}

// chargeOperand charges an operation at pos (next is the position after
// it) for its size, the i32 on top of the stack: (size >> shift) × mul,
// then checks the budget, all before the operation runs, so a bulk
// operation never runs on an overdrawn budget. The metered block ends
// after the operation, as at a call: the check sees only its own block's
// charges (a dispatch case's or loop head's charge moved onto a later
// block is never seen early), and the block's instructions up to the
// operation have all run when it is reached.
func (f *funcRewriter) chargeOperand(pos, next int, shift uint8, mul int64) {
	if f.dead || (shift >= 32 || mul == 0) {
		return
	}
	in := f.at(pos)
	in.dyn, in.dynShift, in.dynMul = true, shift, mul
	f.scratch = true
	f.checkAt(pos)
	f.beginBlock(next, false)
}

// localWrite watches writes to the $pc local of enclosing dispatch loops:
// only `i32.const K; local.set $pc; br $loop` keeps the dispatch known.
func (f *funcRewriter) localWrite(op byte, x uint32, wasConst bool, k int64) {
	for _, d := range f.disps {
		if d.local != x {
			continue
		}
		if op == 0x22 || f.pendSet != nil || !wasConst || k < 0 {
			d.invalid = true
			continue
		}
		f.pendSet, f.pendOK, f.pendPC = d, true, uint32(k)
	}
}

// enclosingDispatch returns the innermost enclosing dispatch loop, if any.
func (f *funcRewriter) enclosingDispatch() *dispatch {
	return f.ctrl[len(f.ctrl)-1].inLoop
}

// loopAt0 returns the dispatch of the loop a branch of depth l targets.
func (f *funcRewriter) loopAt0(l uint32) *dispatch {
	if lp := f.loopAt(l); lp != nil {
		return lp.disp
	}
	return nil
}

// loopAt returns the loop frame a branch of depth l targets, or nil.
// Depth was validated by target.
func (f *funcRewriter) loopAt(l uint32) *ctrlFrame {
	fr := &f.ctrl[len(f.ctrl)-1-int(l)]
	if fr.kind != ctrlLoop {
		return nil
	}
	return fr
}

// hoistLoopHead moves the charge of a loop's first metered block onto the
// edges that enter it: the block that falls into the loop and every block
// that branches back. Those blocks are charged anyway, so each iteration
// saves one charge; in Go's output, where every backward jump goes through
// one dispatch loop, that is one charge per jump. A br_if edge is charged
// optimistically and refunded by the block after it (also charged anyway).
// Every path into the head still pays exactly once; the head keeps its
// check. Skipped when a check could see an optimistic charge, for br_table
// edges, and without SplitAtCalls (a call inside a source block could
// observe the early charge).
func (f *funcRewriter) hoistLoopHead(fr *ctrlFrame) {
	if fr.noHoist || f.ins[fr.head].dead {
		return
	}
	c := f.ins[fr.head].charge
	f.ins[fr.head].charge = 0
	f.ins[fr.pre].charge += c
	for _, s := range fr.brs {
		f.ins[s].charge += c
	}
	for _, e := range fr.brIfs {
		f.ins[e[0]].optimistic = true
		f.ins[e[0]].charge += c
		f.ins[e[1]].charge -= c
	}
	if fr.disp != nil && !fr.disp.invalid {
		f.pushDispatchCases(fr.disp)
	}
}

// threadCall passes the counter along a call to a defined function (at
// pos; next is the position after it) and takes it back from its results.
//
// Also in dead code: a block opened there has an ordinary operand stack,
// on which the call's threaded type must find the counter.
func (f *funcRewriter) threadCall(pos, next int) {
	f.storeAt(pos) // for a trap's count, as at exits
	f.at(pos).push = true
	f.at(next).pop = true
	if f.costs.SplitAtCalls {
		f.beginBlock(next, f.dead)
	}
}

// afterCall ends the metered block at a call when the cost table asks for
// it (see DESIGN.md: whether instructions after a call that never returns
// are charged).
func (f *funcRewriter) afterCall(next int) {
	if !f.dead {
		f.at(next).reload = true
	}
	if f.costs.SplitAtCalls {
		f.beginBlock(next, f.dead)
	}
}

func (f *funcRewriter) skipBlockType(r *reader) error {
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
	return checkIndex("type", uint32(idx), f.info.types())
}

// skipFCImmediates skips the immediates of the 0xFC-prefixed instructions
// (non-trapping float-to-int 0..7, bulk memory and table ops 8..17) and
// checks the indices they name.
func (f *funcRewriter) skipFCImmediates(r *reader, sub uint32) error {
	// The index spaces of the u32 immediates, in order.
	var spaces []string
	switch {
	case sub <= 7:
	case sub == 8: // memory.init data mem
		spaces = []string{"data", "memory"}
	case sub == 9: // data.drop
		spaces = []string{"data"}
	case sub == 10: // memory.copy mem mem
		spaces = []string{"memory", "memory"}
	case sub == 11: // memory.fill mem
		spaces = []string{"memory"}
	case sub == 12: // table.init elem table
		spaces = []string{"element segment", "table"}
	case sub == 13: // elem.drop
		spaces = []string{"element segment"}
	case sub == 14: // table.copy
		spaces = []string{"table", "table"}
	case sub >= 15 && sub <= 17: // table.grow/size/fill
		spaces = []string{"table"}
	default:
		return fmt.Errorf("unknown 0xfc instruction: %w", ErrUnsupported)
	}
	for _, space := range spaces {
		v, err := r.u32()
		if err != nil {
			return err
		}
		var n uint64
		switch space {
		case "memory":
			if v != 0 {
				return fmt.Errorf("memory index %d (multi-memory): %w", v, ErrUnsupported)
			}
			n = f.info.mems()
		case "data":
			if !f.info.hasDataCount {
				return fmt.Errorf("memory.init and data.drop need a data count section: %w", ErrInvalid)
			}
			n = uint64(f.info.dataCount)
		case "element segment":
			n = uint64(f.info.elemSegments)
		case "table":
			n = f.info.tables()
		}
		if err := checkIndex(space, v, n); err != nil {
			return err
		}
		if sub == 15 && f.info.tableFixed(v) {
			return fmt.Errorf("table.grow on table %d, which declares no maximum size; declare one (at most %d elements): %w", v, MaxTableElements, ErrLimit)
		}
	}
	return nil
}

// skipPlainImmediates skips the immediates of every single-byte opcode not
// handled as control flow, rejects opcodes that do not exist, and checks
// the indices they name: a local or global index past the module's own
// would otherwise address the counter or the budget the meter adds.
func (f *funcRewriter) skipPlainImmediates(r *reader, op byte) error {
	var err error
	var idx uint32
	switch {
	case op == 0x01, op == 0x1a, op == 0x1b: // nop, drop, select
	case op >= 0x20 && op <= 0x22: // local.get/set/tee
		if idx, err = r.u32(); err == nil {
			err = checkIndex("local", idx, uint64(f.nLocals))
		}
	case op == 0x23, op == 0x24: // global.get/set
		if idx, err = r.u32(); err == nil {
			err = checkIndex("global", idx, f.info.globals())
		}
	case op == 0x25, op == 0x26: // table.get/set
		if idx, err = r.u32(); err == nil {
			err = checkIndex("table", idx, f.info.tables())
		}
	case op >= 0x28 && op <= 0x3e: // loads and stores: memarg
		var align uint32
		if align, err = r.u32(); err != nil {
			return err
		}
		if align&0x40 != 0 {
			return fmt.Errorf("memarg with a memory index (multi-memory): %w", ErrUnsupported)
		}
		if _, err = r.u32(); err != nil {
			return err
		}
		err = checkIndex("memory", 0, f.info.mems())
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
		var t byte
		if t, err = r.byte(); err == nil && t != 0x70 && t != 0x6f {
			err = fmt.Errorf("ref.null of type 0x%02x, not a reference type: %w", t, ErrInvalid)
		}
	case op == 0xd1: // ref.is_null
	case op == 0xd2: // ref.func
		if idx, err = r.u32(); err == nil {
			err = checkIndex("function", idx, f.info.funcs())
		}
		if err == nil && f.threaded && idx < f.info.importedFuncs {
			return errNotThreadable // a host function could reach a table
		}
	default:
		return fmt.Errorf("unknown or unsupported opcode: %w", ErrUnsupported)
	}
	return err
}

// emit writes the expression with the injected code in front of each
// recorded position.
func (f *funcRewriter) emit(dst, expr []byte) []byte {
	if f.resultBlock != 0 { // block (trap); block (results)
		dst = append(dst, 0x02, 0x40, 0x02, f.resultBlock)
	}
	last := 0
	for _, in := range f.ins {
		dst = append(dst, expr[last:in.pos]...)
		last = in.pos
		if in.pop { // local.set t
			dst = appendU32(append(dst, 0x21), f.local)
		}
		if in.reload { // global.get g; local.set t
			dst = appendU32(append(dst, 0x23), f.global)
			dst = appendU32(append(dst, 0x21), f.local)
		}
		if in.charge != 0 && !in.dead { // local.get t; i64.const c; i64.sub; local.set t
			dst = appendU32(append(dst, 0x20), f.local)
			dst = appendS64(append(dst, 0x42), in.charge)
			dst = appendU32(append(dst, 0x7d, 0x21), f.local)
		}
		if in.dyn { // local.tee s; local.get t; local.get s; i64.extend_i32_u; [shift | mul]; i64.sub; local.set t
			dst = appendU32(append(dst, 0x22), f.scratchIdx)
			dst = appendU32(append(dst, 0x20), f.local)
			dst = appendU32(append(dst, 0x20), f.scratchIdx)
			dst = append(dst, 0xad)
			if in.dynShift != 0 {
				dst = append(dst, 0x42, in.dynShift, 0x88) // i64.const shift (< 64: one byte); i64.shr_u
			}
			if in.dynMul != 1 {
				dst = appendS64(append(dst, 0x42), in.dynMul)
				dst = append(dst, 0x7e) // i64.mul
			}
			dst = appendU32(append(dst, 0x7d, 0x21), f.local)
		}
		if in.check { // local.get t; (i64.const 0 | global.get floor); i64.lt_s
			dst = appendU32(append(dst, 0x20), f.local)
			if in.stop && !f.noStop {
				dst = appendU32(append(dst, 0x23), f.global+1)
			} else {
				dst = append(dst, 0x42, 0x00)
			}
			dst = append(dst, 0x53)
		}
		if in.check && f.resultBlock != 0 { // br_if TRAP
			dst = append(dst, 0x0d)
			dst = appendU32(dst, in.checkDepth)
		} else if in.check { // if; local.get t; global.set g; unreachable; end
			dst = append(dst, 0x04, 0x40)
			dst = appendU32(append(dst, 0x20), f.local)
			dst = appendU32(append(dst, 0x24), f.global)
			dst = append(dst, 0x00, 0x0b)
		}
		if in.store { // local.get t; global.set g
			dst = appendU32(append(dst, 0x20), f.local)
			dst = appendU32(append(dst, 0x24), f.global)
		}
		if in.entry != nil {
			dst = emitEntry(dst, in.entry, f.local, f.mapLocal(in.entry.local))
		}
		if in.push && in.under { // local.set s; local.get t; local.get s
			dst = appendU32(append(dst, 0x21), f.scratchIdx)
			dst = appendU32(append(dst, 0x20), f.local)
			dst = appendU32(append(dst, 0x20), f.scratchIdx)
		} else if in.push { // local.get t
			dst = appendU32(append(dst, 0x20), f.local)
		}
		if in.repl != nil {
			dst = append(dst, in.repl...)
			last = in.replEnd
		}
	}
	return append(dst, expr[last:]...)
}

// mapLocal is the index in the output of the function's local x.
func (f *funcRewriter) mapLocal(x uint32) uint32 {
	if f.threaded && x >= f.params {
		return x + 1
	}
	return x
}

// emitTrapTail closes the wrapping emit opened: the body's own end closed
// the results block; return its values, and below the trap block publish
// the overdrawn counter and trap.
func (f *funcRewriter) emitTrapTail(dst []byte) []byte {
	if f.resultBlock == 0 {
		return dst
	}
	if f.threaded { // the counter is the last result
		dst = appendU32(append(dst, 0x20), f.local)
	}
	dst = append(dst, 0x0f, 0x0b)
	dst = appendU32(append(dst, 0x20), f.local)
	dst = appendU32(append(dst, 0x24), f.global)
	return append(dst, 0x00, 0x0b)
}
