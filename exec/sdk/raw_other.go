//go:build !wasip1

package outlayer

import "unsafe"

// Outside a wasip1 build there is no node: every call is Unavailable (and
// result_read explains why).

const unavailable = -int64(CodeUnavailable)

var notWasip1 = []byte("not running under OutLayer (this is not a GOOS=wasip1 build)")

func rawResultRead(out unsafe.Pointer, outCap uint32) int64 {
	if int(outCap) >= len(notWasip1) {
		copy(unsafe.Slice((*byte)(out), outCap), notWasip1)
	}
	return int64(len(notWasip1))
}
func rawHTTPFetch(unsafe.Pointer, uint32, unsafe.Pointer, uint32) int64 { return unavailable }
func rawStorageGet(uint32, unsafe.Pointer, uint32, unsafe.Pointer, uint32) int64 {
	return unavailable
}
func rawStorageSet(uint32, unsafe.Pointer, uint32, unsafe.Pointer, uint32) int64 {
	return unavailable
}
func rawStorageHas(uint32, unsafe.Pointer, uint32) int64    { return unavailable }
func rawStorageDelete(uint32, unsafe.Pointer, uint32) int64 { return unavailable }
func rawStorageSetIfAbsent(uint32, unsafe.Pointer, uint32, unsafe.Pointer, uint32) int64 {
	return unavailable
}
func rawStorageSetIfEquals(uint32, unsafe.Pointer, uint32, unsafe.Pointer, uint32, unsafe.Pointer, uint32) int64 {
	return unavailable
}
func rawStorageIncrement(uint32, unsafe.Pointer, uint32, int64, unsafe.Pointer) int64 {
	return unavailable
}
func rawStorageList(uint32, unsafe.Pointer, uint32, unsafe.Pointer, uint32, uint32, unsafe.Pointer, uint32) int64 {
	return unavailable
}
func rawVRFGenerate(unsafe.Pointer, uint32, unsafe.Pointer, uint32) int64 { return unavailable }
func rawVRFPubkey(unsafe.Pointer, uint32) int64                           { return unavailable }
func rawNearView(unsafe.Pointer, uint32, unsafe.Pointer, uint32) int64    { return unavailable }
