package hostcall

import (
	"bytes"
	"encoding/binary"
	"math"
	"slices"

	"github.com/outlayer/outlayer/exec/hostabi"
	"github.com/outlayer/outlayer/store"
)

// overlayValue is a key's state after the run's own writes.
type overlayValue struct {
	value   []byte
	deleted bool
}

type effects struct {
	reads  []store.ProgRead
	ranges []store.ProgRange
	order  []string // overlay keys in first-write order
	ns     map[string][2][]byte
}

// Namespace is the storage namespace of a scope: the program (its code
// identity) and, for the user scope, the caller. Namespaces are
// prefix-free (each part ends with a NUL, which neither part contains).
func Namespace(scope uint32, code, caller string) ([]byte, bool) {
	switch scope {
	case hostabi.ScopeUser:
		return []byte("u\x00" + code + "\x00" + caller + "\x00"), true
	case hostabi.ScopeWorker:
		return []byte("w\x00" + code + "\x00"), true
	case hostabi.ScopePublic:
		return []byte("p\x00" + code + "\x00"), true
	}
	return nil, false
}

// NamespacePrefixes are the prefixes under which every namespace of a
// program's storage lies (every caller's user scope, worker, public): what
// dropping the program's storage deletes.
func NamespacePrefixes(code string) [][]byte {
	return [][]byte{[]byte("u\x00" + code + "\x00"), []byte("w\x00" + code + "\x00"), []byte("p\x00" + code + "\x00")}
}

// storage answers the storage functions.
func (s *Session) storage(fn hostabi.Fn, args [][]byte) hostabi.Reply {
	if s.cfg.Storage == nil {
		return hostabi.Errorf(hostabi.Unavailable, "storage is not available to this run")
	}
	if len(args) < 2 {
		return hostabi.Errorf(hostabi.BadInput, "%s needs a scope and a key", fn)
	}
	scope, ok := hostabi.U32(args[0])
	ns, known := Namespace(scope, s.cfg.Code, s.cfg.Sender)
	if !ok || !known {
		return hostabi.Errorf(hostabi.BadInput, "unknown storage scope %d (0 user, 1 worker, 2 public)", scope)
	}
	if s.storageCalls >= s.limits.StorageCalls {
		return hostabi.Errorf(hostabi.Limit, "a run may make at most %d storage calls", s.limits.StorageCalls)
	}
	s.storageCalls++
	key := args[1]
	if fn == hostabi.FnStorageList {
		return s.list(ns, args)
	}
	if len(key) == 0 || len(key) > store.MaxProgKeyBytes {
		return hostabi.Errorf(hostabi.BadInput, "a key is 1 to %d bytes, this one is %d", store.MaxProgKeyBytes, len(key))
	}
	cur, present, err := s.read(ns, key)
	if err != nil {
		return hostabi.Errorf(hostabi.Failed, "reading storage: %v", err)
	}
	switch fn {
	case hostabi.FnStorageGet:
		if !present {
			return hostabi.Errorf(hostabi.NotFound, "no value for key %q", key)
		}
		return hostabi.Reply{Data: cur}
	case hostabi.FnStorageHas:
		return hostabi.Reply{Data: hostabi.Bool(present)}
	case hostabi.FnStorageSet:
		if len(args) != 3 {
			return hostabi.Errorf(hostabi.BadInput, "storage_set takes a scope, a key and a value")
		}
		if r, ok := s.write(ns, key, args[2], false); !ok {
			return r
		}
		return hostabi.Reply{}
	case hostabi.FnStorageDelete:
		if present {
			if r, ok := s.write(ns, key, nil, true); !ok {
				return r
			}
		}
		return hostabi.Reply{Data: hostabi.Bool(present)}
	case hostabi.FnStorageSetIfAbsent:
		if len(args) != 3 {
			return hostabi.Errorf(hostabi.BadInput, "storage_set_if_absent takes a scope, a key and a value")
		}
		if present {
			return hostabi.Reply{Data: hostabi.Bool(false)}
		}
		if r, ok := s.write(ns, key, args[2], false); !ok {
			return r
		}
		return hostabi.Reply{Data: hostabi.Bool(true)}
	case hostabi.FnStorageSetIfEquals:
		if len(args) != 4 {
			return hostabi.Errorf(hostabi.BadInput, "storage_set_if_equals takes a scope, a key, the expected and the new value")
		}
		if !present || !bytes.Equal(cur, args[2]) {
			return hostabi.Reply{Data: hostabi.Bool(false)}
		}
		if r, ok := s.write(ns, key, args[3], false); !ok {
			return r
		}
		return hostabi.Reply{Data: hostabi.Bool(true)}
	case hostabi.FnStorageIncrement:
		delta, ok := hostabi.I64(args[len(args)-1])
		if len(args) != 3 || !ok {
			return hostabi.Errorf(hostabi.BadInput, "storage_increment takes a scope, a key and an 8-byte delta")
		}
		var n int64
		if present {
			if len(cur) != 8 {
				return hostabi.Errorf(hostabi.BadInput, "key %q holds %d bytes, not an 8-byte integer", key, len(cur))
			}
			n = int64(binary.LittleEndian.Uint64(cur))
		}
		if (delta > 0 && n > math.MaxInt64-delta) || (delta < 0 && n < math.MinInt64-delta) {
			return hostabi.Errorf(hostabi.BadInput, "incrementing %d by %d overflows", n, delta)
		}
		out := hostabi.PutI64(n + delta)
		if r, ok := s.write(ns, key, out, false); !ok {
			return r
		}
		return hostabi.Reply{Data: out}
	}
	return hostabi.Errorf(hostabi.Unavailable, "%s is not a storage function", fn)
}

