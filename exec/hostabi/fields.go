package hostabi

import (
	"encoding/binary"
	"fmt"
)

// Fields is the ABI's one compound encoding: each field as a 4-byte
// little-endian length followed by its bytes, one after another. HTTP
// requests and responses, VRF answers and key lists use it.

// AppendFields appends the encoding of fields to dst.
func AppendFields(dst []byte, fields ...[]byte) []byte {
	for _, f := range fields {
		dst = binary.LittleEndian.AppendUint32(dst, uint32(len(f)))
		dst = append(dst, f...)
	}
	return dst
}

// SplitFields decodes b into its fields; the fields alias b.
func SplitFields(b []byte) ([][]byte, error) {
	var out [][]byte
	for len(b) > 0 {
		if len(b) < 4 {
			return nil, fmt.Errorf("a field's length needs 4 bytes, %d are left", len(b))
		}
		n := binary.LittleEndian.Uint32(b)
		b = b[4:]
		if uint64(n) > uint64(len(b)) {
			return nil, fmt.Errorf("a field claims %d bytes, %d are left", n, len(b))
		}
		out = append(out, b[:n:n])
		b = b[n:]
	}
	return out, nil
}
