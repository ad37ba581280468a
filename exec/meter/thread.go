package meter

import (
	"errors"
	"fmt"
)

// Threaded calls: the counter travels with the calls (DESIGN.md, "The
// counter travels with the calls").
//
// Every defined function gets one more parameter and one more result, both
// i64, last: the counter. A call to a defined function passes the caller's
// counter and takes back the callee's, so no call reads or writes the
// budget global. The global is written only where the host can look: before
// a call to an import (which may Charge), before unreachable, at a meter
// trap, and when an exported function returns to the host. The host enters
// through wrappers with the original types, appended after all functions:
// each reads the global, calls the function, writes the counter back and
// traps if it is overdrawn. Exports and the start function name the
// wrappers; tables keep the functions themselves, and call_indirect names
// the threaded type, which matches exactly when the original type did.
//
// The module keeps the global around every call (as before) when a host
// function could reach a table or cross the module's boundary as a
// reference: an imported or exported table, an imported function named in
// an element segment or by ref.func, references in an import's or export's
// type, an imported or exported reference global. And when a defined
// function returns more than one value, whose body cannot be wrapped in a
// block without adding a block type.

// errNotThreadable: a function body names an imported function with
// ref.func; the module is instrumented again without threading.
var errNotThreadable = errors.New("meter: a host function could reach a table")

// threadType returns the index of the threaded version of type t: its
// parameters and results, each with an i64 appended. Types are added after
// the module's own, once each.
func (m *moduleInfo) threadType(t uint32) uint32 {
	if i, ok := m.threadTypes[t]; ok {
		return i
	}
	i := uint32(m.types()) + uint32(len(m.newTypes))
	m.threadTypes[t] = i
	m.newTypes = append(m.newTypes, t)
	return i
}

// threadable reports whether the counter can travel with this module's
// calls, and prepares the threaded types and the wrappers if so.
func (m *moduleInfo) threadable() bool {
	if m.unthreadable != "" || m.definedFuncs == 0 {
		return false
	}
	for _, t := range m.funcTypes {
		if m.resultBlock[t] == 0 {
			m.unthread("a function returns more than one value")
			return false
		}
	}
	m.threadTypes = map[uint32]uint32{}
	m.newTypes = m.newTypes[:0]
	for _, t := range m.funcTypes {
		m.threadType(t)
	}
	m.wrapperOf = map[uint32]uint32{}
	m.wrapped = m.wrapped[:0]
	for _, f := range m.entered {
		if f < m.importedFuncs {
			continue // the host calls its own function
		}
		if _, ok := m.wrapperOf[f]; !ok {
			m.wrapperOf[f] = uint32(m.funcs()) + uint32(len(m.wrapped))
			m.wrapped = append(m.wrapped, f)
		}
	}
	return true
}

// hostIndex is the function the host enters for function f: its wrapper
// if it has one.
func (m *moduleInfo) hostIndex(f uint32) uint32 {
	if w, ok := m.wrapperOf[f]; ok {
		return w
	}
	return f
}

// threadedTypes returns the type section with the threaded types added.
func threadedTypes(s section, m *moduleInfo) []byte {
	r := &reader{buf: s.body}
	_, _ = r.u32() // validated by parseTypes
	out := appendU32(nil, uint32(m.types())+uint32(len(m.newTypes)))
	out = append(out, s.body[r.pos:]...)
	for _, t := range m.newTypes {
		out = append(out, 0x60)
		out = appendU32(out, m.paramCounts[t]+1)
		out = append(append(out, m.typeParams[t]...), 0x7e)
		out = appendU32(out, resultCount(m.resultBlock[t])+1)
		out = append(append(out, m.typeResults[t]...), 0x7e)
	}
	return out
}

// resultCount is the number of results of a type whose result block type
// is b (threaded types have at most one).
func resultCount(b byte) uint32 {
	if b == 0x40 {
		return 0
	}
	return 1
}

