package near

import (
	"encoding/json"
	"fmt"
	"math/big"
	"math/bits"
	"strings"
)

// U128 is an unsigned 128-bit integer: NEAR balances in yoctoNEAR, deposits,
// allowances. It is a comparable value type (usable as a map key and with ==).
// JSON encodes it as a decimal string, as NEAR does.
type U128 struct {
	Hi, Lo uint64
}

// Common amounts.
var (
	// OneNEAR is 10^24 yoctoNEAR.
	OneNEAR = U128{Hi: 0x0000000000000d3c2, Lo: 0x1bcecceda1000000}
	// MaxU128 is 2^128-1.
	MaxU128 = U128{Hi: ^uint64(0), Lo: ^uint64(0)}
)

// NewU128 converts a uint64.
func NewU128(v uint64) U128 { return U128{Lo: v} }

// IsZero reports whether u is 0.
func (u U128) IsZero() bool { return u.Hi == 0 && u.Lo == 0 }

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

// Add returns u+v and false if the sum overflowed.
func (u U128) Add(v U128) (U128, bool) {
	lo, c := bits.Add64(u.Lo, v.Lo, 0)
	hi, c2 := bits.Add64(u.Hi, v.Hi, c)
	return U128{Hi: hi, Lo: lo}, c2 == 0
}

// Sub returns u-v and false if v > u (the result is then meaningless).
func (u U128) Sub(v U128) (U128, bool) {
	lo, b := bits.Sub64(u.Lo, v.Lo, 0)
	hi, b2 := bits.Sub64(u.Hi, v.Hi, b)
	return U128{Hi: hi, Lo: lo}, b2 == 0
}

// Mul64 returns u*v and false on overflow.
func (u U128) Mul64(v uint64) (U128, bool) {
	hiLo, lo := bits.Mul64(u.Lo, v)
	hiHi, hi := bits.Mul64(u.Hi, v)
	hi, c := bits.Add64(hi, hiLo, 0)
	return U128{Hi: hi, Lo: lo}, hiHi == 0 && c == 0
}

// DivMod64 returns u/v and u%v. v must not be 0.
func (u U128) DivMod64(v uint64) (U128, uint64) {
	qHi := u.Hi / v
	r := u.Hi % v
	qLo, r := bits.Div64(r, u.Lo, v)
	return U128{Hi: qHi, Lo: qLo}, r
}

// Big returns u as a big.Int.
func (u U128) Big() *big.Int {
	b := new(big.Int).SetUint64(u.Hi)
	b.Lsh(b, 64)
	return b.Or(b, new(big.Int).SetUint64(u.Lo))
}

// U128FromBig converts b, failing if it is negative or does not fit.
func U128FromBig(b *big.Int) (U128, error) {
	if b.Sign() < 0 || b.BitLen() > 128 {
		return U128{}, fmt.Errorf("%s does not fit in an unsigned 128-bit integer", b)
	}
	lo := new(big.Int).And(b, new(big.Int).SetUint64(^uint64(0)))
	hi := new(big.Int).Rsh(b, 64)
	return U128{Hi: hi.Uint64(), Lo: lo.Uint64()}, nil
}

// String is the decimal form.
func (u U128) String() string {
	if u.Hi == 0 {
		return fmt.Sprint(u.Lo)
	}
	// Peel off 19 decimal digits at a time.
	const chunk = 10_000_000_000_000_000_000
	var parts []uint64
	for !u.IsZero() {
		var r uint64
		u, r = u.DivMod64(chunk)
		parts = append(parts, r)
	}
	var sb strings.Builder
	sb.WriteString(fmt.Sprint(parts[len(parts)-1]))
	for i := len(parts) - 2; i >= 0; i-- {
		fmt.Fprintf(&sb, "%019d", parts[i])
	}
	return sb.String()
}

// ParseU128 parses a decimal integer (yoctoNEAR).
func ParseU128(s string) (U128, error) {
	if s == "" {
		return U128{}, fmt.Errorf("empty number")
	}
	var u U128
	for _, c := range s {
		if c < '0' || c > '9' {
			return U128{}, fmt.Errorf("%q is not a decimal integer", s)
		}
		var ok1, ok2 bool
		u, ok1 = u.Mul64(10)
		u, ok2 = u.Add(NewU128(uint64(c - '0')))
		if !ok1 || !ok2 {
			return U128{}, fmt.Errorf("%q does not fit in an unsigned 128-bit integer", s)
		}
	}
	return u, nil
}

// ParseNEAR parses an amount in NEAR with up to 24 decimals ("1", "1.5",
// "0.000001") into yoctoNEAR.
func ParseNEAR(s string) (U128, error) {
	s = strings.TrimSpace(s)
	whole, frac, _ := strings.Cut(s, ".")
	if whole == "" && frac == "" {
		return U128{}, fmt.Errorf("%q is not a NEAR amount", s)
	}
	if len(frac) > 24 {
		return U128{}, fmt.Errorf("%q has more than 24 decimals (1 yoctoNEAR = 10^-24 NEAR)", s)
	}
	if whole == "" {
		whole = "0"
	}
	digits := whole + frac + strings.Repeat("0", 24-len(frac))
	u, err := ParseU128(digits)
	if err != nil {
		return U128{}, fmt.Errorf("%q is not a NEAR amount: %w", s, err)
	}
	return u, nil
}

// FormatNEAR formats yoctoNEAR as NEAR without trailing zeros ("1.5").
func FormatNEAR(u U128) string {
	s := u.String()
	if len(s) <= 24 {
		s = strings.Repeat("0", 25-len(s)) + s
	}
	whole, frac := s[:len(s)-24], strings.TrimRight(s[len(s)-24:], "0")
	if frac == "" {
		return whole
	}
	return whole + "." + frac
}

// MarshalJSON encodes u as a decimal string.
func (u U128) MarshalJSON() ([]byte, error) { return []byte(`"` + u.String() + `"`), nil }

// UnmarshalJSON accepts a decimal string (NEAR's form) or a bare JSON number.
func (u *U128) UnmarshalJSON(b []byte) error {
	var s string
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
	} else {
		s = string(b)
	}
	v, err := ParseU128(s)
	if err != nil {
		return fmt.Errorf("decoding a u128 amount: %w", err)
	}
	*u = v
	return nil
}
