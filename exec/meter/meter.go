package meter

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/tetratelabs/wazero/api"
)

// GlobalName is the export name of the mutable i64 global that an
// instrumented module uses to hold its remaining instruction budget.
const GlobalName = "outlayer_meter_remaining"

// StopName is the export name of the mutable i64 global an instrumented
// module compares its budget with at every function entry and loop head
// (instead of 0): once the host raises it to MaxInt64 (Stop), the module
// traps at the next one. This is how a run is stopped at its deadline
// without a call into the host on every loop iteration.
const StopName = "outlayer_meter_stop"

// CostTable says what an instruction costs. The zero value is not useful;
// start from DefaultCosts.
type CostTable struct {
	// Default is the cost of every instruction not listed below. The
	// structural markers else and end cost nothing: they are not executed
	// as operations by any engine.
	Default int64
	// MemoryGrow is the flat cost of memory.grow, on top of GrowPage per
	// page asked for.
	MemoryGrow int64
	// GrowPage is the cost of each 64 KiB page memory.grow asks for
	// (whether or not the growth succeeds: the request is the operand).
	GrowPage int64
	// BulkByteShift: memory.fill, memory.copy and memory.init cost
	// Default plus one per 2^BulkByteShift bytes of their length operand.
	BulkByteShift uint8
	// TableElement is the cost of each element table.fill, table.copy and
	// table.init touch and table.grow adds, on top of Default.
	TableElement int64
	// SplitAtCalls ends a metered block at every call, so that the
	// instructions after a call are charged only once it returns. With it
	// off, a call that never returns (a trap, proc_exit) leaves the rest of
	// its block charged although it did not run. Both are deterministic.
	SplitAtCalls bool
}

// DefaultCosts charges 1 for every executed instruction (else and end are
// free) and splits metered blocks at calls, so that the count of a run that
// ends by proc_exit is exactly the number of instructions executed. Bulk
// operations pay for their size: one more per 8 bytes a bulk memory
// operation moves or fills (what i64 loads and stores would take), one per
// table element, and 8192 per page memory.grow asks for (64 KiB at 8 bytes
// per unit).
func DefaultCosts() CostTable {
	return CostTable{Default: 1, MemoryGrow: 1, GrowPage: 8192, BulkByteShift: 3, TableElement: 1, SplitAtCalls: true}
}

// Options tunes Instrument.
type Options struct {
	// Costs is the cost table; nil means DefaultCosts.
	Costs *CostTable
	// InitialBudget is the value the budget global starts with. Leave it 0
	// and call SetBudget before calling into the module; set it only if the
	// module has a start section or is instantiated with wazero's default
	// start functions (_start), which run before SetBudget can be called.
	InitialBudget uint64
	// NoStop leaves out the stop global (StopName): the budget checks at
	// function entries and loop heads compare the counter with 0, which
	// saves a load from the module's globals on every loop iteration. Such
	// a module cannot be stopped by Stop; its host must stop it another way
	// (the runner's sandbox processes are killed at the deadline). Counts
	// are the same either way.
	NoStop bool

	// noPeephole leaves out the peephole pass (peephole.go), for tests
	// that compare the two; peepholeCompares adds its compare + eqz
	// rewrite, off by default (DESIGN.md).
	noPeephole       bool
	peepholeCompares bool
}

// Instrumented is an instrumented module and what its host must know
// about it.
type Instrumented struct {
	// Wasm is the instrumented module.
	Wasm []byte
	// TableElements is the sum of the declared maximum sizes of the
	// module's tables (each must declare one): the most table elements a
	// run can ever hold. The host counts TableElements×TableElementBytes
	// against the run's memory limit.
	TableElements uint64
}

// Instrument rewrites a WASM module so that it counts the instructions it
// executes against a budget held in an exported global named GlobalName,
// and executes unreachable once the budget is overdrawn. Malformed or
// unsupported input gives a *SectionError naming section and byte offset.
func Instrument(wasm []byte, opts Options) ([]byte, error) {
	m, err := InstrumentModule(wasm, opts)
	if err != nil {
		return nil, err
	}
	return m.Wasm, nil
}

