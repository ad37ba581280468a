package meter

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
)

// Section ids of the WebAssembly core binary format.
const (
	secCustom    = 0
	secType      = 1
	secImport    = 2
	secFunction  = 3
	secTable     = 4
	secMemory    = 5
	secGlobal    = 6
	secExport    = 7
	secStart     = 8
	secElement   = 9
	secCode      = 10
	secData      = 11
	secDataCount = 12
	secTag       = 13
)

var sectionNames = [...]string{"custom", "type", "import", "function", "table", "memory", "global", "export", "start", "element", "code", "data", "data count", "tag"}

func sectionName(id byte) string {
	if int(id) < len(sectionNames) {
		return sectionNames[id]
	}
	return fmt.Sprintf("unknown(%d)", id)
}

// sectionRank is the position a non-custom section must take in a module:
// the order is fixed by the specification and is not the numeric order of
// the ids (data count comes before code, tag between memory and global).
func sectionRank(id byte) int {
	switch id {
	case secType:
		return 1
	case secImport:
		return 2
	case secFunction:
		return 3
	case secTable:
		return 4
	case secMemory:
		return 5
	case secTag:
		return 6
	case secGlobal:
		return 7
	case secExport:
		return 8
	case secStart:
		return 9
	case secElement:
		return 10
	case secDataCount:
		return 11
	case secCode:
		return 12
	case secData:
		return 13
	}
	return 0
}

var (
	wasmMagic   = []byte{0x00, 'a', 's', 'm'}
	wasmVersion = []byte{0x01, 0x00, 0x00, 0x00}
)

// section is one section of the input, body excluding id and size.
type section struct {
	id      byte
	body    []byte
	bodyOff int // absolute offset of body[0] in the module
}

// SectionError reports malformed or unsupported input, naming the section
// and the absolute byte offset at which the problem was found.
type SectionError struct {
	Section string
	Offset  int
	Err     error
}

func (e *SectionError) Error() string {
	return fmt.Sprintf("meter: %s section at byte offset %d (0x%x): %v", e.Section, e.Offset, e.Offset, e.Err)
}

func (e *SectionError) Unwrap() error { return e.Err }

// ErrUnsupported is wrapped by errors for input that is well-formed WASM
// but uses a feature the meter refuses to count (SIMD, threads, ...).
var ErrUnsupported = errors.New("unsupported feature")

func splitSections(wasm []byte) ([]section, error) {
	if len(wasm) < 8 {
		return nil, &SectionError{Section: "header", Offset: 0, Err: fmt.Errorf("module is %d bytes, shorter than the 8-byte header", len(wasm))}
	}
	if !bytes.Equal(wasm[:4], wasmMagic) {
		return nil, &SectionError{Section: "header", Offset: 0, Err: errors.New("missing \\0asm magic: not a WebAssembly binary")}
	}
	if !bytes.Equal(wasm[4:8], wasmVersion) {
		return nil, &SectionError{Section: "header", Offset: 4, Err: fmt.Errorf("version % x is not 1 (a component or a future format?): %w", wasm[4:8], ErrUnsupported)}
	}
	r := &reader{buf: wasm, pos: 8}
	var out []section
	lastRank := 0
	for !r.eof() {
		start := r.offset()
		id, _ := r.byte()
		size, err := r.u32()
		if err != nil {
			return nil, &SectionError{Section: sectionName(id), Offset: start, Err: fmt.Errorf("reading section size: %w", err)}
		}
		bodyOff := r.offset()
		body, err := r.bytes(int(size))
		if err != nil {
			return nil, &SectionError{Section: sectionName(id), Offset: start, Err: fmt.Errorf("section claims %d bytes but only %d remain: %w", size, len(wasm)-bodyOff, errTruncated)}
		}
		if id != secCustom {
			rank := sectionRank(id)
			if rank == 0 {
				return nil, &SectionError{Section: sectionName(id), Offset: start, Err: fmt.Errorf("unknown section id %d", id)}
			}
			if rank <= lastRank {
				return nil, &SectionError{Section: sectionName(id), Offset: start, Err: errors.New("section is out of order or duplicated")}
			}
			lastRank = rank
			if id != secStart && id != secDataCount {
				// Every element takes at least one byte. Checking this here
				// also spares the engine, which compiles our output, from
				// pre-allocating for a count of billions in a tiny section.
				vr := &reader{buf: body, base: bodyOff}
				n, err := vr.u32()
				if err != nil {
					return nil, &SectionError{Section: sectionName(id), Offset: bodyOff, Err: fmt.Errorf("reading element count: %w", err)}
				}
				if uint64(n) > uint64(len(body)-vr.pos) {
					return nil, &SectionError{Section: sectionName(id), Offset: bodyOff, Err: fmt.Errorf("declares %d elements in %d bytes", n, len(body)-vr.pos)}
				}
			}
		}
		out = append(out, section{id: id, body: body, bodyOff: bodyOff})
	}
	return out, nil
}

