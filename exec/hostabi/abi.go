package hostabi

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
)

// ModuleName is the import module of version 1 of the host ABI. A future
// incompatible version gets a new module name; both can be offered at once.
const ModuleName = "outlayer_v1"

// Fn names a host function; it is the function's export name in ModuleName
// and the name a record stores.
type Fn string

// The host functions of outlayer_v1 (see SPEC.md for their signatures).
const (
	FnResultRead         Fn = "result_read"
	FnHTTPFetch          Fn = "http_fetch"
	FnStorageGet         Fn = "storage_get"
	FnStorageSet         Fn = "storage_set"
	FnStorageHas         Fn = "storage_has"
	FnStorageDelete      Fn = "storage_delete"
	FnStorageSetIfAbsent Fn = "storage_set_if_absent"
	FnStorageSetIfEquals Fn = "storage_set_if_equals"
	FnStorageIncrement   Fn = "storage_increment"
	FnStorageList        Fn = "storage_list"
	FnVRFGenerate        Fn = "vrf_generate"
	FnVRFPubkey          Fn = "vrf_pubkey"
	FnNearView           Fn = "near_view"
)

// Code is a host call's status. Zero is success; a host function returns a
// failure as the negated code (-1 for NotFound, ...), and the program reads
// the error's message with result_read.
type Code int32

// The error codes of outlayer_v1. Numbers are part of the ABI: never
// renumber, only add.
const (
	OK Code = 0
	// NotFound: storage_get of a key that has no value.
	NotFound Code = 1
	// Denied: the call is not allowed: a host not in the program's
	// allowlist, an address the SSRF guard refuses, a scope the run may not
	// write.
	Denied Code = 2
	// Limit: a per-call or per-run limit (count, bytes, time, storage
	// quota) would be exceeded.
	Limit Code = 3
	// BadInput: the arguments are malformed (an unknown scope, an empty or
	// oversized key, a malformed request).
	BadInput Code = 4
	// Unavailable: this node or this run offers no such service (no
	// storage, no RPC endpoint, no VRF key).
	Unavailable Code = 5
	// Failed: the outside world failed: the connection was refused, the
	// RPC answered an error, the fetch timed out.
	Failed Code = 6
)

func (c Code) String() string {
	switch c {
	case OK:
		return "ok"
	case NotFound:
		return "not found"
	case Denied:
		return "denied"
	case Limit:
		return "limit exceeded"
	case BadInput:
		return "bad input"
	case Unavailable:
		return "unavailable"
	case Failed:
		return "failed"
	}
	return fmt.Sprintf("code %d", int32(c))
}

// Storage scopes (the scope argument of the storage functions).
const (
	// ScopeUser is private to the program's code identity and the caller
	// (the request's sender): each caller has its own keys.
	ScopeUser uint32 = 0
	// ScopeWorker is shared by every caller of the program: its global
	// state, which callers cannot read directly.
	ScopeWorker uint32 = 1
	// ScopePublic is shared by every caller and readable by anyone through
	// the node's API (GET /storage/public/...).
	ScopePublic uint32 = 2
)

// Call is one host call as it crosses to the node: the function and its
// arguments, each argument a byte string (numbers little-endian, see
// SPEC.md "Calls on the wire").
type Call struct {
	Fn   Fn
	Args [][]byte
}

// Reply is the node's answer to a Call. On success Data is the answer; on
// failure it is the error message (UTF-8).
type Reply struct {
	Code Code
	Data []byte
}

// Errorf builds a failed Reply with a message.
func Errorf(code Code, format string, args ...any) Reply {
	return Reply{Code: code, Data: fmt.Appendf(nil, format, args...)}
}

// Handler answers a run's host calls. It is called on the goroutine that
// runs the program, one call at a time, in the program's order.
type Handler func(ctx context.Context, c Call) Reply

// ErrReplayDiverged: a replayed run made a call its record does not hold.
var ErrReplayDiverged = errors.New("the run diverged from its record")

// Arg helpers for handlers.

// U32 decodes a 4-byte little-endian argument.
func U32(b []byte) (uint32, bool) {
	if len(b) != 4 {
		return 0, false
	}
	return binary.LittleEndian.Uint32(b), true
}

// I64 decodes an 8-byte little-endian argument.
func I64(b []byte) (int64, bool) {
	if len(b) != 8 {
		return 0, false
	}
	return int64(binary.LittleEndian.Uint64(b)), true
}

// PutU32 encodes v as a 4-byte little-endian argument.
func PutU32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }

// PutI64 encodes v as an 8-byte little-endian argument.
func PutI64(v int64) []byte { return binary.LittleEndian.AppendUint64(nil, uint64(v)) }

// Bool encodes a boolean answer (one byte).
func Bool(v bool) []byte {
	if v {
		return []byte{1}
	}
	return []byte{0}
}

// Exports reports whether outlayer_v1 has a function of that name.
func Exports(name string) bool {
	switch Fn(name) {
	case FnResultRead, FnHTTPFetch, FnStorageGet, FnStorageSet, FnStorageHas, FnStorageDelete,
		FnStorageSetIfAbsent, FnStorageSetIfEquals, FnStorageIncrement, FnStorageList,
		FnVRFGenerate, FnVRFPubkey, FnNearView:
		return true
	}
	return false
}