// InstrumentModule is Instrument, and also reports what the host must know
// about the module. It checks the module before it rewrites anything: every
// index names something the submitted module defines (so no code can reach
// the counter and budget the meter adds), and every count is within the
// caps in caps.go (so nothing is allocated in proportion to a hostile
// declared count). Errors wrap ErrInvalid, ErrLimit or ErrUnsupported where
// they apply. Operand types are left to the engine that compiles the
// output; instrumentation keeps an ill-typed module ill-typed (DESIGN.md).
func InstrumentModule(wasm []byte, opts Options) (*Instrumented, error) {
	costs := opts.Costs
	if costs == nil {
		def := DefaultCosts()
		costs = &def
	}
	if costs.Default < 0 || costs.MemoryGrow < 0 || costs.GrowPage < 0 || costs.TableElement < 0 {
		return nil, errors.New("meter: instruction costs must not be negative")
	}
	if costs.GrowPage > 1<<31 || costs.TableElement > 1<<31 || costs.BulkByteShift > 32 {
		// Keeps a charge of (2^32−1) × cost well inside an int64.
		return nil, errors.New("meter: a per-page or per-element cost above 2^31, or a byte shift above 32")
	}
	if opts.InitialBudget > math.MaxInt64 {
		return nil, fmt.Errorf("meter: initial budget %d exceeds the maximum %d", opts.InitialBudget, int64(math.MaxInt64))
	}
	if len(wasm) > MaxModuleBytes {
		return nil, &SectionError{Section: "header", Err: fmt.Errorf("the module is %d bytes, above the cap of %d: %w", len(wasm), MaxModuleBytes, ErrLimit)}
	}
	sections, err := splitSections(wasm)
	if err != nil {
		return nil, err
	}
	info, codeSec, err := parseSections(sections)
	if err != nil {
		return nil, err
	}
	if uint64(info.importedGlobals)+uint64(info.definedGlobals) >= math.MaxUint32-1 {
		return nil, &SectionError{Section: "global", Err: errors.New("no room for two more globals")}
	}
	// Ours goes after every existing global, so no index changes.
	globalIdx := info.importedGlobals + info.definedGlobals

	var code []byte
	threaded := false
	if codeSec != nil {
		threaded = info.threadable()
		code, err = rewriteCode(*codeSec, info, globalIdx, costs, opts.NoStop, threaded)
		if errors.Is(err, errNotThreadable) {
			info.unthread("an imported function is referenced")
			threaded = false
			code, err = rewriteCode(*codeSec, info, globalIdx, costs, opts.NoStop, false)
		}
		if err == nil && !opts.noPeephole {
			code, err = peephole(code, info, opts.peepholeCompares)
		}
		if err != nil {
			return nil, err
		}
	} else if info.definedFuncs != 0 {
		return nil, &SectionError{Section: "code", Offset: len(wasm), Err: fmt.Errorf("function section declares %d functions but there is no code section", info.definedFuncs)}
	}

	newGlobal := []byte{0x7e, 0x01, 0x42}
	newGlobal = appendS64(newGlobal, int64(opts.InitialBudget))
	newGlobal = append(newGlobal, 0x0b)
	newExport := appendU32(nil, uint32(len(GlobalName)))
	newExport = append(newExport, GlobalName...)
	newExport = append(newExport, 0x03)
	newExport = appendU32(newExport, globalIdx)
	added := uint32(1) // globals and exports the meter adds
	if !opts.NoStop {
		newGlobal = append(newGlobal, 0x7e, 0x01, 0x42, 0x00, 0x0b) // the stop floor, i64 0
		newExport = appendU32(newExport, uint32(len(StopName)))
		newExport = append(newExport, StopName...)
		newExport = append(newExport, 0x03)
		newExport = appendU32(newExport, globalIdx+1)
		added = 2
	}

	out := make([]byte, 0, len(wasm)+len(wasm)/4+64)
	out = append(out, wasmMagic...)
	out = append(out, wasmVersion...)
	wroteGlobal, wroteExport := false, false
	writeMissing := func(beforeRank int) {
		if !wroteGlobal && beforeRank > sectionRank(secGlobal) {
			out = appendSection(out, secGlobal, append(appendU32(nil, added), newGlobal...))
			wroteGlobal = true
		}
		if !wroteExport && beforeRank > sectionRank(secExport) {
			out = appendSection(out, secExport, append(appendU32(nil, added), newExport...))
			wroteExport = true
		}
	}
	for _, s := range sections {
		if s.id != secCustom {
			writeMissing(sectionRank(s.id))
		}
		switch s.id {
		case secGlobal:
			out = appendSection(out, secGlobal, appendToVec(s.body, info.definedGlobals, added, newGlobal))
			wroteGlobal = true
		case secExport:
			var body []byte
			if threaded {
				body, err = threadedExports(s, info, added)
			} else {
				body, err = appendToVecCounted(s, added)
			}
			if err != nil {
				return nil, err
			}
			out = appendSection(out, secExport, append(body, newExport...))
			wroteExport = true
		case secCustom:
			switch {
			case invalidatedByRewrite(s):
			case threaded:
				out = appendSection(out, secCustom, withoutLocalNames(s.body))
			default:
				out = appendSection(out, secCustom, s.body)
			}
		case secCode:
			out = appendSection(out, secCode, code)
		case secType:
			if threaded {
				out = appendSection(out, secType, threadedTypes(s, info))
			} else {
				out = appendSection(out, secType, s.body)
			}
		case secFunction:
			if threaded {
				out = appendSection(out, secFunction, threadedFunctions(info))
			} else {
				out = appendSection(out, secFunction, s.body)
			}
		case secStart:
			if threaded {
				body, err := threadedStart(s, info)
				if err != nil {
					return nil, err
				}
				out = appendSection(out, secStart, body)
			} else {
				out = appendSection(out, secStart, s.body)
			}
		case secTable:
			body, err := rewriteTables(s)
			if err != nil {
				return nil, err
			}
			out = appendSection(out, secTable, body)
		default:
			out = appendSection(out, s.id, s.body)
		}
	}
	writeMissing(math.MaxInt)
	return &Instrumented{Wasm: out, TableElements: info.tableElements}, nil
}