// moduleInfo is what the rewriter needs to know about the rest of the
// module, and the sizes of the index spaces every index in it is checked
// against: an index the submitted module does not define must never reach
// what the meter adds (its counter local, its budget global).
type moduleInfo struct {
	importedFuncs   uint32
	importedGlobals uint32
	importedTables  uint32
	importedMems    uint32
	definedFuncs    uint32
	definedGlobals  uint32
	definedTables   uint32
	definedMems     uint32
	// paramCounts[t] is the number of parameters of type t; funcTypes[i]
	// the type of defined function i. The rewriter needs them to number the
	// local it adds to each function.
	paramCounts []uint32
	// resultBlock[t] is the block type with the results of type t: 0x40
	// for none, the value type for one, 0 for more (no such block type
	// without adding a type).
	resultBlock []byte
	funcTypes   []uint32
	// typeParams and typeResults are the encoded value types of each type
	// (slices of the type section), to build the threaded types from.
	typeParams, typeResults [][]byte
	// typeHasRef[t]: type t mentions a reference type.
	typeHasRef []bool
	// unthreadable says why the counter cannot travel with the calls in
	// this module (see thread.go); empty if it can.
	unthreadable string
	// hostFacing holds the function indices that the host can enter: exports
	// and the start function. Their exits get a budget check so that a call
	// never returns successfully with the budget overdrawn.
	hostFacing map[uint32]bool
	// refGlobals: the defined globals of a reference type.
	refGlobals map[uint32]bool
	// entered: the functions the host enters (exports, start), in order.
	entered []uint32

	// Threaded calls (thread.go): the threaded type of each type used,
	// the types added (by original index), the wrapper of each function
	// the host enters, and the wrapped functions in wrapper order.
	threadTypes map[uint32]uint32
	newTypes    []uint32
	wrapperOf   map[uint32]uint32
	wrapped     []uint32

	// tableElements is the sum of the tables' maximums; fixedTables the
	// tables that declared none and got their minimum as maximum.
	tableElements uint64
	fixedTables   []uint32
	elemSegments  uint32
	// dataCount is the data count section's value; hasDataCount says
	// whether there is one (memory.init and data.drop need it).
	dataCount    uint32
	hasDataCount bool
}

// unthread records why the module keeps the counter in the budget global
// across calls (the first reason found).
func (m *moduleInfo) unthread(why string) {
	if m.unthreadable == "" {
		m.unthreadable = why
	}
}

func (m *moduleInfo) funcs() uint64   { return uint64(m.importedFuncs) + uint64(m.definedFuncs) }
func (m *moduleInfo) globals() uint64 { return uint64(m.importedGlobals) + uint64(m.definedGlobals) }
func (m *moduleInfo) tables() uint64  { return uint64(m.importedTables) + uint64(m.definedTables) }
func (m *moduleInfo) mems() uint64    { return uint64(m.importedMems) + uint64(m.definedMems) }
func (m *moduleInfo) types() uint64   { return uint64(len(m.paramCounts)) }

// checkIndex refuses an index outside an index space of n entries.
func checkIndex(what string, idx uint32, n uint64) error {
	if uint64(idx) >= n {
		return fmt.Errorf("%s index %d is out of range: the module has %d: %w", what, idx, n, ErrInvalid)
	}
	return nil
}

