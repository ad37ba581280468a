package meter

import (
	"bytes"
	"errors"
	"fmt"
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

// moduleInfo is what the rewriter needs to know about the rest of the module.
type moduleInfo struct {
	importedFuncs   uint32
	importedGlobals uint32
	definedFuncs    uint32
	// paramCounts[t] is the number of parameters of type t; funcTypes[i]
	// the type of defined function i. The rewriter needs them to number the
	// local it adds to each function.
	paramCounts []uint32
	// resultBlock[t] is the block type with the results of type t: 0x40
	// for none, the value type for one, 0 for more (no such block type
	// without adding a type).
	resultBlock    []byte
	funcTypes      []uint32
	definedGlobals uint32
	// hostFacing holds the function indices that the host can enter: exports
	// and the start function. Their exits get a budget check so that a call
	// never returns successfully with the budget overdrawn.
	hostFacing map[uint32]bool
}

func secErr(name string, r *reader, err error) error {
	return &SectionError{Section: name, Offset: r.offset(), Err: err}
}

func parseLimits(r *reader, allowShared bool) error {
	flags, err := r.byte()
	if err != nil {
		return err
	}
	switch flags {
	case 0x00:
		_, err = r.u32()
		return err
	case 0x01:
		if _, err = r.u32(); err != nil {
			return err
		}
		_, err = r.u32()
		return err
	case 0x02, 0x03:
		return fmt.Errorf("shared memory (threads): %w", ErrUnsupported)
	default:
		return fmt.Errorf("limits flag 0x%02x (memory64 or unknown): %w", flags, ErrUnsupported)
	}
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
			if _, err := r.u32(); err != nil {
				return secErr("import", r, fmt.Errorf("import %d type index: %w", i, err))
			}
			info.importedFuncs++
		case 0x01:
			if err := parseValType(r); err != nil {
				return secErr("import", r, fmt.Errorf("import %d table type: %w", i, err))
			}
			if err := parseLimits(r, false); err != nil {
				return secErr("import", r, fmt.Errorf("import %d table limits: %w", i, err))
			}
		case 0x02:
			if err := parseLimits(r, false); err != nil {
				return secErr("import", r, fmt.Errorf("import %d memory limits: %w", i, err))
			}
		case 0x03:
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
		for part := 0; part < 2; part++ {
			count, err := r.u32()
			if err != nil {
				return secErr("type", r, fmt.Errorf("type %d: %w", i, err))
			}
			for j := uint32(0); j < count; j++ {
				if part == 1 && count == 1 && r.pos < len(r.buf) {
					result = r.buf[r.pos]
				}
				if err := parseValType(r); err != nil {
					return secErr("type", r, fmt.Errorf("type %d: %w", i, err))
				}
			}
			if part == 0 {
				params = count
			} else if count == 0 {
				result = 0x40
			}
		}
		info.paramCounts = append(info.paramCounts, params)
		info.resultBlock = append(info.resultBlock, result)
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
	for i := uint32(0); i < n; i++ {
		t, err := r.u32()
		if err != nil {
			return secErr("function", r, fmt.Errorf("function %d type index: %w", i, err))
		}
		if uint64(t) >= uint64(len(info.paramCounts)) {
			return secErr("function", r, fmt.Errorf("function %d has type index %d, but there are %d types", i, t, len(info.paramCounts)))
		}
		info.funcTypes = append(info.funcTypes, t)
	}
	if !r.eof() {
		return secErr("function", r, errors.New("trailing bytes after the last function"))
	}
	info.definedFuncs = n
	return nil
}

// skipConstExpr walks a constant expression up to and including its end.
func skipConstExpr(r *reader) error {
	for {
		op, err := r.byte()
		if err != nil {
			return err
		}
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
		case 0x23, 0xd2: // global.get, ref.func
			_, err = r.u32()
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
	for i := uint32(0); i < n; i++ {
		if err := parseValType(r); err != nil {
			return secErr("global", r, fmt.Errorf("global %d type: %w", i, err))
		}
		if _, err := r.byte(); err != nil {
			return secErr("global", r, fmt.Errorf("global %d mutability: %w", i, err))
		}
		if err := skipConstExpr(r); err != nil {
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
	for i := uint32(0); i < n; i++ {
		name, err := r.name()
		if err != nil {
			return secErr("export", r, fmt.Errorf("export %d name: %w", i, err))
		}
		if name == GlobalName {
			return secErr("export", r, fmt.Errorf("module already exports %q: instrumented twice?", GlobalName))
		}
		kind, err := r.byte()
		if err != nil {
			return secErr("export", r, fmt.Errorf("export %q kind: %w", name, err))
		}
		idx, err := r.u32()
		if err != nil {
			return secErr("export", r, fmt.Errorf("export %q index: %w", name, err))
		}
		if kind > 0x03 {
			return secErr("export", r, fmt.Errorf("export %q has unknown kind 0x%02x", name, kind))
		}
		if kind == 0x00 {
			info.hostFacing[idx] = true
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
	if err != nil {
		return secErr("start", r, err)
	}
	if !r.eof() {
		return secErr("start", r, errors.New("trailing bytes after the start function index"))
	}
	info.hostFacing[idx] = true
	return nil
}
