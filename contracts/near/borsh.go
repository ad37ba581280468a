package near

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf8"
)

// Writer appends borsh encodings to a byte slice. It never fails; Bytes returns
// the result.
type Writer struct {
	buf []byte
}

// NewWriter returns a Writer with room for sizeHint bytes.
func NewWriter(sizeHint int) *Writer { return &Writer{buf: make([]byte, 0, sizeHint)} }

// Bytes returns the encoded bytes (aliasing the Writer's buffer).
func (w *Writer) Bytes() []byte { return w.buf }

// U8 writes one byte.
func (w *Writer) U8(v uint8) { w.buf = append(w.buf, v) }

// Bool writes a bool as one byte.
func (w *Writer) Bool(v bool) {
	if v {
		w.U8(1)
	} else {
		w.U8(0)
	}
}

// U32 writes a little-endian u32.
func (w *Writer) U32(v uint32) { w.buf = binary.LittleEndian.AppendUint32(w.buf, v) }

// U64 writes a little-endian u64.
func (w *Writer) U64(v uint64) { w.buf = binary.LittleEndian.AppendUint64(w.buf, v) }

// U128 writes a little-endian u128.
func (w *Writer) U128(v U128) {
	w.U64(v.Lo)
	w.U64(v.Hi)
}

// Fixed writes bytes without a length prefix (fixed-size arrays).
func (w *Writer) Fixed(b []byte) { w.buf = append(w.buf, b...) }

// ByteVec writes a Vec<u8>: u32 length then the bytes.
func (w *Writer) ByteVec(b []byte) {
	w.U32(uint32(len(b)))
	w.buf = append(w.buf, b...)
}

// String writes a borsh String (u32 length then UTF-8 bytes).
func (w *Writer) String(s string) {
	w.U32(uint32(len(s)))
	w.buf = append(w.buf, s...)
}

// ErrShortBuffer is returned (wrapped) when the input ends in the middle of a value.
var ErrShortBuffer = errors.New("borsh: unexpected end of input")

// Reader decodes borsh from a byte slice. The first error sticks: later reads
// return zero values and Err reports the first failure, so decoders can read a
// whole struct and check once.
type Reader struct {
	buf []byte
	off int
	err error
}

// NewReader returns a Reader over b.
func NewReader(b []byte) *Reader { return &Reader{buf: b} }

// Err returns the first decoding error, if any.
func (r *Reader) Err() error { return r.err }

// Remaining is the number of unread bytes.
func (r *Reader) Remaining() int { return len(r.buf) - r.off }

// Offset is the number of bytes consumed so far.
func (r *Reader) Offset() int { return r.off }

// Fail records err (if no earlier error) so decoders of nested types can
// report semantic errors through the same channel.
func (r *Reader) Fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

// Failf records a formatted error.
func (r *Reader) Failf(format string, a ...any) { r.Fail(fmt.Errorf(format, a...)) }

// Finish reports the first error, or an error if unread bytes remain.
func (r *Reader) Finish() error {
	if r.err != nil {
		return r.err
	}
	if r.Remaining() != 0 {
		return fmt.Errorf("borsh: %d unexpected trailing bytes at offset %d", r.Remaining(), r.off)
	}
	return nil
}

func (r *Reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > r.Remaining() {
		r.err = fmt.Errorf("%w: need %d bytes at offset %d, have %d", ErrShortBuffer, n, r.off, r.Remaining())
		return nil
	}
	b := r.buf[r.off : r.off+n]
	r.off += n
	return b
}

// U8 reads one byte.
func (r *Reader) U8() uint8 {
	b := r.take(1)
	if b == nil {
		return 0
	}
	return b[0]
}

// Bool reads a bool, rejecting bytes other than 0 and 1 as borsh does.
func (r *Reader) Bool() bool {
	switch v := r.U8(); v {
	case 0:
		return false
	case 1:
		return true
	default:
		r.Failf("borsh: invalid bool byte %d", v)
		return false
	}
}

// U32 reads a little-endian u32.
func (r *Reader) U32() uint32 {
	b := r.take(4)
	if b == nil {
		return 0
	}
	return binary.LittleEndian.Uint32(b)
}

// U64 reads a little-endian u64.
func (r *Reader) U64() uint64 {
	b := r.take(8)
	if b == nil {
		return 0
	}
	return binary.LittleEndian.Uint64(b)
}

// U128 reads a little-endian u128.
func (r *Reader) U128() U128 {
	lo := r.U64()
	hi := r.U64()
	return U128{Hi: hi, Lo: lo}
}

// Fixed reads n bytes into a fresh slice.
func (r *Reader) Fixed(n int) []byte {
	b := r.take(n)
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}

// FixedInto fills dst.
func (r *Reader) FixedInto(dst []byte) {
	if b := r.take(len(dst)); b != nil {
		copy(dst, b)
	}
}

// Len reads a u32 length prefix for items of at least minItemSize bytes each
// and rejects lengths that cannot fit in the remaining input, so hostile input
// cannot make the decoder allocate more than the input size.
func (r *Reader) Len(minItemSize int) int {
	n := r.U32()
	if r.err != nil {
		return 0
	}
	if minItemSize < 1 {
		minItemSize = 1
	}
	if uint64(n)*uint64(minItemSize) > uint64(r.Remaining()) {
		r.Failf("%w: length %d at offset %d exceeds the %d remaining bytes", ErrShortBuffer, n, r.off-4, r.Remaining())
		return 0
	}
	return int(n)
}

// ByteVec reads a Vec<u8>.
func (r *Reader) ByteVec() []byte {
	n := r.Len(1)
	if r.err != nil {
		return nil
	}
	return r.Fixed(n)
}

// String reads a borsh String and requires valid UTF-8 (as Rust's String does).
func (r *Reader) String() string {
	n := r.Len(1)
	b := r.take(n)
	if r.err != nil {
		return ""
	}
	if !utf8.Valid(b) {
		r.Failf("borsh: string at offset %d is not valid UTF-8", r.off-n)
		return ""
	}
	return string(b)
}