// checkCap refuses a count above a cap.
func checkCap(what string, n uint64, max uint64) error {
	if n > max {
		return fmt.Errorf("%d %s, above the cap of %d: %w", n, what, max, ErrLimit)
	}
	return nil
}

func secErr(name string, r *reader, err error) error {
	return &SectionError{Section: name, Offset: r.offset(), Err: err}
}

// parseLimits reads memory or table limits; hasMax says whether a
// maximum is declared.
func parseLimits(r *reader) (min, max uint32, hasMax bool, err error) {
	flags, err := r.byte()
	if err != nil {
		return 0, 0, false, err
	}
	switch flags {
	case 0x00:
		min, err = r.u32()
		return min, 0, false, err
	case 0x01:
		if min, err = r.u32(); err != nil {
			return 0, 0, false, err
		}
		if max, err = r.u32(); err != nil {
			return 0, 0, false, err
		}
		if min > max {
			return 0, 0, false, fmt.Errorf("minimum %d is above the maximum %d: %w", min, max, ErrInvalid)
		}
		return min, max, true, nil
	case 0x02, 0x03:
		return 0, 0, false, fmt.Errorf("shared memory (threads): %w", ErrUnsupported)
	default:
		return 0, 0, false, fmt.Errorf("limits flag 0x%02x (memory64 or unknown): %w", flags, ErrUnsupported)
	}
}

// parseTableType reads a table type (reference type and limits) and adds
// its maximum to the module's table elements. A table that declares no
// maximum gets its minimum as maximum (rewriteTables) and may not be
// grown: otherwise it could grow to 2^32 elements outside the memory
// limit. Imported tables must declare a maximum.
func parseTableType(r *reader, info *moduleInfo, imported bool) error {
	t, err := r.byte()
	if err != nil {
		return err
	}
	if t != 0x70 && t != 0x6f {
		return fmt.Errorf("table element type 0x%02x is not a reference type: %w", t, ErrInvalid)
	}
	min, max, hasMax, err := parseLimits(r)
	if err != nil {
		return err
	}
	if !hasMax {
		if imported {
			return fmt.Errorf("imported table declares no maximum size; one (at most %d elements) is required, as its elements count against the memory limit: %w", MaxTableElements, ErrLimit)
		}
		max = min
		info.fixedTables = append(info.fixedTables, uint32(info.tables()))
	}
	info.tableElements += uint64(max)
	return checkCap("table elements in all tables", info.tableElements, MaxTableElements)
}

// tableFixed reports whether table idx declared no maximum and so must not
// grow.
func (m *moduleInfo) tableFixed(idx uint32) bool {
	return slices.Contains(m.fixedTables, idx)
}

// rewriteTables returns the table section with each table that declares no
// maximum given its minimum as maximum (parseTableType).
func rewriteTables(s section) ([]byte, error) {
	r := &reader{buf: s.body, base: s.bodyOff}
	n, err := r.u32()
	if err != nil {
		return nil, secErr("table", r, err)
	}
	out := appendU32(nil, n)
	for i := uint32(0); i < n; i++ {
		t, err := r.byte()
		if err != nil {
			return nil, secErr("table", r, err)
		}
		min, max, hasMax, err := parseLimits(r)
		if err != nil {
			return nil, secErr("table", r, err)
		}
		if !hasMax {
			max = min
		}
		out = append(out, t, 0x01)
		out = appendU32(appendU32(out, min), max)
	}
	return out, nil
}

func parseValType(r *reader) error {
	t, err := r.byte()
	if err != nil {
		return err
	}
	switch t {
	case 0x7f, 0x7e, 0x7d, 0x7c, 0x70, 0x6f:
		return nil
	case 0x7b:
		return fmt.Errorf("v128 value type (SIMD): %w", ErrUnsupported)
	}
	return fmt.Errorf("unknown value type 0x%02x", t)
}