// invalidatedByRewrite reports whether a custom section describes code
// by byte offset: DWARF (.debug_*) and source maps. Injected code shifts
// every offset, so a trap would name the wrong source line; wazero also
// spent ~300 ms parsing a Rust binary's DWARF per trap. They are dropped.
// The name section is kept: it names functions by index, and no index
// changes.
func invalidatedByRewrite(s section) bool {
	r := &reader{buf: s.body}
	name, err := r.name()
	return err == nil && (strings.HasPrefix(name, ".debug_") || name == "sourceMappingURL")
}

func appendSection(dst []byte, id byte, body []byte) []byte {
	dst = append(dst, id)
	dst = appendU32(dst, uint32(len(body)))
	return append(dst, body...)
}

// appendToVec re-encodes a vector section body of n elements with k more
// elements (elems) appended.
func appendToVec(body []byte, n, k uint32, elems []byte) []byte {
	r := &reader{buf: body}
	_, _ = r.u32() // already validated by the section's parser
	out := appendU32(nil, n+k)
	out = append(out, body[r.pos:]...)
	return append(out, elems...)
}

// appendToVecCounted returns the section body with its count incremented
// by k, ready for k more elements to be appended.
func appendToVecCounted(s section, k uint32) ([]byte, error) {
	r := &reader{buf: s.body, base: s.bodyOff}
	n, err := r.u32()
	if err != nil {
		return nil, secErr(sectionName(s.id), r, err)
	}
	out := appendU32(nil, n+k)
	return append(out, s.body[r.pos:]...), nil
}

