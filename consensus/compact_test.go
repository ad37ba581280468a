package consensus

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/outlayer/outlayer/store"
)

// fill sets every field reachable from v (structs, pointers, strings,
// integers, bools, slices, arrays) to a non-zero value derived from seed, so a round trip
// that drops any field shows up as a difference.
func fill(v reflect.Value, seed *uint64) {
	switch v.Kind() {
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem(), seed)
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i), seed)
			}
		}
	case reflect.String:
		*seed++
		v.SetString(fmt.Sprintf("s%d-\u00e9\x00", *seed))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		*seed++
		v.SetUint(*seed<<(v.Type().Bits()-8) | *seed)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		*seed++
		v.SetInt(int64(*seed))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		for i := 0; i < 2; i++ {
			fill(v.Index(i), seed)
		}
	case reflect.Array:
		for i := 0; i < v.Len(); i++ {
			fill(v.Index(i), seed)
		}
	default:
		panic(fmt.Sprintf("fill: no rule for %s; teach the compact encoding and this filler about it", v.Type()))
	}
}

// Every field of store.Request must survive the compact encoding; when the
// store grows a field, this fails until compact.go carries it.
func TestCompactEnqueueCarriesEveryRequestField(t *testing.T) {
	var seed uint64
	full := &Enqueue{}
	fill(reflect.ValueOf(full).Elem(), &seed)
	// Both code sources at once is invalid for the store, but the codec
	// must still carry what it was given.
	if full.Requests[0].Code.Git == nil || full.Requests[0].Code.Wasm == nil || full.Cursor == nil {
		t.Fatal("filler left pointers nil")
	}
	now := time.Date(2026, 11, 25, 10, 0, 0, 42, time.UTC)
	sparse := &Enqueue{Requests: []store.Request{{ID: 1, Sender: "a.near", Deposit: "0"}, testRequest(math64)}}
	for name, e := range map[string]*Enqueue{"every field set": full, "mostly zero": sparse, "empty": {}} {
		b, err := encodeCommand(e, now)
		if err != nil {
			t.Fatalf("%s: encode: %v", name, err)
		}
		got, at, err := decodeCommand(b)
		if err != nil {
			t.Fatalf("%s: decode: %v", name, err)
		}
		if !at.Equal(now) {
			t.Errorf("%s: time %v, want %v", name, at, now)
		}
		if !reflect.DeepEqual(got, e) {
			t.Errorf("%s: the compact encoding changed the command (a store.Request field it does not carry?):\n got %+v\nwant %+v", name, got, e)
		}
		// The same command through the JSON envelope decodes to the same
		// value: the two versions mean the same thing.
		body, _ := json.Marshal(e)
		old := append([]byte{CommandVersion, byte(typeOf(&Enqueue{})), 0, 0, 0, 0, 0, 0, 0, 0}, body...)
		binary.BigEndian.PutUint64(old[2:10], uint64(now.UnixNano()))
		viaJSON, _, err := decodeCommand(old)
		if err != nil {
			t.Fatalf("%s: decode version 1: %v", name, err)
		}
		if name != "empty" && !reflect.DeepEqual(viaJSON, got) {
			t.Errorf("%s: version 1 and version 2 decode differently:\n v1 %+v\n v2 %+v", name, viaJSON, got)
		}
	}
}

const math64 = 1<<64 - 1

