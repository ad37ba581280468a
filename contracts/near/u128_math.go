package near

import (
	"encoding/binary"
	"math/bits"
)

// U128Product returns a*b, which always fits in 128 bits (gas times gas
// price, for example).
func U128Product(a, b uint64) U128 {
	hi, lo := bits.Mul64(a, b)
	return U128{Hi: hi, Lo: lo}
}

// LittleEndian is u's 16-byte little-endian form, the layout NEAR's host
// functions use for balances in WASM memory.
func (u U128) LittleEndian() [16]byte {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], u.Lo)
	binary.LittleEndian.PutUint64(b[8:], u.Hi)
	return b
}

// U128FromLittleEndian reads the 16-byte little-endian form.
func U128FromLittleEndian(b [16]byte) U128 {
	return U128{Lo: binary.LittleEndian.Uint64(b[:8]), Hi: binary.LittleEndian.Uint64(b[8:])}
}
