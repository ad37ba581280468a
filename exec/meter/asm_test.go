package meter

// A tiny test-only module assembler: enough to write hand-made modules
// whose instruction counts we can compute on paper.

const (
	tI32 = 0x7f
	tI64 = 0x7e
)

type testFunc struct {
	typ    uint32 // index into testModule.types
	locals []byte // encoded local declarations (without the group count), nil for none
	groups uint32 // number of local groups in locals
	code   []byte // expression, including the final end
}

type testImport struct {
	module, name string
	kind         byte
	desc         []byte
}

type testExport struct {
	name  string
	kind  byte
	index uint32
}

type testModule struct {
	types   [][2][]byte // params, results
	imports []testImport
	funcs   []testFunc
	tables  [][]byte // encoded table types
	memory  bool
	globals [][]byte // encoded global entries
	exports []testExport
	start   *uint32
	elems   [][]byte // encoded element segments
	// dataCount, when set, writes a data count section.
	dataCount *uint32
	data      [][]byte // encoded data segments
	custom    []byte   // body of a custom section written at the end
}

func vec(items ...[]byte) []byte {
	out := appendU32(nil, uint32(len(items)))
	for _, it := range items {
		out = append(out, it...)
	}
	return out
}

func str(s string) []byte { return append(appendU32(nil, uint32(len(s))), s...) }

func sect(id byte, body []byte) []byte { return appendSection(nil, id, body) }

func (m testModule) bytes() []byte {
	out := append([]byte{}, wasmMagic...)
	out = append(out, wasmVersion...)
	if len(m.types) > 0 {
		var ts [][]byte
		for _, t := range m.types {
			e := []byte{0x60}
			e = append(e, appendU32(nil, uint32(len(t[0])))...)
			e = append(e, t[0]...)
			e = append(e, appendU32(nil, uint32(len(t[1])))...)
			e = append(e, t[1]...)
			ts = append(ts, e)
		}
		out = append(out, sect(secType, vec(ts...))...)
	}
	if len(m.imports) > 0 {
		var is [][]byte
		for _, im := range m.imports {
			e := append(str(im.module), str(im.name)...)
			e = append(e, im.kind)
			e = append(e, im.desc...)
			is = append(is, e)
		}
		out = append(out, sect(secImport, vec(is...))...)
	}
	if len(m.funcs) > 0 {
		var fs [][]byte
		for _, f := range m.funcs {
			fs = append(fs, appendU32(nil, f.typ))
		}
		out = append(out, sect(secFunction, vec(fs...))...)
	}
	if len(m.tables) > 0 {
		out = append(out, sect(secTable, vec(m.tables...))...)
	}
	if m.memory {
		out = append(out, sect(secMemory, vec([]byte{0x00, 0x01}))...)
	}
	if len(m.globals) > 0 {
		out = append(out, sect(secGlobal, vec(m.globals...))...)
	}
	if len(m.exports) > 0 {
		var es [][]byte
		for _, e := range m.exports {
			b := append(str(e.name), e.kind)
			es = append(es, appendU32(b, e.index))
		}
		out = append(out, sect(secExport, vec(es...))...)
	}
	if m.start != nil {
		out = append(out, sect(secStart, appendU32(nil, *m.start))...)
	}
	if len(m.elems) > 0 {
		out = append(out, sect(secElement, vec(m.elems...))...)
	}
	if m.dataCount != nil {
		out = append(out, sect(secDataCount, appendU32(nil, *m.dataCount))...)
	}
	if len(m.funcs) > 0 {
		var bs [][]byte
		for _, f := range m.funcs {
			body := appendU32(nil, f.groups)
			body = append(body, f.locals...)
			body = append(body, f.code...)
			bs = append(bs, append(appendU32(nil, uint32(len(body))), body...))
		}
		out = append(out, sect(secCode, vec(bs...))...)
	}
	if len(m.data) > 0 {
		out = append(out, sect(secData, vec(m.data...))...)
	}
	if m.custom != nil {
		out = append(out, sect(secCustom, append(str("test.custom"), m.custom...))...)
	}
	return out
}

// Instruction helpers; each returns the encoded instruction.
func i32c(v int32) []byte  { return appendS64([]byte{0x41}, int64(v)) }
func i64c(v int64) []byte  { return appendS64([]byte{0x42}, v) }
func lget(i uint32) []byte { return appendU32([]byte{0x20}, i) }
func lset(i uint32) []byte { return appendU32([]byte{0x21}, i) }
func ltee(i uint32) []byte { return appendU32([]byte{0x22}, i) }
func gget(i uint32) []byte { return appendU32([]byte{0x23}, i) }
func gset(i uint32) []byte { return appendU32([]byte{0x24}, i) }
func br(l uint32) []byte   { return appendU32([]byte{0x0c}, l) }
func brIf(l uint32) []byte { return appendU32([]byte{0x0d}, l) }
func call(f uint32) []byte { return appendU32([]byte{0x10}, f) }
func brTable(def uint32, ls ...uint32) []byte {
	out := appendU32([]byte{0x0e}, uint32(len(ls)))
	for _, l := range ls {
		out = appendU32(out, l)
	}
	return appendU32(out, def)
}

var (
	opBlock   = []byte{0x02, 0x40}
	opLoop    = []byte{0x03, 0x40}
	opIf      = []byte{0x04, 0x40}
	opIfI32   = []byte{0x04, tI32}
	opElse    = []byte{0x05}
	opEnd     = []byte{0x0b}
	opNop     = []byte{0x01}
	opDrop    = []byte{0x1a}
	opReturn  = []byte{0x0f}
	opI32Add  = []byte{0x6a}
	opI32Sub  = []byte{0x6b}
	opI32Mul  = []byte{0x6c}
	opI32DivU = []byte{0x6e}
	opI32Eqz  = []byte{0x45}
)

func code(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}