// Every proper prefix of a valid body, and a few forged ones, are refused
// with ErrBadCommand, never a panic or a huge allocation.
func TestCompactEnqueueRefusesDamagedBodies(t *testing.T) {
	var seed uint64
	e := &Enqueue{}
	fill(reflect.ValueOf(e).Elem(), &seed)
	b, err := encodeCommand(e, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for n := envelopeHeader; n < len(b); n++ {
		if _, _, err := decodeCommand(b[:n]); !errors.Is(err, ErrBadCommand) {
			t.Fatalf("prefix of %d/%d bytes: got %v, want ErrBadCommand", n, len(b), err)
		}
	}
	hdr := b[:envelopeHeader:envelopeHeader]
	forged := map[string][]byte{
		"trailing byte":       append(append([]byte{}, b...), 0),
		"huge count":          binary.AppendUvarint(append([]byte{}, hdr...), 1<<60),
		"varint overflow":     append(append([]byte{}, hdr...), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f),
		"bad cursor flag":     append(append([]byte{}, hdr...), 0, 2),
		"unknown code flags":  append(append([]byte{}, hdr...), 1, 1, 0, 0, 0, 0x80),
		"string past the end": append(append([]byte{}, hdr...), 1, 1, 50, 'x'),
	}
	for name, f := range forged {
		if _, _, err := decodeCommand(f); !errors.Is(err, ErrBadCommand) {
			t.Errorf("%s: got %v, want ErrBadCommand", name, err)
		}
	}
}

func benchEnqueue(n int) *Enqueue {
	e := &Enqueue{Requests: make([]store.Request, n), Cursor: &store.Cursor{Height: 99, Hash: "9xQ"}}
	for i := range e.Requests {
		r := testRequest(uint64(i + 1))
		r.DataID = fmt.Sprintf("%064x", i+1)
		r.Limits = store.Limits{MaxInstructions: 10_000_000_000, MaxMemoryMB: 128, MaxExecutionSeconds: 60}
		r.ResponseFormat = "Json"
		r.BlockHash = "5Hq2Wk9dQn3Y3n1c8cQ6b8rYb4nJ8mX6p1p1p1p1p1p1"
		r.TxHash = "8Fz9Kq1mM3Q4o2q7YwqP3b2c1d5e6f7g8h9i1j2k3l4m"
		e.Requests[i] = r
	}
	return e
}

// BenchmarkEnqueueCodec: encode and decode one Enqueue entry of 64
// requests, the JSON envelope (version 1) against the compact one (2).
// Every replica pays the decode on its FSM goroutine.
//
//	go test ./consensus/ -run '^$' -bench EnqueueCodec -benchmem
func BenchmarkEnqueueCodec(b *testing.B) {
	e := benchEnqueue(64)
	now := time.Now()
	jsonEnvelope := func() []byte {
		body, err := json.Marshal(e)
		if err != nil {
			b.Fatal(err)
		}
		out := append([]byte{CommandVersion, byte(typeOf(&Enqueue{})), 0, 0, 0, 0, 0, 0, 0, 0}, body...)
		binary.BigEndian.PutUint64(out[2:10], uint64(now.UnixNano()))
		return out
	}
	compact, err := encodeCommand(e, now)
	if err != nil {
		b.Fatal(err)
	}
	v1 := jsonEnvelope()
	b.Run("encode/json", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(v1)))
		for b.Loop() {
			jsonEnvelope()
		}
	})
	b.Run("encode/compact", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(compact)))
		for b.Loop() {
			if _, err := encodeCommand(e, now); err != nil {
				b.Fatal(err)
			}
		}
	})
	for name, data := range map[string][]byte{"json": v1, "compact": compact} {
		b.Run("decode/"+name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, _, err := decodeCommand(data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// Enqueues without an extension are version 2, byte for byte what older
// binaries wrote; one with a request's required signatures is version 3
// and keeps them; a version 2 body read as version 3 (extensions missing)
// is refused.
func TestCompactEnqueueExtensions(t *testing.T) {
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	plain := &Enqueue{Requests: []store.Request{testRequest(1), testRequest(2)}}
	b, err := encodeCommand(plain, now)
	if err != nil || b[0] != CommandVersionCompact {
		t.Fatalf("plain enqueue: version %d, %v", b[0], err)
	}
	signed := &Enqueue{Requests: []store.Request{testRequest(1), testRequest(2)}}
	signed.Requests[1].RequiredSignatures = 2
	b3, err := encodeCommand(signed, now)
	if err != nil || b3[0] != CommandVersionCompactExt {
		t.Fatalf("enqueue with k: version %d, %v", b3[0], err)
	}
	got, _, err := decodeCommand(b3)
	if err != nil || !reflect.DeepEqual(got, signed) {
		t.Fatalf("round trip: %v\n got %+v\nwant %+v", err, got, signed)
	}
	for _, k := range []uint64{0, 3} {
		proj := &Enqueue{Requests: []store.Request{testRequest(1), testRequest(2)}}
		proj.Requests[0].RequiredSignatures = k
		proj.Requests[1].Signer, proj.Requests[1].ProjectID, proj.Requests[1].ProjectUUID = "alice.near", "alice.near/app", "p0000000000000001"
		bp, err := encodeCommand(proj, now)
		if err != nil || bp[0] != CommandVersionCompactExt {
			t.Fatalf("enqueue with a project (k %d): version %d, %v", k, bp[0], err)
		}
		got, _, err := decodeCommand(bp)
		if err != nil || !reflect.DeepEqual(got, proj) {
			t.Fatalf("project round trip (k %d): %v\n got %+v\nwant %+v", k, err, got, proj)
		}
	}
	asV3 := append([]byte{}, b...)
	asV3[0] = CommandVersionCompactExt
	if _, _, err := decodeCommand(asV3); !errors.Is(err, ErrBadCommand) {
		t.Fatalf("a version 2 body as version 3: %v", err)
	}
	for name, tail := range map[string][]byte{
		"unknown extension": {1, 9, 0, 0},
		"repeated":          {2, 1, 0, 0, 1, 0, 0},
		"zero tag":          {1, 0},
	} {
		f := append(append([]byte{}, b...), tail...)
		f[0] = CommandVersionCompactExt
		if _, _, err := decodeCommand(f); !errors.Is(err, ErrBadCommand) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
