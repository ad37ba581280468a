package meter

import "errors"

// Caps on the shape of a module. The meter refuses a module past any of
// them before it (or the engine that compiles its output) allocates
// anything in proportion to a declared count, so a few bytes that declare
// billions of locals or table elements are refused rather than exhausting
// the host. The values follow wasmparser's (the validator wasmtime uses)
// where it has one; see DESIGN.md.
const (
	// MaxModuleBytes is the largest module accepted.
	MaxModuleBytes = 32 << 20
	// MaxTypes, MaxFunctions, MaxImports, MaxExports and MaxGlobals bound
	// the entries of their index spaces (imports included).
	MaxTypes     = 1_000_000
	MaxFunctions = 1_000_000
	MaxImports   = 100_000
	MaxExports   = 100_000
	MaxGlobals   = 1_000_000
	// MaxParams and MaxResults bound a function type.
	MaxParams  = 1000
	MaxResults = 1000
	// MaxLocals bounds a function's locals, parameters included.
	MaxLocals = 50_000
	// MaxBodyBytes bounds one function body.
	MaxBodyBytes = 2 << 20
	// MaxNesting bounds how deeply blocks, loops and ifs nest in a body.
	MaxNesting = 10_000
	// MaxLoopNesting bounds how many loops enclose one another. wazero's
	// compile time grows about with the cube of it once every loop head
	// updates the meter's counter (10,000 nested loops: 6 s to compile
	// unmetered, 177 s metered); Go's output nests at most 2.
	MaxLoopNesting = 100
	// MaxTables bounds the tables of a module (imports included).
	MaxTables = 100
	// MaxTableElements bounds the declared maximum of one table, and the
	// sum over all tables. Every table must declare a maximum: its
	// elements are counted against the run's memory limit
	// (Module.TableBytes).
	MaxTableElements = 10_000_000
	// MaxElementSegments and MaxDataSegments bound the segment counts;
	// MaxSegmentElements the elements of one element segment. A data
	// segment's bytes are in the module, so MaxModuleBytes bounds them.
	MaxElementSegments = 100_000
	MaxDataSegments    = 100_000
	MaxSegmentElements = MaxTableElements
)

// TableElementBytes is what one table element costs the host (wazero keeps
// a machine word per element); Module.TableBytes counts with it.
const TableElementBytes = 8

// ErrLimit is wrapped by errors for a module that exceeds one of the caps
// above.
var ErrLimit = errors.New("module exceeds a cap")

// ErrInvalid is wrapped by errors for a module that is not valid
// WebAssembly in a way the meter must see to count it correctly: an index
// outside the module's own index spaces, a branch out of the function.
var ErrInvalid = errors.New("invalid module")
