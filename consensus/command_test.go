package consensus

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/outlayer/outlayer/store"
)

func TestCommandEnvelopeRoundTrip(t *testing.T) {
	now := time.Date(2026, 11, 25, 10, 0, 0, 123456789, time.UTC)
	h := store.BlobHash{1, 2, 3}
	cmds := []Command{
		&Enqueue{Requests: []store.Request{testRequest(7)}, Cursor: &store.Cursor{Height: 7, Hash: "abc"}},
		&Assign{ID: 7, Node: "n1", LeaseUntil: now.Add(time.Minute)},
		&Complete{ID: 7, Node: "n1", Result: store.Result{Success: true, Output: []byte{0, 1, 2}}},
		&RequeueExpired{MaxAttempts: 3},
		&Fail{ID: 7, Reason: "yield deadline near"},
		&Resolved{ID: 7, TxHash: "tx"},
		&Expired{ID: 7, Reason: "yield timed out"},
		&AdvanceCursor{Cursor: store.Cursor{Height: 9}},
		&PutBlob{Hash: h, Data: []byte("wasm"), Source: &store.BlobSource{Repo: "r", Commit: "c", Target: "t"}},
		&TouchBlob{Hash: h},
		&EvictBlobs{Hashes: []store.BlobHash{h}},
		&NodeAdd{Node: store.Node{PeerID: "p", Role: store.RoleVoter, JoinedAt: now}},
		&NodeRemove{PeerID: "p"},
		&KeystorePut{Name: "k", Sealed: []byte("sealed")},
		&KeystoreDelete{Name: "k"},
		&Release{ID: 7, Node: "n1"},
		&KeyCreate{Event: store.KeyCreated{EventID: "e1", Owner: "alice.near", Nonce: 1, KeyHash: "ab", ProjectIDs: []string{"bob.near/app"}, MaxPerCall: 5}},
		&KeyTopUp{Event: store.KeyToppedUp{EventID: "e2", Owner: "alice.near", Nonce: 1, Amount: 10_000}},
		&KeyDelete{Event: store.KeyDeleted{EventID: "e3", Owner: "alice.near", Nonce: 1}},
		&CallStart{Spec: store.CallSpec{ID: "c1", Owner: "alice.near", Nonce: 1, KeyHash: "ab", ProjectID: "bob.near/app", ComputeLimit: 10_000,
			Price: store.CallPrice{BaseFee: 1000, PerMillionInstructions: 1, PerSecond: 1}}, Request: testRequest(0)},
		&CallSettle{ID: "c1"},
		&PruneRequests{IDs: []uint64{7, 9}, ClosedBefore: now.Add(-time.Hour)},
		&DropProgStorage{Code: "project:p0123456789abcdef", Prefixes: [][]byte{[]byte("w\x00project:p0123456789abcdef\x00")}},
	}
	seen := map[CommandType]bool{}
	for _, c := range cmds {
		b, err := encodeCommand(c, now)
		if err != nil {
			t.Fatalf("encode %s: %v", typeOf(c), err)
		}
		wantVersion := CommandVersion
		if typeOf(c) == typeOf(&Enqueue{}) {
			wantVersion = CommandVersionCompact
		}
		if b[0] != wantVersion || CommandType(b[1]) != typeOf(c) {
			t.Fatalf("%s: header %v", typeOf(c), b[:2])
		}
		got, at, err := decodeCommand(b)
		if err != nil {
			t.Fatalf("decode %s: %v", typeOf(c), err)
		}
		if !at.Equal(now) {
			t.Errorf("%s: time %v, want %v", typeOf(c), at, now)
		}
		if !reflect.DeepEqual(got, c) {
			t.Errorf("%s: round trip changed the command:\n got %#v\nwant %#v", typeOf(c), got, c)
		}
		seen[typeOf(c)] = true
	}
	if len(seen) != len(commands.all) {
		t.Errorf("round-tripped %d command types, the vocabulary has %d", len(seen), len(commands.all))
	}
}

func TestDecodeRefusesBadEnvelopes(t *testing.T) {
	good, err := encodeCommand(&Fail{ID: 1, Reason: "x"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	newer := append([]byte{}, good...)
	newer[0] = CommandVersionCompact + 1
	compactFail := append([]byte{}, good...)
	compactFail[0] = CommandVersionCompact
	unknown := append([]byte{}, good...)
	unknown[1] = 200
	cases := map[string][]byte{
		"empty":            nil,
		"short header":     good[:5],
		"newer version":    newer,
		"compact Fail":     compactFail,
		"unknown type":     unknown,
		"truncated body":   good[:len(good)-3],
		"body is not json": append(append([]byte{}, good[:envelopeHeader]...), "{{"...),
	}
	for name, b := range cases {
		if _, _, err := decodeCommand(b); !errors.Is(err, ErrBadCommand) {
			t.Errorf("%s: got %v, want ErrBadCommand", name, err)
		}
	}
	if _, err := encodeCommand(nil, time.Now()); !errors.Is(err, ErrBadCommand) {
		t.Errorf("nil command: got %v, want ErrBadCommand", err)
	}
}

func TestWireErrorsKeepSentinels(t *testing.T) {
	for _, e := range errorCodes {
		got := fromWire(toWire(errors.Join(errors.New("context"), e.err)))
		if !errors.Is(got, e.err) {
			t.Errorf("%s: sentinel lost across the wire: %v", e.code, got)
		}
	}
	if fromWire(toWire(nil)) != nil {
		t.Error("nil error must stay nil")
	}
}
