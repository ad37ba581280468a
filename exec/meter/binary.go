package meter

import (
	"errors"
	"fmt"
)

// errTruncated marks a read past the end of the input. It is wrapped with
// the section and offset by the caller that knows them.
var errTruncated = errors.New("unexpected end of input")

// reader walks a byte slice holding part of a WASM binary. base is the
// offset of buf[0] within the whole module, so that errors can name the
// absolute byte offset a person would look up in a hex dump.
type reader struct {
	buf  []byte
	pos  int
	base int
}

func (r *reader) offset() int { return r.base + r.pos }

func (r *reader) eof() bool { return r.pos >= len(r.buf) }

func (r *reader) byte() (byte, error) {
	if r.pos >= len(r.buf) {
		return 0, errTruncated
	}
	b := r.buf[r.pos]
	r.pos++
	return b, nil
}

func (r *reader) bytes(n int) ([]byte, error) {
	if n < 0 || n > len(r.buf)-r.pos {
		return nil, errTruncated
	}
	b := r.buf[r.pos : r.pos+n]
	r.pos += n
	return b, nil
}

// u32 reads an unsigned LEB128 value of at most 32 bits, rejecting
// over-long encodings the way the specification does.
func (r *reader) u32() (uint32, error) {
	var result uint64
	for i := 0; i < 5; i++ {
		b, err := r.byte()
		if err != nil {
			return 0, err
		}
		result |= uint64(b&0x7f) << (7 * i)
		if b&0x80 == 0 {
			if i == 4 && b&0x70 != 0 {
				return 0, errors.New("u32 LEB128 value overflows 32 bits")
			}
			return uint32(result), nil
		}
	}
	return 0, errors.New("u32 LEB128 encoding is longer than 5 bytes")
}

// signed reads a signed LEB128 value of at most bits bits (32, 33 or 64).
func (r *reader) signed(bits int) (int64, error) {
	maxBytes := (bits + 6) / 7
	var result int64
	var shift uint
	for i := 0; i < maxBytes; i++ {
		b, err := r.byte()
		if err != nil {
			return 0, err
		}
		result |= int64(b&0x7f) << shift
		shift += 7
		if b&0x80 == 0 {
			if i == maxBytes-1 {
				// The unused high bits of the last byte must all equal the sign bit.
				used := bits - 7*(maxBytes-1) // bits carried by the last byte
				rest := int8(b<<1) >> uint(used)
				if rest != 0 && rest != -1 {
					return 0, fmt.Errorf("s%d LEB128 value out of range", bits)
				}
			}
			if shift < 64 && b&0x40 != 0 {
				result |= -1 << shift
			}
			return result, nil
		}
	}
	return 0, fmt.Errorf("s%d LEB128 encoding is longer than %d bytes", bits, maxBytes)
}

// name reads a length-prefixed UTF-8 name. Validity of the UTF-8 is left
// to the engine; we only need the bytes.
func (r *reader) name() (string, error) {
	n, err := r.u32()
	if err != nil {
		return "", err
	}
	b, err := r.bytes(int(n))
	if err != nil {
		return "", err
	}
	return string(b), nil
}

func appendU32(dst []byte, v uint32) []byte {
	for {
		b := byte(v & 0x7f)
		v >>= 7
		if v != 0 {
			dst = append(dst, b|0x80)
			continue
		}
		return append(dst, b)
	}
}

func appendS64(dst []byte, v int64) []byte {
	for {
		b := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && b&0x40 == 0) || (v == -1 && b&0x40 != 0) {
			return append(dst, b)
		}
		dst = append(dst, b|0x80)
	}
}