func rewriteCode(s section, info *moduleInfo, global uint32, costs *CostTable, noStop, threaded bool) ([]byte, error) {
	r := &reader{buf: s.body, base: s.bodyOff}
	n, err := r.u32()
	if err != nil {
		return nil, secErr("code", r, err)
	}
	if n != info.definedFuncs {
		return nil, secErr("code", r, fmt.Errorf("code section has %d bodies but the function section declares %d", n, info.definedFuncs))
	}
	out := make([]byte, 0, len(s.body)+len(s.body)/3)
	if threaded {
		out = appendU32(out, n+uint32(len(info.wrapped)))
	} else {
		out = appendU32(out, n)
	}
	fr := &funcRewriter{info: info, global: global, costs: costs, noStop: noStop, threaded: threaded}
	var body []byte
	for i := uint32(0); i < n; i++ {
		sizeOff := r.offset()
		size, err := r.u32()
		if err != nil {
			return nil, secErr("code", r, fmt.Errorf("function %d body size: %w", i, err))
		}
		bodyOff := r.offset()
		if size > MaxBodyBytes {
			return nil, &SectionError{Section: "code", Offset: sizeOff, Err: fmt.Errorf("function %d body is %d bytes, above the cap of %d: %w", i, size, MaxBodyBytes, ErrLimit)}
		}
		raw, err := r.bytes(int(size))
		if err != nil {
			return nil, &SectionError{Section: "code", Offset: sizeOff, Err: fmt.Errorf("function %d body claims %d bytes, only %d remain: %w", i, size, len(r.buf)-r.pos, errTruncated)}
		}
		br := &reader{buf: raw, base: bodyOff}
		params := info.paramCounts[info.funcTypes[i]]
		groups, declared, countEnd, err := readLocals(br, params)
		if err != nil {
			return nil, secErr("code", br, fmt.Errorf("function %d locals: %w", i, err))
		}
		localsEnd := br.pos
		// Our counter is one more i64 local after all existing ones;
		// readLocals capped their number at MaxLocals.
		counter := uint64(params) + declared
		expr := &reader{buf: raw[localsEnd:], base: bodyOff + localsEnd}
		fr.hostFacing = !threaded && info.hostFacing[info.importedFuncs+i]
		fr.params, fr.nLocals = params, uint32(counter)
		fr.local, fr.scratchIdx = uint32(counter), uint32(counter)+1
		if threaded {
			fr.local = params // the counter is the last parameter
		}
		fr.resultBlock = info.resultBlock[info.funcTypes[i]]
		if err := fr.scan(expr); err != nil {
			return nil, &SectionError{Section: "code", Offset: expr.offset(), Err: fmt.Errorf("function %d (index %d): %w", i, info.importedFuncs+i, err)}
		}
		if threaded {
			// The counter is a parameter; the declared locals follow it.
			if fr.scratch {
				body = appendU32(body[:0], groups+1)
				body = append(body, raw[countEnd:localsEnd]...)
				body = append(body, 0x01, 0x7f)
			} else {
				body = append(body[:0], raw[:localsEnd]...)
			}
		} else if fr.scratch {
			body = appendU32(body[:0], groups+2)
			body = append(body, raw[countEnd:localsEnd]...)
			body = append(body, 0x01, 0x7e, 0x01, 0x7f)
		} else {
			body = appendU32(body[:0], groups+1)
			body = append(body, raw[countEnd:localsEnd]...)
			body = append(body, 0x01, 0x7e)
		}
		body = fr.emit(body, raw[localsEnd:])
		body = fr.emitTrapTail(body)
		out = appendU32(out, uint32(len(body)))
		out = append(out, body...)
	}
	if !r.eof() {
		return nil, secErr("code", r, errors.New("trailing bytes after the last function body"))
	}
	if threaded {
		for _, f := range info.wrapped {
			out = wrapperBody(out, info, f, global)
		}
	}
	return out, nil
}

// readLocals reads the local declarations and returns the number of groups,
// of declared locals, and the position just after the group count (which
// may be a padded LEB128, so its length is not implied by its value). It
// refuses more than MaxLocals locals (params included) as soon as the
// running sum passes the cap, before anything is allocated for them.
func readLocals(r *reader, params uint32) (groups uint32, declared uint64, countEnd int, err error) {
	if groups, err = r.u32(); err != nil {
		return 0, 0, 0, err
	}
	countEnd = r.pos
	if uint64(groups) > uint64(len(r.buf)-r.pos) {
		return 0, 0, 0, fmt.Errorf("declares %d local groups in %d bytes", groups, len(r.buf)-r.pos)
	}
	for g := uint32(0); g < groups; g++ {
		n, err := r.u32()
		if err != nil {
			return 0, 0, 0, err
		}
		declared += uint64(n)
		if err := checkCap("locals (parameters included)", uint64(params)+declared, MaxLocals); err != nil {
			return 0, 0, 0, err
		}
		if err := parseValType(r); err != nil {
			return 0, 0, 0, err
		}
	}
	return groups, declared, countEnd, nil
}

// ErrNotInstrumented is returned by the helpers for a module that lacks
// the budget global.
var ErrNotInstrumented = errors.New("meter: module has no " + GlobalName + " export; was it instrumented?")

