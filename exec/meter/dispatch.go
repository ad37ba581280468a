package meter

import "sort"

// dispatch describes a loop in the shape Go's wasm backend gives every
// function with jumps:
//
//	loop; block ×M; local.get $pc; br_table ...; end ... (M case bodies)
//
// where every jump is `i32.const K; local.set $pc; br $loop`. Each case
// body starts a metered block (the end of a block the br_table targets),
// entered either by falling out of the previous case or from the br_table.
// When every way in is known, the case's charge moves onto those ways in —
// the previous case's tail and the blocks whose jump names this case —
// which are charged anyway. In Go's hot loops that leaves about one charge
// per jump instead of one per case crossed. See pushDispatchCases.
type dispatch struct {
	local    uint32   // $pc
	labels   []uint32 // br_table labels, default last; depth 0 = innermost block
	tablePos int      // expression offset of the head br_table
	preIns   int      // insertion before the loop: charges the first case entered
	invalid  bool     // some way into a case is not a known jump: do nothing

	// By block depth as seen from the br_table (0 = innermost):
	caseStart []int // metered block starting after that block's end, or -1
	fallPred  []int // metered block falling into that end, or -1
	entry     []int64

	jumps []dispatchJump
}

type dispatchJump struct {
	block int    // metered block ending in the jump
	pc    uint32 // the i32.const stored to $pc before br $loop
}

// caseOf maps a $pc value to the block depth the br_table sends it to.
func (d *dispatch) caseOf(pc uint32) uint32 {
	if int64(pc) < int64(len(d.labels)-1) {
		return d.labels[pc]
	}
	return d.labels[len(d.labels)-1]
}

// detectDispatch reads ahead of a loop's block type (at body) for the
// dispatch shape. It never fails: anything else is just not a dispatch.
func detectDispatch(body []byte, bodyPos int) *dispatch {
	r := &reader{buf: body}
	m := 0
	for r.pos+1 < len(r.buf) && r.buf[r.pos] == 0x02 && r.buf[r.pos+1] == 0x40 {
		r.pos += 2
		m++
	}
	if m == 0 {
		return nil
	}
	if op, err := r.byte(); err != nil || op != 0x20 {
		return nil
	}
	x, err := r.u32()
	if err != nil {
		return nil
	}
	tablePos := bodyPos + r.pos
	if op, err := r.byte(); err != nil || op != 0x0e {
		return nil
	}
	n, err := r.u32()
	if err != nil || uint64(n) >= uint64(len(r.buf)-r.pos) {
		return nil
	}
	labels := make([]uint32, 0, n+1)
	for i := uint64(0); i <= uint64(n); i++ {
		l, err := r.u32()
		if err != nil || l >= uint32(m) {
			return nil // a label leaving the dispatch blocks: not the shape
		}
		labels = append(labels, l)
	}
	d := &dispatch{local: x, labels: labels, tablePos: tablePos,
		caseStart: make([]int, m), fallPred: make([]int, m), entry: make([]int64, m)}
	for i := range d.caseStart {
		d.caseStart[i], d.fallPred[i] = -1, -1
	}
	return d
}

// pushDispatchCases moves each case's charge onto every way into it, last
// case first so that a charge can travel up a chain of cases that fall
// into each other. A way in is the metered block that falls into the case,
// a block ending in a jump whose $pc selects the case, or the loop's entry
// from the function, whose $pc is only known at run time: that one is
// charged by a small br_table on $pc injected before the loop (d.entry).
//
// Each of these blocks is always followed by the case (nothing but the
// loop head, a check and the br_table in between, no call), so every path
// still pays each case exactly once, just earlier; a check that sees the
// early charge is followed by the case anyway. A case that is its own way
// in (a one-block loop) keeps its charge, so no cycle goes uncharged.
func (f *funcRewriter) pushDispatchCases(d *dispatch) {
	order := make([]int, 0, len(d.caseStart))
	for j, s := range d.caseStart {
		if s >= 0 {
			order = append(order, j)
		}
	}
	sort.Slice(order, func(a, b int) bool { return d.caseStart[order[a]] > d.caseStart[order[b]] })
	// The jumps into each case, found once: O(cases + jumps), not their
	// product (a hostile module of many cases and jumps took minutes).
	jumpsTo := make([][]int, len(d.caseStart))
	for _, jmp := range d.jumps {
		c := d.caseOf(jmp.pc)
		jumpsTo[c] = append(jumpsTo[c], jmp.block)
	}
	var preds []int
	for _, j := range order {
		s := d.caseStart[j]
		c := f.ins[s].charge
		if c == 0 || f.ins[s].dead || f.ins[s].optimistic {
			continue
		}
		preds = preds[:0]
		if d.fallPred[j] >= 0 {
			preds = append(preds, d.fallPred[j])
		}
		preds = append(preds, jumpsTo[j]...)
		self := false
		for _, p := range preds {
			self = self || p == s
		}
		if self {
			continue
		}
		for _, p := range preds {
			f.ins[p].charge += c
		}
		d.entry[j] += c
		f.ins[s].charge = 0
	}
	f.ins[d.preIns].entry = d
}

// emitEntry charges the case the loop's first br_table will pick:
//
//	local.get $pc; if
//	  block; block ×k; local.get $pc; br_table (group of each label)
//	  end; charge v0; br; end; charge v1; br; ... end
//	else charge (the case of $pc 0) end
//
// with one block per distinct charge. $pc is 0 on every call but one that
// resumes a Go function after its stack was unwound, so the indirect jump
// is taken only then.
// pc is the index of $pc in the output.
func emitEntry(dst []byte, d *dispatch, local, pc uint32) []byte {
	var values []int64
	index := map[int64]int{}
	group := func(v int64) int {
		if i, ok := index[v]; ok {
			return i
		}
		index[v] = len(values)
		values = append(values, v)
		return len(values) - 1
	}
	groups := make([]int, len(d.labels))
	for i, l := range d.labels {
		groups[i] = group(d.entry[l])
	}
	if len(values) == 1 {
		return appendCharge(dst, local, values[0])
	}
	// $pc is 0 on every call but a resumed one.
	dst = appendU32(append(dst, 0x20), pc)
	dst = append(dst, 0x04, 0x40)
	k := len(values)
	dst = append(dst, 0x02, 0x40)
	for i := 0; i < k; i++ {
		dst = append(dst, 0x02, 0x40)
	}
	dst = appendU32(append(dst, 0x20), pc)
	dst = appendU32(append(dst, 0x0e), uint32(len(d.labels)-1))
	for _, g := range groups {
		dst = appendU32(dst, uint32(g))
	}
	for m := 0; m < k; m++ {
		dst = append(dst, 0x0b)
		dst = appendCharge(dst, local, values[m])
		if m < k-1 {
			dst = appendU32(append(dst, 0x0c), uint32(k-1-m))
		}
	}
	dst = append(dst, 0x0b, 0x05)
	dst = appendCharge(dst, local, values[groups[0]])
	return append(dst, 0x0b)
}

// appendCharge emits counter -= c (nothing for 0).
func appendCharge(dst []byte, local uint32, c int64) []byte {
	if c == 0 {
		return dst
	}
	dst = appendU32(append(dst, 0x20), local)
	dst = appendS64(append(dst, 0x42), c)
	return appendU32(append(dst, 0x7d, 0x21), local)
}