func parseImports(s section, info *moduleInfo) error {
	r := &reader{buf: s.body, base: s.bodyOff}
	n, err := r.u32()
	if err != nil {
		return secErr("import", r, err)
	}
	if err := checkCap("imports", uint64(n), MaxImports); err != nil {
		return secErr("import", r, err)
	}
	for i := uint32(0); i < n; i++ {
		if _, err := r.name(); err != nil {
			return secErr("import", r, fmt.Errorf("import %d module name: %w", i, err))
		}
		if _, err := r.name(); err != nil {
			return secErr("import", r, fmt.Errorf("import %d field name: %w", i, err))
		}
		kind, err := r.byte()
		if err != nil {
			return secErr("import", r, fmt.Errorf("import %d kind: %w", i, err))
		}
		switch kind {
		case 0x00:
			t, err := r.u32()
			if err == nil {
				err = checkIndex("type", t, info.types())
			}
			if err != nil {
				return secErr("import", r, fmt.Errorf("import %d type index: %w", i, err))
			}
			if info.typeHasRef[t] {
				info.unthread("an imported function passes references")
			}
			info.importedFuncs++
		case 0x01:
			if err := parseTableType(r, info, true); err != nil {
				return secErr("import", r, fmt.Errorf("import %d table: %w", i, err))
			}
			info.unthread("a table is imported")
			info.importedTables++
		case 0x02:
			if _, _, _, err := parseLimits(r); err != nil {
				return secErr("import", r, fmt.Errorf("import %d memory limits: %w", i, err))
			}
			info.importedMems++
		case 0x03:
			if !r.eof() && (r.buf[r.pos] == 0x70 || r.buf[r.pos] == 0x6f) {
				info.unthread("a reference global is imported")
			}
			if err := parseValType(r); err != nil {
				return secErr("import", r, fmt.Errorf("import %d global type: %w", i, err))
			}
			if _, err := r.byte(); err != nil {
				return secErr("import", r, fmt.Errorf("import %d global mutability: %w", i, err))
			}
			info.importedGlobals++
		case 0x04:
			return secErr("import", r, fmt.Errorf("import %d is a tag (exception handling): %w", i, ErrUnsupported))
		default:
			return secErr("import", r, fmt.Errorf("import %d has unknown kind 0x%02x", i, kind))
		}
	}
	if !r.eof() {
		return secErr("import", r, errors.New("trailing bytes after the last import"))
	}
	return nil
}

func parseTypes(s section, info *moduleInfo) error {
	r := &reader{buf: s.body, base: s.bodyOff}
	n, err := r.u32()
	if err != nil {
		return secErr("type", r, err)
	}
	if err := checkCap("types", uint64(n), MaxTypes); err != nil {
		return secErr("type", r, err)
	}
	for i := uint32(0); i < n; i++ {
		form, err := r.byte()
		if err != nil {
			return secErr("type", r, fmt.Errorf("type %d: %w", i, err))
		}
		if form != 0x60 {
			return secErr("type", r, fmt.Errorf("type %d has form 0x%02x, not a function type (GC types?): %w", i, form, ErrUnsupported))
		}
		var params uint32
		var result byte
		var raw [2][]byte
		hasRef := false
		for part := 0; part < 2; part++ {
			count, err := r.u32()
			if err != nil {
				return secErr("type", r, fmt.Errorf("type %d: %w", i, err))
			}
			what, max := "parameters", uint64(MaxParams)
			if part == 1 {
				what, max = "results", MaxResults
			}
			if err := checkCap(what, uint64(count), max); err != nil {
				return secErr("type", r, fmt.Errorf("type %d: %w", i, err))
			}
			start := r.pos
			for j := uint32(0); j < count; j++ {
				if part == 1 && count == 1 && r.pos < len(r.buf) {
					result = r.buf[r.pos]
				}
				if r.pos < len(r.buf) && (r.buf[r.pos] == 0x70 || r.buf[r.pos] == 0x6f) {
					hasRef = true
				}
				if err := parseValType(r); err != nil {
					return secErr("type", r, fmt.Errorf("type %d: %w", i, err))
				}
			}
			raw[part] = r.buf[start:r.pos]
			if part == 0 {
				params = count
			} else if count == 0 {
				result = 0x40
			}
		}
		info.paramCounts = append(info.paramCounts, params)
		info.resultBlock = append(info.resultBlock, result)
		info.typeParams = append(info.typeParams, raw[0])
		info.typeResults = append(info.typeResults, raw[1])
		info.typeHasRef = append(info.typeHasRef, hasRef)
	}
	if !r.eof() {
		return secErr("type", r, errors.New("trailing bytes after the last type"))
	}
	return nil
}