// read returns key's value as the run sees it: its own write, or the
// store's (which then joins the run's read set).
func (s *Session) read(ns, key []byte) ([]byte, bool, error) {
	full := string(ns) + string(key)
	if o, ok := s.overlay[full]; ok {
		return o.value, !o.deleted, nil
	}
	v, ok, err := s.cfg.Storage.ProgGet(ns, key)
	if err != nil {
		return nil, false, err
	}
	if !s.reads[full] {
		s.reads[full] = true
		s.effects.reads = append(s.effects.reads, store.ProgRead{NS: ns, Key: bytes.Clone(key), Present: ok, Value: v})
	}
	return v, ok, nil
}

// write keeps a write aside until the run's result applies.
func (s *Session) write(ns, key, value []byte, del bool) (hostabi.Reply, bool) {
	if len(value) > store.MaxProgValueBytes {
		return hostabi.Errorf(hostabi.BadInput, "a value is at most %d bytes, this one is %d", store.MaxProgValueBytes, len(value)), false
	}
	if s.writeBytes+len(key)+len(value) > s.limits.StorageWriteBytes {
		return hostabi.Errorf(hostabi.Limit, "a run may write at most %d bytes of storage", s.limits.StorageWriteBytes), false
	}
	s.writeBytes += len(key) + len(value)
	full := string(ns) + string(key)
	if _, ok := s.overlay[full]; !ok {
		s.effects.order = append(s.effects.order, full)
		if s.effects.ns == nil {
			s.effects.ns = map[string][2][]byte{}
		}
		s.effects.ns[full] = [2][]byte{ns, bytes.Clone(key)}
	}
	s.overlay[full] = &overlayValue{value: bytes.Clone(value), deleted: del}
	return hostabi.Reply{}, true
}

// list answers storage_list: the store's keys merged with the run's own
// writes.
func (s *Session) list(ns []byte, args [][]byte) hostabi.Reply {
	if len(args) != 4 {
		return hostabi.Errorf(hostabi.BadInput, "storage_list takes a scope, a prefix, a start-after key and a limit")
	}
	prefix, after := args[1], args[2]
	limit, ok := hostabi.U32(args[3])
	if !ok || limit > 1000 {
		return hostabi.Errorf(hostabi.BadInput, "the limit is 1 to 1000 (0 for 100)")
	}
	if limit == 0 {
		limit = 100
	}
	// Ask the store for enough keys that the run's deletions cannot
	// shorten the page.
	ask := int(limit) + len(s.overlay)
	keys, err := s.cfg.Storage.ProgList(ns, prefix, after, ask)
	if err != nil {
		return hostabi.Errorf(hostabi.Failed, "listing storage: %v", err)
	}
	s.effects.ranges = append(s.effects.ranges, store.ProgRange{NS: ns, Prefix: bytes.Clone(prefix), After: bytes.Clone(after), Limit: ask, Keys: keys})
	set := map[string]bool{}
	for _, k := range keys {
		set[string(k)] = true
	}
	for full, o := range s.overlay {
		if len(full) < len(ns) || full[:len(ns)] != string(ns) {
			continue
		}
		k := full[len(ns):]
		if !bytes.HasPrefix([]byte(k), prefix) || (len(after) > 0 && k <= string(after)) {
			continue
		}
		set[k] = !o.deleted
	}
	var merged []string
	for k, live := range set {
		if live {
			merged = append(merged, k)
		}
	}
	slices.Sort(merged)
	// The store's page may end before the overlay's keys: keep only what
	// is certainly complete (up to the store's last key when it filled the
	// page).
	if len(keys) == ask && len(keys) > 0 {
		last := string(keys[len(keys)-1])
		merged = slices.DeleteFunc(merged, func(k string) bool { return k > last })
	}
	if len(merged) > int(limit) {
		merged = merged[:limit]
	}
	var out []byte
	for _, k := range merged {
		out = hostabi.AppendFields(out, []byte(k))
	}
	return hostabi.Reply{Data: out}
}

// Effects is the run's storage transaction: what it read from the store
// and the final state of every key it wrote, in first-write order.
func (s *Session) Effects() *store.ProgEffects {
	if len(s.effects.reads) == 0 && len(s.effects.ranges) == 0 && len(s.effects.order) == 0 {
		return nil
	}
	e := &store.ProgEffects{Code: s.cfg.Code, Quota: s.limits.StorageQuota, Budget: s.limits.StorageBudget,
		Project: s.cfg.ProjectID, Reads: s.effects.reads, Ranges: s.effects.ranges}
	for _, full := range s.effects.order {
		nk := s.effects.ns[full]
		o := s.overlay[full]
		e.Writes = append(e.Writes, store.ProgWrite{NS: nk[0], Key: nk[1], Value: o.value, Delete: o.deleted})
	}
	return e
}
