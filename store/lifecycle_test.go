package store

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestHappyPathLifecycle(t *testing.T) {
	s := openTemp(t)
	mustEnqueue(t, s, 1)
	j := mustStatus(t, s, 1, StatusQueued)
	if j.Sender != "caller1.testnet" || j.Code.Git == nil || j.Deposit != "100000000000000000000000" {
		t.Fatalf("request fields not kept: %+v", j.Request)
	}

	j, err := s.Assign(1, "nodeA", t0.Add(time.Minute), t0.Add(time.Second))
	if err != nil {
		t.Fatalf("assign: %v", err)
	}
	if j.Status != StatusAssigned || j.Node != "nodeA" || len(j.Attempts) != 1 {
		t.Fatalf("after assign: %+v", j)
	}
	if q, _ := s.Queued(0); len(q) != 0 {
		t.Fatalf("assigned request still in queue: %d", len(q))
	}
	mine, _ := s.AssignedTo("nodeA")
	if len(mine) != 1 || mine[0].ID != 1 {
		t.Fatalf("AssignedTo(nodeA) = %v", mine)
	}

	out, err := s.Complete(1, "nodeA", okResult("42"), t0.Add(10*time.Second))
	if err != nil || out != Accepted {
		t.Fatalf("complete: %v %v", out, err)
	}
	j = mustStatus(t, s, 1, StatusCompleted)
	if string(j.Result.Output) != "42" || j.Result.Node != "nodeA" || j.Attempts[0].Outcome != AttemptCompleted {
		t.Fatalf("result not recorded: %+v", j)
	}
	if mine, _ := s.AssignedTo("nodeA"); len(mine) != 0 {
		t.Fatalf("completed request still listed as assigned")
	}
	if l, _ := s.Leases(t0.Add(time.Hour), 0); len(l) != 0 {
		t.Fatalf("completed request still has a lease")
	}
	un, _ := s.Unresolved(0)
	if len(un) != 1 || un[0].ID != 1 {
		t.Fatalf("unresolved = %v", un)
	}

	if _, err := s.MarkResolved(1, "resolveTx1", t0.Add(20*time.Second)); err != nil {
		t.Fatalf("resolve: %v", err)
	}
	j = mustStatus(t, s, 1, StatusResolved)
	if j.ResolveTx != "resolveTx1" || !j.ClosedAt.Equal(t0.Add(20*time.Second)) {
		t.Fatalf("resolve not recorded: %+v", j)
	}
	if un, _ := s.Unresolved(0); len(un) != 0 {
		t.Fatalf("resolved request still unresolved")
	}
	// Idempotent with the same hash, refused with another.
	if _, err := s.MarkResolved(1, "resolveTx1", t0.Add(30*time.Second)); err != nil {
		t.Fatalf("repeat resolve: %v", err)
	}
	if _, err := s.MarkResolved(1, "otherTx", t0.Add(30*time.Second)); !errors.Is(err, ErrInvalidTransition) {
		t.Fatalf("resolve with another hash: %v", err)
	}
}

func TestEnqueueIdempotentFirstWriteWins(t *testing.T) {
	s := openTemp(t)
	mustEnqueue(t, s, 5)
	before, _ := s.Digest()
	again := sampleRequest(5)
	again.Input = "something else"
	out, err := s.Enqueue(again, cursorAt(1005), t0.Add(time.Hour))
	if err != nil || out != AlreadyKnown {
		t.Fatalf("re-enqueue: %v %v", out, err)
	}
	after, _ := s.Digest()
	if before != after {
		t.Fatal("re-enqueueing a known request changed the store")
	}
	// Re-enqueue of a request already in progress leaves it in progress.
	if _, err := s.Assign(5, "n", t0.Add(time.Minute), t0); err != nil {
		t.Fatal(err)
	}
	if out, _ := s.Enqueue(sampleRequest(5), cursorAt(1010), t0); out != AlreadyKnown {
		t.Fatalf("outcome %v", out)
	}
	mustStatus(t, s, 5, StatusAssigned)
	if q, _ := s.Queued(0); len(q) != 0 {
		t.Fatal("re-enqueue put an assigned request back in the queue")
	}
	if c, _, _ := s.Cursor(); c.Height != 1010 {
		t.Fatalf("cursor did not advance on a duplicate enqueue: %+v", c)
	}
}

