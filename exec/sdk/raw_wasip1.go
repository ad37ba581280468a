//go:build wasip1

package outlayer

import "unsafe"

//go:wasmimport outlayer_v1 result_read
func rawResultRead(out unsafe.Pointer, outCap uint32) int64

//go:wasmimport outlayer_v1 http_fetch
func rawHTTPFetch(req unsafe.Pointer, reqLen uint32, out unsafe.Pointer, outCap uint32) int64

//go:wasmimport outlayer_v1 storage_get
func rawStorageGet(scope uint32, key unsafe.Pointer, keyLen uint32, out unsafe.Pointer, outCap uint32) int64

//go:wasmimport outlayer_v1 storage_set
func rawStorageSet(scope uint32, key unsafe.Pointer, keyLen uint32, val unsafe.Pointer, valLen uint32) int64

//go:wasmimport outlayer_v1 storage_has
func rawStorageHas(scope uint32, key unsafe.Pointer, keyLen uint32) int64

//go:wasmimport outlayer_v1 storage_delete
func rawStorageDelete(scope uint32, key unsafe.Pointer, keyLen uint32) int64

//go:wasmimport outlayer_v1 storage_set_if_absent
func rawStorageSetIfAbsent(scope uint32, key unsafe.Pointer, keyLen uint32, val unsafe.Pointer, valLen uint32) int64

//go:wasmimport outlayer_v1 storage_set_if_equals
func rawStorageSetIfEquals(scope uint32, key unsafe.Pointer, keyLen uint32, exp unsafe.Pointer, expLen uint32, val unsafe.Pointer, valLen uint32) int64

//go:wasmimport outlayer_v1 storage_increment
func rawStorageIncrement(scope uint32, key unsafe.Pointer, keyLen uint32, delta int64, out unsafe.Pointer) int64

//go:wasmimport outlayer_v1 storage_list
func rawStorageList(scope uint32, prefix unsafe.Pointer, prefixLen uint32, after unsafe.Pointer, afterLen uint32, limit uint32, out unsafe.Pointer, outCap uint32) int64

//go:wasmimport outlayer_v1 vrf_generate
func rawVRFGenerate(seed unsafe.Pointer, seedLen uint32, out unsafe.Pointer, outCap uint32) int64

//go:wasmimport outlayer_v1 vrf_pubkey
func rawVRFPubkey(out unsafe.Pointer, outCap uint32) int64

//go:wasmimport outlayer_v1 near_view
func rawNearView(req unsafe.Pointer, reqLen uint32, out unsafe.Pointer, outCap uint32) int64
