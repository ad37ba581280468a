package outlayer

import (
	"encoding/binary"
	"fmt"
	"unsafe"
)

// ptr is the address of b's first byte (nil for an empty slice, which the
// host reads as zero bytes).
func ptr(b []byte) unsafe.Pointer { return unsafe.Pointer(unsafe.SliceData(b)) }

// failed turns a negative result into an *Error with the node's message.
func failed(fn string, r int64) error {
	msg := readLast()
	return &Error{Fn: fn, Code: Code(-r), Message: string(msg)}
}

// readLast reads the last call's answer or message with result_read.
func readLast() []byte {
	n := rawResultRead(nil, 0)
	if n <= 0 {
		return nil
	}
	buf := make([]byte, n)
	rawResultRead(ptr(buf), uint32(n))
	return buf
}

// initialCap is the output buffer offered first; longer answers cost a
// second call (result_read), which moves only memory.
const initialCap = 4096

// bytesCall runs a call whose answer is bytes.
func bytesCall(fn string, f func(out unsafe.Pointer, outCap uint32) int64) ([]byte, error) {
	buf := make([]byte, initialCap)
	n := f(ptr(buf), uint32(len(buf)))
	if n < 0 {
		return nil, failed(fn, n)
	}
	if n <= int64(len(buf)) {
		return buf[:n], nil
	}
	return readLast(), nil
}

// boolCall runs a call whose answer is 0 or 1.
func boolCall(fn string, r int64) (bool, error) {
	if r < 0 {
		return false, failed(fn, r)
	}
	return r == 1, nil
}

// fields encodes the ABI's compound values: each a u32 LE length and the
// bytes.
func fields(fs ...[]byte) []byte {
	var out []byte
	for _, f := range fs {
		out = binary.LittleEndian.AppendUint32(out, uint32(len(f)))
		out = append(out, f...)
	}
	return out
}

func splitFields(b []byte) ([][]byte, error) {
	var out [][]byte
	for len(b) > 0 {
		if len(b) < 4 {
			return nil, fmt.Errorf("outlayer: malformed answer from the node")
		}
		n := binary.LittleEndian.Uint32(b)
		b = b[4:]
		if uint64(n) > uint64(len(b)) {
			return nil, fmt.Errorf("outlayer: malformed answer from the node")
		}
		out = append(out, b[:n:n])
		b = b[n:]
	}
	return out, nil
}