func TestCursorMonotonicAndAtomicWithEnqueue(t *testing.T) {
	s := openTemp(t)
	if _, ok, _ := s.Cursor(); ok {
		t.Fatal("new store has a cursor")
	}
	if _, err := s.Enqueue(sampleRequest(1), &Cursor{Height: 100, Hash: "h100"}, t0); err != nil {
		t.Fatal(err)
	}
	// Backwards: refused, and the request is not recorded either.
	_, err := s.Enqueue(sampleRequest(2), &Cursor{Height: 99, Hash: "h99"}, t0)
	if !errors.Is(err, ErrCursorRegression) {
		t.Fatalf("backwards cursor: %v", err)
	}
	if _, err := s.Get(2); !errors.Is(err, ErrNotFound) {
		t.Fatalf("request of a refused enqueue was stored: %v", err)
	}
	// Same height, other hash (a fork): refused.
	if _, err := s.Enqueue(sampleRequest(2), &Cursor{Height: 100, Hash: "other"}, t0); !errors.Is(err, ErrCursorRegression) {
		t.Fatalf("same height other hash: %v", err)
	}
	// Same cursor: fine (several requests of one block).
	if _, err := s.Enqueue(sampleRequest(2), &Cursor{Height: 100, Hash: "h100"}, t0); err != nil {
		t.Fatal(err)
	}
	// A batch whose cursor goes back: nothing of it is stored.
	_, err = s.EnqueueBatch([]Request{sampleRequest(3), sampleRequest(4)}, &Cursor{Height: 50, Hash: "h50"}, t0)
	if !errors.Is(err, ErrCursorRegression) {
		t.Fatalf("batch with a backwards cursor: %v", err)
	}
	if _, err := s.Get(3); !errors.Is(err, ErrNotFound) {
		t.Fatal("part of a refused batch was stored")
	}
	// An invalid request in a batch is stored as failed; the rest and the
	// cursor go ahead.
	bad := sampleRequest(4)
	bad.Code = CodeSource{}
	outs, err := s.EnqueueBatch([]Request{sampleRequest(3), bad}, &Cursor{Height: 101, Hash: "h101"}, t0)
	if err != nil || outs[0] != Enqueued || outs[1] != EnqueuedInvalid {
		t.Fatalf("batch with an invalid request: %v %v", outs, err)
	}
	if c, _, _ := s.Cursor(); c.Height != 101 {
		t.Fatalf("cursor = %+v, want 101", c)
	}
	if err := s.AdvanceCursor(Cursor{Height: 150, Hash: "h150"}); err != nil {
		t.Fatal(err)
	}
	if err := s.AdvanceCursor(Cursor{Height: 120}); !errors.Is(err, ErrCursorRegression) {
		t.Fatalf("advance backwards: %v", err)
	}
	// Nil cursor leaves it alone.
	if _, err := s.Enqueue(sampleRequest(9), nil, t0); err != nil {
		t.Fatal(err)
	}
	if c, _, _ := s.Cursor(); c.Height != 150 {
		t.Fatalf("cursor = %+v, want 150", c)
	}
}