func budgetGlobal(mod api.Module) (api.MutableGlobal, error) {
	if mod == nil {
		return nil, ErrNotInstrumented
	}
	g, ok := mod.ExportedGlobal(GlobalName).(api.MutableGlobal)
	if !ok || g.Type() != api.ValueTypeI64 {
		return nil, ErrNotInstrumented
	}
	return g, nil
}

// SetBudget sets the number of instructions the module may execute from
// now on.
func SetBudget(mod api.Module, n uint64) error {
	if n > math.MaxInt64 {
		return fmt.Errorf("meter: budget %d exceeds the maximum %d", n, int64(math.MaxInt64))
	}
	g, err := budgetGlobal(mod)
	if err != nil {
		return err
	}
	g.Set(n)
	return nil
}

// Remaining returns the budget left. It is negative after the meter
// trapped: the overdrawn amount is the cost of the metered blocks charged
// past the limit.
func Remaining(mod api.Module) (int64, error) {
	g, err := budgetGlobal(mod)
	if err != nil {
		return 0, err
	}
	return int64(g.Get()), nil
}

// Used returns the instructions executed since SetBudget(mod, budget). Once
// the budget is exhausted it returns budget: all of it was consumed.
func Used(mod api.Module, budget uint64) (uint64, error) {
	rem, err := Remaining(mod)
	if err != nil {
		return 0, err
	}
	if rem < 0 {
		return budget, nil
	}
	if uint64(rem) > budget {
		return 0, fmt.Errorf("meter: %d instructions remain, more than the budget %d: was SetBudget called with another value?", rem, budget)
	}
	return budget - uint64(rem), nil
}

// Stop makes the module trap at its next function entry or loop head. It
// may be called from any goroutine while the module runs on wazero's
// compiler (the compiled code reads the flag; wazero's interpreter reads
// it from Go, so there it is a data race: use the context instead).
// Stopped reports it afterwards; the budget is left as it was, so the count
// is that of the work done.
func Stop(mod api.Module) error {
	g, err := stopGlobal(mod)
	if err != nil {
		return err
	}
	g.Set(math.MaxInt64)
	return nil
}

// Stopped reports whether Stop was called on the module.
func Stopped(mod api.Module) bool {
	g, err := stopGlobal(mod)
	return err == nil && g.Get() != 0
}

func stopGlobal(mod api.Module) (api.MutableGlobal, error) {
	if mod == nil {
		return nil, ErrNotInstrumented
	}
	g, ok := mod.ExportedGlobal(StopName).(api.MutableGlobal)
	if !ok || g.Type() != api.ValueTypeI64 {
		return nil, ErrNotInstrumented
	}
	return g, nil
}

// Exhausted reports whether the budget is overdrawn, which means the last
// trap (whatever instruction raised it) was the meter's.
func Exhausted(mod api.Module) bool {
	rem, err := Remaining(mod)
	return err == nil && rem < 0
}

// parseSections reads every section but the code into a moduleInfo,
// checking each against the caps, and returns the code section (nil when
// the module has none).
func parseSections(sections []section) (*moduleInfo, *section, error) {
	info := &moduleInfo{hostFacing: map[uint32]bool{}, refGlobals: map[uint32]bool{}}
	var codeSec *section
	var err error
	for i := range sections {
		s := sections[i]
		switch s.id {
		case secType:
			err = parseTypes(s, info)
		case secImport:
			err = parseImports(s, info)
		case secFunction:
			err = parseFunctions(s, info)
		case secTable:
			err = parseTables(s, info)
		case secMemory:
			err = parseMemories(s, info)
		case secGlobal:
			err = parseGlobals(s, info)
		case secExport:
			err = parseExports(s, info)
		case secStart:
			err = parseStart(s, info)
		case secElement:
			err = parseElements(s, info)
		case secDataCount:
			err = parseDataCount(s, info)
		case secCode:
			codeSec = &sections[i]
		case secData:
			err = parseData(s, info)
		case secTag:
			err = &SectionError{Section: "tag", Offset: s.bodyOff, Err: fmt.Errorf("exception handling: %w", ErrUnsupported)}
		}
		if err != nil {
			return nil, nil, err
		}
	}
	return info, codeSec, nil
}