// threadedFunctions returns the function section: every defined function
// with its threaded type, then the wrappers with the original types.
func threadedFunctions(m *moduleInfo) []byte {
	out := appendU32(nil, m.definedFuncs+uint32(len(m.wrapped)))
	for _, t := range m.funcTypes {
		out = appendU32(out, m.threadTypes[t])
	}
	for _, f := range m.wrapped {
		out = appendU32(out, m.funcTypes[f-m.importedFuncs])
	}
	return out
}

// threadedExports returns the export section's body with room for k more
// exports and every exported function replaced by its wrapper.
func threadedExports(s section, m *moduleInfo, k uint32) ([]byte, error) {
	r := &reader{buf: s.body, base: s.bodyOff}
	n, err := r.u32()
	if err != nil {
		return nil, secErr("export", r, err)
	}
	out := appendU32(nil, n+k)
	for i := uint32(0); i < n; i++ {
		start := r.pos
		if _, err := r.name(); err != nil {
			return nil, secErr("export", r, err)
		}
		kind, err := r.byte()
		if err != nil {
			return nil, secErr("export", r, err)
		}
		out = append(out, s.body[start:r.pos]...)
		idx, err := r.u32()
		if err != nil {
			return nil, secErr("export", r, err)
		}
		if kind == 0x00 {
			idx = m.hostIndex(idx)
		}
		out = appendU32(out, idx)
	}
	return out, nil
}

// wrapperBody is the code of the wrapper of function f (type t): it passes
// its parameters and the budget to f, stores the counter f returns, and
// traps if it is overdrawn, so that the host never sees a call return
// successfully past the budget.
//
//	local.get 0..n-1; global.get $budget; call f
//	local.tee $tmp; global.set $budget
//	local.get $tmp; i64.const 0; i64.lt_s; if unreachable end
func wrapperBody(dst []byte, m *moduleInfo, f, global uint32) []byte {
	t := m.funcTypes[f-m.importedFuncs]
	n := m.paramCounts[t]
	var body []byte
	body = append(body, 0x01, 0x01, 0x7e) // one i64 local, index n
	for i := uint32(0); i < n; i++ {
		body = appendU32(append(body, 0x20), i)
	}
	body = appendU32(append(body, 0x23), global)
	body = appendU32(append(body, 0x10), f)
	body = appendU32(append(body, 0x22), n)
	body = appendU32(append(body, 0x24), global)
	body = appendU32(append(body, 0x20), n)
	body = append(body, 0x42, 0x00, 0x53, 0x04, 0x40, 0x00, 0x0b, 0x0b)
	dst = appendU32(dst, uint32(len(body)))
	return append(dst, body...)
}

// threadedStart returns the start section naming the wrapper.
func threadedStart(s section, m *moduleInfo) ([]byte, error) {
	r := &reader{buf: s.body, base: s.bodyOff}
	idx, err := r.u32()
	if err != nil {
		return nil, secErr("start", r, fmt.Errorf("start function: %w", err))
	}
	return appendU32(nil, m.hostIndex(idx)), nil
}

// withoutLocalNames returns a custom section's body, without the local
// names subsection (2) if it is the name section: threading moves every
// declared local up by one, so those names would be off by one. Function
// names stay true (no function is renumbered). Anything that does not parse
// as a name section is kept as it is: the engine ignores it.
func withoutLocalNames(body []byte) []byte {
	r := &reader{buf: body}
	name, err := r.name()
	if err != nil || name != "name" {
		return body
	}
	out := append([]byte(nil), body[:r.pos]...)
	for !r.eof() {
		start := r.pos
		id, err := r.byte()
		if err != nil {
			return body
		}
		size, err := r.u32()
		if err != nil {
			return body
		}
		if _, err := r.bytes(int(size)); err != nil {
			return body
		}
		if id != 2 {
			out = append(out, body[start:r.pos]...)
		}
	}
	return out
}