func parseFunctions(s section, info *moduleInfo) error {
	r := &reader{buf: s.body, base: s.bodyOff}
	n, err := r.u32()
	if err != nil {
		return secErr("function", r, err)
	}
	if err := checkCap("functions", uint64(info.importedFuncs)+uint64(n), MaxFunctions); err != nil {
		return secErr("function", r, err)
	}
	for i := uint32(0); i < n; i++ {
		t, err := r.u32()
		if err != nil {
			return secErr("function", r, fmt.Errorf("function %d type index: %w", i, err))
		}
		if err := checkIndex("type", t, info.types()); err != nil {
			return secErr("function", r, fmt.Errorf("function %d: %w", i, err))
		}
		info.funcTypes = append(info.funcTypes, t)
	}
	if !r.eof() {
		return secErr("function", r, errors.New("trailing bytes after the last function"))
	}
	info.definedFuncs = n
	return nil
}

func parseTables(s section, info *moduleInfo) error {
	r := &reader{buf: s.body, base: s.bodyOff}
	n, err := r.u32()
	if err != nil {
		return secErr("table", r, err)
	}
	if err := checkCap("tables", uint64(info.importedTables)+uint64(n), MaxTables); err != nil {
		return secErr("table", r, err)
	}
	for i := uint32(0); i < n; i++ {
		if err := parseTableType(r, info, false); err != nil {
			return secErr("table", r, fmt.Errorf("table %d: %w", i, err))
		}
		info.definedTables++
	}
	if !r.eof() {
		return secErr("table", r, errors.New("trailing bytes after the last table"))
	}
	return nil
}

func parseMemories(s section, info *moduleInfo) error {
	r := &reader{buf: s.body, base: s.bodyOff}
	n, err := r.u32()
	if err != nil {
		return secErr("memory", r, err)
	}
	if uint64(info.importedMems)+uint64(n) > 1 {
		return secErr("memory", r, fmt.Errorf("more than one memory (multi-memory): %w", ErrUnsupported))
	}
	for i := uint32(0); i < n; i++ {
		if _, _, _, err := parseLimits(r); err != nil {
			return secErr("memory", r, fmt.Errorf("memory %d limits: %w", i, err))
		}
	}
	if !r.eof() {
		return secErr("memory", r, errors.New("trailing bytes after the last memory"))
	}
	info.definedMems = n
	return nil
}

// skipConstExpr walks a constant expression up to and including its end,
// checking the indices it names against the module's index spaces so far.
func skipConstExpr(r *reader, info *moduleInfo) error {
	for {
		op, err := r.byte()
		if err != nil {
			return err
		}
		var idx uint32
		switch op {
		case 0x0b:
			return nil
		case 0x41:
			_, err = r.signed(32)
		case 0x42:
			_, err = r.signed(64)
		case 0x43:
			_, err = r.bytes(4)
		case 0x44:
			_, err = r.bytes(8)
		case 0x23: // global.get
			if idx, err = r.u32(); err == nil {
				err = checkIndex("global", idx, info.globals())
			}
		case 0xd2: // ref.func
			if idx, err = r.u32(); err == nil {
				err = checkIndex("function", idx, info.funcs())
			}
			if idx < info.importedFuncs {
				info.unthread("an imported function is referenced")
			}
		case 0xd0: // ref.null
			_, err = r.byte()
		case 0x6a, 0x6b, 0x6c, 0x7c, 0x7d, 0x7e: // extended-const arithmetic
		default:
			return fmt.Errorf("opcode 0x%02x is not allowed in a constant expression", op)
		}
		if err != nil {
			return err
		}
	}
}

