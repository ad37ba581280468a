package exec_test

// A few WebAssembly modules written by hand, for behaviour the Go toolchain
// cannot be made to produce on demand (a trap, an exact instruction count,
// a bad import) and for the smallest possible program.

func uleb(v uint64) []byte {
	var out []byte
	for {
		b := byte(v & 0x7f)
		v >>= 7
		if v != 0 {
			out = append(out, b|0x80)
			continue
		}
		return append(out, b)
	}
}

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func vec(items ...[]byte) []byte { return cat(uleb(uint64(len(items))), cat(items...)) }

func wname(s string) []byte { return cat(uleb(uint64(len(s))), []byte(s)) }

func section(id byte, payload []byte) []byte {
	return cat([]byte{id}, uleb(uint64(len(payload))), payload)
}

// Opcodes used below.
const (
	opUnreachable = 0x00
	opCall        = 0x10
	opDrop        = 0x1a
	opI32Const    = 0x41
	opI32DivS     = 0x6d
	opMemoryGrow  = 0x40
	opI32Eqz      = 0x45
	opIf          = 0x04
	opBlock       = 0x02
	opLoop        = 0x03
	opEnd         = 0x0b
	blockEmpty    = 0x40
)

// Function indexes in commandModule: the two WASI imports come first.
const (
	fnFdWrite  = 0
	fnProcExit = 1
)

// moduleSpec describes a command module: _start runs code.
type moduleSpec struct {
	code        []byte // _start's instructions, without the final end
	data        []byte // placed at address 0
	memPages    uint32
	extraImport string // a function import "env.<name>" of type () -> ()
	noStart     bool   // export the function as "main" instead of "_start"
	noMemExport bool
	locals      []byte // _start's local declarations, group count included
	table       []byte // a table type: writes a table section
	// more are the instructions (without the final end) of more functions
	// of type () -> (), after _start; none of them is called.
	more [][]byte
}

func (s moduleSpec) wasm() []byte {
	typeVoid := []byte{0x60, 0x00, 0x00}
	typeExit := []byte{0x60, 0x01, 0x7f, 0x00}
	typeWrite := []byte{0x60, 0x04, 0x7f, 0x7f, 0x7f, 0x7f, 0x01, 0x7f}
	imports := [][]byte{
		cat(wname("wasi_snapshot_preview1"), wname("fd_write"), []byte{0x00}, uleb(2)),
		cat(wname("wasi_snapshot_preview1"), wname("proc_exit"), []byte{0x00}, uleb(1)),
	}
	startIndex := uint64(2)
	if s.extraImport != "" {
		imports = append(imports, cat(wname("env"), wname(s.extraImport), []byte{0x00}, uleb(0)))
		startIndex++
	}
	pages := s.memPages
	if pages == 0 {
		pages = 1
	}
	startName := "_start"
	if s.noStart {
		startName = "main"
	}
	exports := [][]byte{cat(wname(startName), []byte{0x00}, uleb(startIndex))}
	if !s.noMemExport {
		exports = append(exports, cat(wname("memory"), []byte{0x02}, uleb(0)))
	}
	locals := s.locals
	if locals == nil {
		locals = uleb(0) // no locals
	}
	body := cat(locals, s.code, []byte{opEnd})
	var table []byte
	if s.table != nil {
		table = section(4, vec(s.table))
	}
	funcs := [][]byte{uleb(0)}
	bodies := [][]byte{cat(uleb(uint64(len(body))), body)}
	for _, code := range s.more {
		b := cat(uleb(0), code, []byte{opEnd})
		funcs = append(funcs, uleb(0))
		bodies = append(bodies, cat(uleb(uint64(len(b))), b))
	}
	mod := cat(
		[]byte{0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00},
		section(1, vec(typeVoid, typeExit, typeWrite)),
		section(2, vec(imports...)),
		section(3, vec(funcs...)),
		table,
		section(5, vec(cat([]byte{0x00}, uleb(uint64(pages))))),
		section(7, vec(exports...)),
		section(10, vec(bodies...)),
	)
	if len(s.data) > 0 {
		seg := cat([]byte{0x00, opI32Const, 0x00, opEnd}, uleb(uint64(len(s.data))), s.data)
		mod = append(mod, section(11, vec(seg))...)
	}
	return mod
}

func i32(v int32) []byte {
	// signed LEB128
	var out []byte
	for {
		b := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && b&0x40 == 0) || (v == -1 && b&0x40 != 0) {
			return append(out, b)
		}
		out = append(out, b|0x80)
	}
}

// helloModule writes "hello" to stdout with one fd_write and returns: six
// instructions (four constants, the call, the drop).
func helloModule() []byte {
	data := make([]byte, 16, 21)
	data[0] = 16 // iovec.buf = 16
	data[4] = 5  // iovec.len = 5
	data = append(data, "hello"...)
	code := cat(
		[]byte{opI32Const}, i32(1), // fd 1
		[]byte{opI32Const}, i32(0), // iovs
		[]byte{opI32Const}, i32(1), // iovs_len
		[]byte{opI32Const}, i32(8), // where to store nwritten
		[]byte{opCall}, uleb(fnFdWrite),
		[]byte{opDrop},
	)
	return moduleSpec{code: code, data: data}.wasm()
}

// divideByZeroModule traps with "integer divide by zero".
func divideByZeroModule() []byte {
	return moduleSpec{code: cat([]byte{opI32Const}, i32(1), []byte{opI32Const}, i32(0), []byte{opI32DivS, opDrop})}.wasm()
}

// exitModule calls proc_exit(code) without writing anything.
func exitModule(code int32) []byte {
	return moduleSpec{code: cat([]byte{opI32Const}, i32(code), []byte{opCall}, uleb(fnProcExit))}.wasm()
}

// growModule grows its memory by pages and hits unreachable if that fails,
// the way a C program aborts when malloc returns NULL.
func growModule(pages int32) []byte {
	return moduleSpec{code: cat(
		[]byte{opI32Const}, i32(pages), []byte{opMemoryGrow, 0x00},
		[]byte{opI32Const}, i32(-1), []byte{0x46}, // i32.eq
		[]byte{opIf, blockEmpty, opUnreachable, opEnd},
	)}.wasm()
}
