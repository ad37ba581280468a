// Package u128 is the unsigned 128-bit integer the devchain keeps balances in
// (NEAR balances are u128 yoctoNEAR). It is a value type with checked
// arithmetic so an overflow or underflow is an error, never a silent wrap.
package u128

import (
	"encoding/binary"
	"fmt"
	"math/big"
	"math/bits"
)

// U128 is an unsigned 128-bit integer.
type U128 struct{ Hi, Lo uint64 }

// From64 widens a uint64.
func From64(v uint64) U128 { return U128{Lo: v} }

// Zero reports whether u is 0.
func (u U128) Zero() bool { return u.Hi == 0 && u.Lo == 0 }

// Cmp returns -1, 0 or +1.
func (u U128) Cmp(v U128) int {
	switch {
	case u.Hi < v.Hi:
		return -1
	case u.Hi > v.Hi:
		return 1
	case u.Lo < v.Lo:
		return -1
	case u.Lo > v.Lo:
		return 1
	}
	return 0
}

// Add returns u+v and false on overflow.
func (u U128) Add(v U128) (U128, bool) {
	lo, c := bits.Add64(u.Lo, v.Lo, 0)
	hi, c2 := bits.Add64(u.Hi, v.Hi, c)
	return U128{hi, lo}, c2 == 0
}

// Sub returns u-v and false on underflow.
func (u U128) Sub(v U128) (U128, bool) {
	lo, b := bits.Sub64(u.Lo, v.Lo, 0)
	hi, b2 := bits.Sub64(u.Hi, v.Hi, b)
	return U128{hi, lo}, b2 == 0
}

// Mul64 returns u*v and false on overflow.
func (u U128) Mul64(v uint64) (U128, bool) {
	hi1, lo := bits.Mul64(u.Lo, v)
	hi2, lo2 := bits.Mul64(u.Hi, v)
	hi, c := bits.Add64(hi1, lo2, 0)
	return U128{hi, lo}, hi2 == 0 && c == 0
}

// Mul64x64 returns a*b as a U128 (never overflows).
func Mul64x64(a, b uint64) U128 {
	hi, lo := bits.Mul64(a, b)
	return U128{hi, lo}
}

// Div64 returns u/v (v must not be 0).
func (u U128) Div64(v uint64) U128 {
	hi := u.Hi / v
	lo, _ := bits.Div64(u.Hi%v, u.Lo, v)
	return U128{hi, lo}
}

// Big returns u as a big.Int.
func (u U128) Big() *big.Int {
	b := new(big.Int).SetUint64(u.Hi)
	b.Lsh(b, 64)
	return b.Or(b, new(big.Int).SetUint64(u.Lo))
}

// String is the decimal form NEAR's JSON uses for balances.
func (u U128) String() string { return u.Big().String() }

// Parse reads a decimal string.
func Parse(s string) (U128, error) {
	b, ok := new(big.Int).SetString(s, 10)
	if !ok || b.Sign() < 0 || b.BitLen() > 128 {
		return U128{}, fmt.Errorf("%q is not an unsigned 128-bit decimal integer", s)
	}
	return FromBig(b), nil
}

// FromBig converts a big.Int known to fit in 128 bits.
func FromBig(b *big.Int) U128 {
	var buf [16]byte
	b.FillBytes(buf[:])
	return U128{Hi: binary.BigEndian.Uint64(buf[:8]), Lo: binary.BigEndian.Uint64(buf[8:])}
}

// LE returns the 16-byte little-endian form host functions exchange.
func (u U128) LE() [16]byte {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], u.Lo)
	binary.LittleEndian.PutUint64(b[8:], u.Hi)
	return b
}

// FromLE reads the 16-byte little-endian form.
func FromLE(b []byte) U128 {
	return U128{Lo: binary.LittleEndian.Uint64(b[:8]), Hi: binary.LittleEndian.Uint64(b[8:16])}
}