func parseGlobals(s section, info *moduleInfo) error {
	r := &reader{buf: s.body, base: s.bodyOff}
	n, err := r.u32()
	if err != nil {
		return secErr("global", r, err)
	}
	if err := checkCap("globals", uint64(info.importedGlobals)+uint64(n), MaxGlobals); err != nil {
		return secErr("global", r, err)
	}
	for i := uint32(0); i < n; i++ {
		if !r.eof() && (r.buf[r.pos] == 0x70 || r.buf[r.pos] == 0x6f) {
			info.refGlobals[info.importedGlobals+i] = true
		}
		if err := parseValType(r); err != nil {
			return secErr("global", r, fmt.Errorf("global %d type: %w", i, err))
		}
		if _, err := r.byte(); err != nil {
			return secErr("global", r, fmt.Errorf("global %d mutability: %w", i, err))
		}
		// An initialiser may read only globals before it.
		info.definedGlobals = i
		if err := skipConstExpr(r, info); err != nil {
			return secErr("global", r, fmt.Errorf("global %d initializer: %w", i, err))
		}
	}
	if !r.eof() {
		return secErr("global", r, errors.New("trailing bytes after the last global"))
	}
	info.definedGlobals = n
	return nil
}

func parseExports(s section, info *moduleInfo) error {
	r := &reader{buf: s.body, base: s.bodyOff}
	n, err := r.u32()
	if err != nil {
		return secErr("export", r, err)
	}
	if err := checkCap("exports", uint64(n), MaxExports); err != nil {
		return secErr("export", r, err)
	}
	for i := uint32(0); i < n; i++ {
		name, err := r.name()
		if err != nil {
			return secErr("export", r, fmt.Errorf("export %d name: %w", i, err))
		}
		if name == GlobalName || name == StopName {
			return secErr("export", r, fmt.Errorf("module already exports %q: instrumented twice?", name))
		}
		kind, err := r.byte()
		if err != nil {
			return secErr("export", r, fmt.Errorf("export %q kind: %w", name, err))
		}
		idx, err := r.u32()
		if err != nil {
			return secErr("export", r, fmt.Errorf("export %q index: %w", name, err))
		}
		switch kind {
		case 0x00:
			err = checkIndex("function", idx, info.funcs())
			info.hostFacing[idx] = true
			info.entered = append(info.entered, idx)
			if err == nil && idx >= info.importedFuncs && info.typeHasRef[info.funcTypes[idx-info.importedFuncs]] {
				info.unthread("an exported function passes references")
			}
		case 0x01:
			err = checkIndex("table", idx, info.tables())
			info.unthread("a table is exported")
		case 0x02:
			err = checkIndex("memory", idx, info.mems())
		case 0x03:
			err = checkIndex("global", idx, info.globals())
			if err == nil && info.refGlobals[idx] {
				info.unthread("a reference global is exported")
			}
		default:
			err = fmt.Errorf("unknown kind 0x%02x", kind)
		}
		if err != nil {
			return secErr("export", r, fmt.Errorf("export %q: %w", name, err))
		}
	}
	if !r.eof() {
		return secErr("export", r, errors.New("trailing bytes after the last export"))
	}
	return nil
}

func parseStart(s section, info *moduleInfo) error {
	r := &reader{buf: s.body, base: s.bodyOff}
	idx, err := r.u32()
	if err == nil {
		err = checkIndex("function", idx, info.funcs())
	}
	if err != nil {
		return secErr("start", r, err)
	}
	if !r.eof() {
		return secErr("start", r, errors.New("trailing bytes after the start function index"))
	}
	info.hostFacing[idx] = true
	info.entered = append(info.entered, idx)
	return nil
}

// parseElements checks the element segments' table and function indices
// and constant expressions, and counts the segments for table.init and
// elem.drop.
func parseElements(s section, info *moduleInfo) error {
	r := &reader{buf: s.body, base: s.bodyOff}
	n, err := r.u32()
	if err != nil {
		return secErr("element", r, err)
	}
	if err := checkCap("element segments", uint64(n), MaxElementSegments); err != nil {
		return secErr("element", r, err)
	}
	for i := uint32(0); i < n; i++ {
		if err := parseElement(r, info); err != nil {
			return secErr("element", r, fmt.Errorf("element segment %d: %w", i, err))
		}
	}
	if !r.eof() {
		return secErr("element", r, errors.New("trailing bytes after the last element segment"))
	}
	info.elemSegments = n
	return nil
}

