package outlayer

import (
	"encoding/binary"
	"unsafe"
)

// Scope selects whose storage a call reads and writes.
type Scope uint32

const (
	// ScopeUser is private to this program and the request's caller.
	ScopeUser Scope = 0
	// ScopeWorker is shared by every caller of this program; callers
	// cannot read it directly.
	ScopeWorker Scope = 1
	// ScopePublic is shared by every caller and readable by anyone
	// through the node's API.
	ScopePublic Scope = 2
)

// Storage is a program's persistent key-value storage in one scope. A run's
// writes take effect only if the run succeeds, atomically with its result,
// and only if nothing it read changed meanwhile (the node runs it again
// otherwise); reads see the run's own writes.
type Storage struct{ Scope Scope }

// The three scopes.
var (
	UserStorage   = Storage{ScopeUser}
	WorkerStorage = Storage{ScopeWorker}
	PublicStorage = Storage{ScopePublic}
)

// Get returns key's value, or an error matching ErrNotFound.
func (s Storage) Get(key string) ([]byte, error) {
	k := []byte(key)
	return bytesCall("storage_get", func(out unsafe.Pointer, outCap uint32) int64 {
		return rawStorageGet(uint32(s.Scope), ptr(k), uint32(len(k)), out, outCap)
	})
}

// Set stores value under key.
func (s Storage) Set(key string, value []byte) error {
	k := []byte(key)
	if r := rawStorageSet(uint32(s.Scope), ptr(k), uint32(len(k)), ptr(value), uint32(len(value))); r < 0 {
		return failed("storage_set", r)
	}
	return nil
}

// Has reports whether key has a value.
func (s Storage) Has(key string) (bool, error) {
	k := []byte(key)
	return boolCall("storage_has", rawStorageHas(uint32(s.Scope), ptr(k), uint32(len(k))))
}

// Delete removes key and reports whether it had a value.
func (s Storage) Delete(key string) (bool, error) {
	k := []byte(key)
	return boolCall("storage_delete", rawStorageDelete(uint32(s.Scope), ptr(k), uint32(len(k))))
}

// SetIfAbsent stores value under key only if key has no value; it reports
// whether it did.
func (s Storage) SetIfAbsent(key string, value []byte) (bool, error) {
	k := []byte(key)
	return boolCall("storage_set_if_absent", rawStorageSetIfAbsent(uint32(s.Scope), ptr(k), uint32(len(k)), ptr(value), uint32(len(value))))
}

// SetIfEquals stores value under key only if its current value is
// expected; it reports whether it did. A key without a value never equals.
func (s Storage) SetIfEquals(key string, expected, value []byte) (bool, error) {
	k := []byte(key)
	return boolCall("storage_set_if_equals", rawStorageSetIfEquals(uint32(s.Scope), ptr(k), uint32(len(k)),
		ptr(expected), uint32(len(expected)), ptr(value), uint32(len(value))))
}

// Increment adds delta to key's value, an 8-byte little-endian int64 (a
// missing key counts as 0), and returns the new value.
func (s Storage) Increment(key string, delta int64) (int64, error) {
	k := []byte(key)
	var out [8]byte
	if r := rawStorageIncrement(uint32(s.Scope), ptr(k), uint32(len(k)), delta, unsafe.Pointer(&out)); r < 0 {
		return 0, failed("storage_increment", r)
	}
	return int64(binary.LittleEndian.Uint64(out[:])), nil
}

// List returns up to limit keys starting with prefix, in byte order, after
// the key after ("" from the start). A page shorter than limit is the last.
func (s Storage) List(prefix, after string, limit int) ([]string, error) {
	p, a := []byte(prefix), []byte(after)
	ans, err := bytesCall("storage_list", func(out unsafe.Pointer, outCap uint32) int64 {
		return rawStorageList(uint32(s.Scope), ptr(p), uint32(len(p)), ptr(a), uint32(len(a)), uint32(limit), out, outCap)
	})
	if err != nil {
		return nil, err
	}
	fs, err := splitFields(ans)
	if err != nil {
		return nil, err
	}
	keys := make([]string, len(fs))
	for i, f := range fs {
		keys[i] = string(f)
	}
	return keys, nil
}
