package near

import (
	"math/big"
	"testing"
)

// TestU128ArithmeticAgainstBig checks the checked arithmetic, the product
// and the little-endian form against math/big on edge and mixed values.
func TestU128ArithmeticAgainstBig(t *testing.T) {
	max64 := ^uint64(0)
	values := []U128{{}, NewU128(1), NewU128(max64), {Hi: 1}, {Hi: 1, Lo: max64}, OneNEAR,
		{Hi: max64 >> 1, Lo: 12345}, {Hi: max64, Lo: max64 - 1}, MaxU128}
	limit := new(big.Int).Lsh(big.NewInt(1), 128)
	for _, a := range values {
		for _, b := range values {
			ab, bb := a.Big(), b.Big()
			sum := new(big.Int).Add(ab, bb)
			if got, ok := a.Add(b); ok != (sum.Cmp(limit) < 0) || (ok && got.Big().Cmp(sum) != 0) {
				t.Errorf("%s + %s = %s, %v; big says %s", a, b, got, ok, sum)
			}
			diff := new(big.Int).Sub(ab, bb)
			if got, ok := a.Sub(b); ok != (diff.Sign() >= 0) || (ok && got.Big().Cmp(diff) != 0) {
				t.Errorf("%s - %s = %s, %v; big says %s", a, b, got, ok, diff)
			}
			if got, want := a.Cmp(b), ab.Cmp(bb); got != want {
				t.Errorf("cmp(%s, %s) = %d, want %d", a, b, got, want)
			}
			prod := new(big.Int).Mul(ab, new(big.Int).SetUint64(b.Lo))
			if got, ok := a.Mul64(b.Lo); ok != (prod.Cmp(limit) < 0) || (ok && got.Big().Cmp(prod) != 0) {
				t.Errorf("%s * %d = %s, %v; big says %s", a, b.Lo, got, ok, prod)
			}
			p := new(big.Int).Mul(new(big.Int).SetUint64(a.Lo), new(big.Int).SetUint64(b.Hi))
			if got := U128Product(a.Lo, b.Hi); got.Big().Cmp(p) != 0 {
				t.Errorf("U128Product(%d, %d) = %s, want %s", a.Lo, b.Hi, got, p)
			}
		}
		le := a.LittleEndian()
		// big.Int's bytes are big-endian: reverse them to compare.
		var want [16]byte
		be := a.Big().FillBytes(make([]byte, 16))
		for i := range be {
			want[15-i] = be[i]
		}
		if le != want {
			t.Errorf("LittleEndian(%s) = %x, want %x", a, le, want)
		}
		if back := U128FromLittleEndian(le); back != a {
			t.Errorf("U128FromLittleEndian(LittleEndian(%s)) = %s", a, back)
		}
	}
}