// TestEnqueueInvalidRequestsFailNotDropped: a request the cluster cannot run
// is stored as failed with the reason, so it is resolved on chain as a
// failure (caller refunded) instead of hanging until the yield timeout, as
// upstream's dropped events do.
func TestEnqueueInvalidRequestsFailNotDropped(t *testing.T) {
	s := openTemp(t)
	cases := []struct {
		name, reason string
		mutate       func(r *Request)
	}{
		{"no sender", "no sender account", func(r *Request) { r.Sender = "" }},
		{"nul in sender", "NUL byte", func(r *Request) { r.Sender = "a\x00b" }},
		{"both sources", "exactly one is allowed", func(r *Request) { r.Code.Wasm = &WasmSource{URL: "https://x", Hash: "ab"} }},
		{"no source", "code source is empty", func(r *Request) { r.Code = CodeSource{} }},
		{"no commit", "needs both repo and commit", func(r *Request) { r.Code.Git.Commit = "" }},
		{"bad data id", "not 32 bytes of hex", func(r *Request) { r.DataID = "zz" }},
		{"bad deposit", "not a decimal", func(r *Request) { r.Deposit = "1.5" }},
		{"unknown format", "not Bytes, Text or Json", func(r *Request) { r.ResponseFormat = "Yaml" }},
		{"lowercase format", "not Bytes, Text or Json", func(r *Request) { r.ResponseFormat = "json" }},
		{"wasm w/o hash", "needs both url and hash", func(r *Request) { r.Code = CodeSource{Wasm: &WasmSource{URL: "https://x"}} }},
	}
	for i, c := range cases {
		r := sampleRequest(uint64(i))
		c.mutate(&r)
		out, err := s.Enqueue(r, cursorAt(uint64(i)), t0)
		if err != nil || out != EnqueuedInvalid {
			t.Errorf("%s: %v %v, want EnqueuedInvalid", c.name, out, err)
			continue
		}
		j := mustStatus(t, s, uint64(i), StatusFailed)
		if !strings.Contains(j.Error, c.reason) || !strings.HasPrefix(j.Error, "the request cannot be executed") {
			t.Errorf("%s: error %q does not say %q", c.name, j.Error, c.reason)
		}
	}
	if q, _ := s.Queued(0); len(q) != 0 {
		t.Fatalf("invalid requests queued: %d", len(q))
	}
	if un, _ := s.Unresolved(0); len(un) != len(cases) {
		t.Fatalf("%d invalid requests await resolve, want %d", len(un), len(cases))
	}
	if _, err := s.Assign(0, "n", t0.Add(time.Minute), t0); !errors.Is(err, ErrInvalidTransition) {
		t.Fatalf("assigned an invalid request: %v", err)
	}
	// The sender index skips the one sender that cannot be a key.
	if res, _ := s.BySender("a\x00b", Page{}); len(res.Jobs) != 0 {
		t.Fatal("NUL sender indexed")
	}
	if _, err := s.Enqueue(sampleRequest(100), nil, time.Time{}); !errors.Is(err, ErrBadInput) {
		t.Errorf("zero time: %v", err)
	}
	if _, err := s.Get(100); !errors.Is(err, ErrNotFound) {
		t.Fatal("request with a zero time was stored")
	}
}