func parseElement(r *reader, info *moduleInfo) error {
	flags, err := r.u32()
	if err != nil {
		return err
	}
	if flags > 7 {
		return fmt.Errorf("unknown segment flags %d", flags)
	}
	active, explicitTable, exprs := flags&1 == 0, flags&2 != 0, flags&4 != 0
	if active && explicitTable {
		t, err := r.u32()
		if err != nil {
			return err
		}
		if err := checkIndex("table", t, info.tables()); err != nil {
			return err
		}
	}
	if active {
		if !explicitTable {
			if err := checkIndex("table", 0, info.tables()); err != nil {
				return err
			}
		}
		if err := skipConstExpr(r, info); err != nil {
			return fmt.Errorf("offset: %w", err)
		}
	}
	if flags&3 != 0 { // element kind or reference type
		if _, err := r.byte(); err != nil {
			return err
		}
	}
	count, err := r.u32()
	if err != nil {
		return err
	}
	if err := checkCap("elements in one segment", uint64(count), MaxSegmentElements); err != nil {
		return err
	}
	if uint64(count) > uint64(len(r.buf)-r.pos) {
		return fmt.Errorf("declares %d elements in %d bytes", count, len(r.buf)-r.pos)
	}
	for j := uint32(0); j < count; j++ {
		if exprs {
			err = skipConstExpr(r, info)
		} else {
			var f uint32
			if f, err = r.u32(); err == nil {
				err = checkIndex("function", f, info.funcs())
			}
			if f < info.importedFuncs {
				info.unthread("an imported function is in an element segment")
			}
		}
		if err != nil {
			return fmt.Errorf("element %d: %w", j, err)
		}
	}
	return nil
}

func parseDataCount(s section, info *moduleInfo) error {
	r := &reader{buf: s.body, base: s.bodyOff}
	n, err := r.u32()
	if err == nil {
		err = checkCap("data segments", uint64(n), MaxDataSegments)
	}
	if err != nil {
		return secErr("data count", r, err)
	}
	if !r.eof() {
		return secErr("data count", r, errors.New("trailing bytes after the data count"))
	}
	info.dataCount, info.hasDataCount = n, true
	return nil
}

// parseData checks the data segments' memory indices and offsets. Their
// bytes are in the module, so MaxModuleBytes bounds their size.
func parseData(s section, info *moduleInfo) error {
	r := &reader{buf: s.body, base: s.bodyOff}
	n, err := r.u32()
	if err != nil {
		return secErr("data", r, err)
	}
	if err := checkCap("data segments", uint64(n), MaxDataSegments); err != nil {
		return secErr("data", r, err)
	}
	if info.hasDataCount && n != info.dataCount {
		return secErr("data", r, fmt.Errorf("%d data segments, but the data count section says %d: %w", n, info.dataCount, ErrInvalid))
	}
	for i := uint32(0); i < n; i++ {
		flags, err := r.u32()
		if err != nil {
			return secErr("data", r, fmt.Errorf("data segment %d: %w", i, err))
		}
		if flags > 2 {
			return secErr("data", r, fmt.Errorf("data segment %d has unknown flags %d", i, flags))
		}
		if flags != 1 { // active
			mem := uint32(0)
			if flags == 2 {
				if mem, err = r.u32(); err != nil {
					return secErr("data", r, fmt.Errorf("data segment %d: %w", i, err))
				}
			}
			if err := checkIndex("memory", mem, info.mems()); err != nil {
				return secErr("data", r, fmt.Errorf("data segment %d: %w", i, err))
			}
			if err := skipConstExpr(r, info); err != nil {
				return secErr("data", r, fmt.Errorf("data segment %d offset: %w", i, err))
			}
		}
		size, err := r.u32()
		if err != nil {
			return secErr("data", r, fmt.Errorf("data segment %d: %w", i, err))
		}
		if _, err := r.bytes(int(size)); err != nil {
			return secErr("data", r, fmt.Errorf("data segment %d claims %d bytes: %w", i, size, err))
		}
	}
	if !r.eof() {
		return secErr("data", r, errors.New("trailing bytes after the last data segment"))
	}
	return nil
}