func TestAssignRefusals(t *testing.T) {
	s := openTemp(t)
	mustEnqueue(t, s, 1, 2)
	if _, err := s.Assign(99, "n", t0.Add(time.Minute), t0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("assign unknown: %v", err)
	}
	if _, err := s.Assign(1, "", t0.Add(time.Minute), t0); !errors.Is(err, ErrBadInput) {
		t.Fatalf("assign empty node: %v", err)
	}
	if _, err := s.Assign(1, "n", t0, t0); !errors.Is(err, ErrBadInput) {
		t.Fatalf("lease not in the future: %v", err)
	}
	if _, err := s.Assign(1, "nodeA", t0.Add(time.Minute), t0); err != nil {
		t.Fatal(err)
	}
	// Live lease: refused.
	if _, err := s.Assign(1, "nodeB", t0.Add(2*time.Minute), t0.Add(59*time.Second)); !errors.Is(err, ErrInvalidTransition) {
		t.Fatalf("assign over a live lease: %v", err)
	}
	// Completed: refused.
	if _, err := s.Complete(1, "nodeA", okResult("x"), t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Assign(1, "nodeB", t0.Add(2*time.Minute), t0.Add(time.Second)); !errors.Is(err, ErrInvalidTransition) {
		t.Fatalf("assign a completed request: %v", err)
	}
	// Resolved and expired: refused.
	s.MarkResolved(1, "tx", t0.Add(2*time.Second))
	if _, err := s.Assign(1, "nodeB", t0.Add(2*time.Minute), t0.Add(3*time.Second)); !errors.Is(err, ErrInvalidTransition) {
		t.Fatalf("assign a resolved request: %v", err)
	}
	s.MarkExpired(2, "yield timed out", t0)
	if _, err := s.Assign(2, "nodeB", t0.Add(2*time.Minute), t0.Add(3*time.Second)); !errors.Is(err, ErrInvalidTransition) {
		t.Fatalf("assign an expired request: %v", err)
	}
}

func TestExpiredLeaseReassignedDirectly(t *testing.T) {
	s := openTemp(t)
	mustEnqueue(t, s, 1)
	s.Assign(1, "nodeA", t0.Add(time.Minute), t0)
	// At exactly the lease end the lease is over.
	j, err := s.Assign(1, "nodeB", t0.Add(3*time.Minute), t0.Add(time.Minute))
	if err != nil {
		t.Fatalf("reassign expired lease: %v", err)
	}
	if j.Node != "nodeB" || len(j.Attempts) != 2 || j.Attempts[0].Outcome != AttemptExpired {
		t.Fatalf("after reassign: %+v", j)
	}
	if a, _ := s.AssignedTo("nodeA"); len(a) != 0 {
		t.Fatal("old holder still indexed")
	}
	if l, _ := s.Leases(t0.Add(time.Hour), 0); len(l) != 1 || !l[0].LeaseUntil.Equal(t0.Add(3*time.Minute)) {
		t.Fatalf("lease index after reassign: %v", l)
	}
}

func TestCompleteRefusalsAndDuplicates(t *testing.T) {
	s := openTemp(t)
	mustEnqueue(t, s, 1)
	s.Assign(1, "nodeA", t0.Add(time.Minute), t0)

	// A node that never held the request.
	before, _ := s.Digest()
	if _, err := s.Complete(1, "nodeX", okResult("forged"), t0.Add(time.Second)); !errors.Is(err, ErrNotHolder) {
		t.Fatalf("complete by a stranger: %v", err)
	}
	if after, _ := s.Digest(); after != before {
		t.Fatal("a refused complete changed the store")
	}
	if _, err := s.Complete(404, "nodeA", okResult(""), t0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("complete unknown: %v", err)
	}

	if out, err := s.Complete(1, "nodeA", okResult("first"), t0.Add(time.Second)); out != Accepted || err != nil {
		t.Fatalf("complete: %v %v", out, err)
	}
	before, _ = s.Digest()
	out, err := s.Complete(1, "nodeA", okResult("second"), t0.Add(2*time.Second))
	if err != nil || out != Duplicate {
		t.Fatalf("double complete: %v %v", out, err)
	}
	if after, _ := s.Digest(); after != before {
		t.Fatal("a duplicate complete changed the store")
	}
	if j := mustStatus(t, s, 1, StatusCompleted); string(j.Result.Output) != "first" {
		t.Fatalf("duplicate replaced the first result: %q", j.Result.Output)
	}
}

func TestLateResultKeptButNotUsed(t *testing.T) {
	s := openTemp(t)
	mustEnqueue(t, s, 1)
	s.Assign(1, "nodeA", t0.Add(time.Minute), t0)

	// nodeA reports after its lease ended but before anyone requeued it.
	out, err := s.Complete(1, "nodeA", okResult("late-a"), t0.Add(61*time.Second))
	if err != nil || out != Late {
		t.Fatalf("complete past lease: %v %v", out, err)
	}
	j := mustStatus(t, s, 1, StatusAssigned)
	if j.Result != nil || j.Attempts[0].LateResult == nil || string(j.Attempts[0].LateResult.Output) != "late-a" {
		t.Fatalf("late result handling: %+v", j)
	}

	req, err := s.RequeueExpired(t0.Add(61*time.Second), 3)
	if err != nil || len(req) != 1 || req[0].Status != StatusQueued || req[0].Node != "nodeA" {
		t.Fatalf("requeue: %v %v", req, err)
	}
	s.Assign(1, "nodeB", t0.Add(3*time.Minute), t0.Add(62*time.Second))

	// nodeA again, now that nodeB holds it: late, recorded once.
	if out, _ := s.Complete(1, "nodeA", okResult("late-a2"), t0.Add(63*time.Second)); out != Duplicate {
		t.Fatalf("second late result from the same attempt: %v", out)
	}
	if out, _ := s.Complete(1, "nodeB", okResult("b"), t0.Add(64*time.Second)); out != Accepted {
		t.Fatalf("current holder: %v", out)
	}
	j = mustStatus(t, s, 1, StatusCompleted)
	if string(j.Result.Output) != "b" || j.Result.Node != "nodeB" {
		t.Fatalf("used result: %+v", j.Result)
	}
	if string(j.Attempts[0].LateResult.Output) != "late-a" {
		t.Fatal("late result lost")
	}
}

func TestLateResultAfterReassignToOtherNode(t *testing.T) {
	s := openTemp(t)
	mustEnqueue(t, s, 1)
	s.Assign(1, "nodeA", t0.Add(time.Minute), t0)
	s.Assign(1, "nodeB", t0.Add(3*time.Minute), t0.Add(2*time.Minute))
	if out, _ := s.Complete(1, "nodeB", okResult("b"), t0.Add(150*time.Second)); out != Accepted {
		t.Fatalf("holder: %v", out)
	}
	// nodeA's result from the expired lease arrives after nodeB's: kept, unused.
	out, err := s.Complete(1, "nodeA", okResult("a"), t0.Add(160*time.Second))
	if err != nil || out != Late {
		t.Fatalf("late after completion: %v %v", out, err)
	}
	j := mustStatus(t, s, 1, StatusCompleted)
	if string(j.Result.Output) != "b" || string(j.Attempts[0].LateResult.Output) != "a" {
		t.Fatalf("%+v", j)
	}
}

func TestRequeueBoundedAttempts(t *testing.T) {
	s := openTemp(t)
	mustEnqueue(t, s, 1, 2)
	const max = 3
	now := t0
	for attempt := 1; attempt <= max; attempt++ {
		if _, err := s.Assign(1, "nodeA", now.Add(time.Minute), now); err != nil {
			t.Fatalf("attempt %d: %v", attempt, err)
		}
		// Before expiry nothing is requeued.
		if r, _ := s.RequeueExpired(now.Add(59*time.Second), max); len(r) != 0 {
			t.Fatalf("requeued a live lease: %v", r)
		}
		now = now.Add(time.Minute)
		r, err := s.RequeueExpired(now, max)
		if err != nil || len(r) != 1 {
			t.Fatalf("attempt %d requeue: %v %v", attempt, r, err)
		}
		want := StatusQueued
		if attempt == max {
			want = StatusFailed
		}
		if r[0].Status != want {
			t.Fatalf("attempt %d: %s, want %s", attempt, r[0].Status, want)
		}
	}
	j := mustStatus(t, s, 1, StatusFailed)
	if !strings.Contains(j.Error, "gave up after 3 attempts") || !strings.Contains(j.Error, "nodeA") {
		t.Fatalf("failure reason: %q", j.Error)
	}
	for _, a := range j.Attempts {
		if a.Outcome != AttemptExpired {
			t.Fatalf("attempt outcome %s", a.Outcome)
		}
	}
	// A failed request still gets resolved on chain.
	un, _ := s.Unresolved(0)
	if len(un) != 1 || un[0].ID != 1 {
		t.Fatalf("failed request not awaiting resolve: %v", un)
	}
	if _, err := s.MarkResolved(1, "tx-fail", now); err != nil {
		t.Fatal(err)
	}
	// The untouched request is still queued: requeue only touched leases.
	mustStatus(t, s, 2, StatusQueued)
	if _, err := s.RequeueExpired(now, 0); !errors.Is(err, ErrBadInput) {
		t.Fatalf("max attempts 0: %v", err)
	}
}

func TestFailAndExpire(t *testing.T) {
	s := openTemp(t)
	mustEnqueue(t, s, 1, 2, 3, 4)
	s.Assign(2, "nodeA", t0.Add(time.Minute), t0)

	if _, err := s.Fail(1, "", t0); !errors.Is(err, ErrBadInput) {
		t.Fatalf("fail without reason: %v", err)
	}
	if _, err := s.Fail(1, "yield deadline too close", t0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Fail(2, "code source cannot be built", t0); err != nil {
		t.Fatal(err)
	}
	j := mustStatus(t, s, 2, StatusFailed)
	if j.Attempts[0].Outcome != AttemptCancelled || j.Node != "" {
		t.Fatalf("lease not ended by Fail: %+v", j)
	}
	if a, _ := s.AssignedTo("nodeA"); len(a) != 0 {
		t.Fatal("failed request still assigned")
	}
	if q, _ := s.Queued(0); len(q) != 2 {
		t.Fatalf("queue after fails: %d", len(q))
	}
	// The old holder's result after Fail is late.
	if out, _ := s.Complete(2, "nodeA", okResult("x"), t0.Add(time.Second)); out != Late {
		t.Fatalf("result after fail: %v", out)
	}

	s.Complete(2, "nodeA", okResult(""), t0) // no-op duplicate
	s.Assign(3, "nodeA", t0.Add(time.Minute), t0)
	s.Complete(3, "nodeA", okResult("y"), t0.Add(time.Second))
	if _, err := s.Fail(3, "too late", t0); !errors.Is(err, ErrInvalidTransition) {
		t.Fatalf("fail a completed request: %v", err)
	}

	for _, id := range []uint64{1, 3, 4} {
		if _, err := s.MarkExpired(id, "yield timed out on chain", t0.Add(time.Hour)); err != nil {
			t.Fatalf("expire %d: %v", id, err)
		}
		mustStatus(t, s, id, StatusExpired)
	}
	if _, err := s.MarkExpired(1, "again", t0.Add(time.Hour)); err != nil {
		t.Fatalf("expire twice: %v", err)
	}
	if un, _ := s.Unresolved(0); len(un) != 1 || un[0].ID != 2 {
		t.Fatalf("unresolved after expiries: %v", un)
	}
	if q, _ := s.Queued(0); len(q) != 0 {
		t.Fatalf("expired requests still queued: %d", len(q))
	}
	if _, err := s.MarkResolved(4, "tx", t0.Add(time.Hour)); !errors.Is(err, ErrInvalidTransition) {
		t.Fatalf("resolve an expired request: %v", err)
	}
	s.MarkResolved(2, "tx2", t0.Add(time.Hour))
	if _, err := s.MarkExpired(2, "x", t0.Add(time.Hour)); !errors.Is(err, ErrInvalidTransition) {
		t.Fatalf("expire a resolved request: %v", err)
	}
	if _, err := s.MarkResolved(1, "tx", t0); !errors.Is(err, ErrInvalidTransition) {
		t.Fatal("resolved a queued->expired request")
	}
}

func TestResolveRequiresDoneRequest(t *testing.T) {
	s := openTemp(t)
	mustEnqueue(t, s, 1)
	if _, err := s.MarkResolved(1, "tx", t0); !errors.Is(err, ErrInvalidTransition) {
		t.Fatalf("resolve a queued request: %v", err)
	}
	s.Assign(1, "n", t0.Add(time.Minute), t0)
	if _, err := s.MarkResolved(1, "tx", t0); !errors.Is(err, ErrInvalidTransition) {
		t.Fatalf("resolve an assigned request: %v", err)
	}
	if _, err := s.MarkResolved(1, "", t0); !errors.Is(err, ErrBadInput) {
		t.Fatalf("empty tx hash: %v", err)
	}
}

func TestLeasesQueryOrder(t *testing.T) {
	s := openTemp(t)
	mustEnqueue(t, s, 1, 2, 3)
	s.Assign(1, "a", t0.Add(3*time.Minute), t0)
	s.Assign(2, "b", t0.Add(1*time.Minute), t0)
	s.Assign(3, "a", t0.Add(2*time.Minute), t0)
	all, _ := s.Leases(t0.Add(time.Hour), 0)
	var got []uint64
	for _, j := range all {
		got = append(got, j.ID)
	}
	if len(got) != 3 || got[0] != 2 || got[1] != 3 || got[2] != 1 {
		t.Fatalf("lease order %v, want [2 3 1]", got)
	}
	soon, _ := s.Leases(t0.Add(2*time.Minute), 0)
	if len(soon) != 2 {
		t.Fatalf("leases ending by +2m: %d", len(soon))
	}
	first, _ := s.Leases(t0.Add(time.Hour), 1)
	if len(first) != 1 || first[0].ID != 2 {
		t.Fatalf("limit 1: %v", first)
	}
	a, _ := s.AssignedTo("a")
	if len(a) != 2 || a[0].ID != 1 || a[1].ID != 3 {
		t.Fatalf("AssignedTo(a) = %v", a)
	}
}

func TestQueuedInIDOrder(t *testing.T) {
	s := openTemp(t)
	// Enqueue out of order, including ids whose little-endian bytes would sort differently.
	for _, id := range []uint64{300, 2, 256, 1, 65536} {
		if _, err := s.Enqueue(sampleRequest(id), nil, t0); err != nil {
			t.Fatal(err)
		}
	}
	q, _ := s.Queued(0)
	var got []uint64
	for _, j := range q {
		got = append(got, j.ID)
	}
	want := []uint64{1, 2, 256, 300, 65536}
	if len(got) != len(want) {
		t.Fatalf("queued %v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("queued %v, want %v", got, want)
		}
	}
	if q, _ := s.Queued(2); len(q) != 2 {
		t.Fatalf("limit: %d", len(q))
	}
	if n := func() int { var n int; s.View(func(tx *Tx) error { n = tx.CountQueued(); return nil }); return n }(); n != 5 {
		t.Fatalf("CountQueued = %d", n)
	}
}

func TestCompleteBoundsResult(t *testing.T) {
	s := openTemp(t)
	mustEnqueue(t, s, 1)
	s.Assign(1, "nodeA", t0.Add(time.Minute), t0)
	huge := Result{Output: make([]byte, MaxOutputBytes+1)}
	if _, err := s.Complete(1, "nodeA", huge, t0); !errors.Is(err, ErrBadInput) {
		t.Fatalf("oversized output: %v", err)
	}
	if _, err := s.Complete(1, "nodeA", Result{Attestation: make([]byte, MaxAttestationBytes+1)}, t0); !errors.Is(err, ErrBadInput) {
		t.Fatalf("oversized attestation: %v", err)
	}
	mustStatus(t, s, 1, StatusAssigned)
	long := strings.Repeat("é", MaxErrorBytes) // two bytes each: the cut must not split one
	if out, err := s.Complete(1, "nodeA", Result{Success: false, Error: long}, t0.Add(time.Second)); err != nil || out != Accepted {
		t.Fatalf("long error: %v %v", out, err)
	}
	j := mustStatus(t, s, 1, StatusCompleted)
	if len(j.Result.Error) > MaxErrorBytes || !strings.HasSuffix(j.Result.Error, "[truncated]") || !utf8.ValidString(j.Result.Error) {
		t.Fatalf("error not cut cleanly: %d bytes, valid %v", len(j.Result.Error), utf8.ValidString(j.Result.Error))
	}
}
