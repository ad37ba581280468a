package store

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"
)

var testPrice = CallPrice{BaseFee: 1000, PerMillionInstructions: 1, PerSecond: 1}

func keyHash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

func mustKey(t *testing.T, s *Store, owner string, nonce uint32, balance uint64, projects ...string) {
	t.Helper()
	err := s.Update(func(tx *Tx) error {
		if _, err := tx.CreateKey(KeyCreated{EventID: fmt.Sprintf("create:%s:%d", owner, nonce), Owner: owner, Nonce: nonce,
			KeyHash: keyHash("secret-" + owner), ProjectIDs: projects}, t0); err != nil {
			return err
		}
		if balance == 0 {
			return nil
		}
		_, err := tx.TopUpKey(KeyToppedUp{EventID: fmt.Sprintf("topup:%s:%d:0", owner, nonce), Owner: owner, Nonce: nonce, Amount: balance}, t0)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func callSpec(id, owner string, limit uint64) CallSpec {
	return CallSpec{ID: id, Owner: owner, Nonce: 1, KeyHash: keyHash("secret-" + owner), ProjectID: "bob.near/app",
		ComputeLimit: limit, Price: testPrice}
}

func callRequest() Request {
	return Request{Code: CodeSource{Wasm: &WasmSource{URL: "https://x/p.wasm", Hash: fmt.Sprintf("%064x", 5)}},
		Input: `{"a":1}`, ResponseFormat: "Json", Limits: Limits{MaxInstructions: 1e9, MaxExecutionSeconds: 5}}
}

func startCall(t *testing.T, s *Store, spec CallSpec, now time.Time) CallStarted {
	t.Helper()
	var out CallStarted
	if err := s.Update(func(tx *Tx) (err error) { out, err = tx.StartCall(spec, callRequest(), now); return err }); err != nil {
		t.Fatalf("start call %s: %v", spec.ID, err)
	}
	return out
}

func settle(t *testing.T, s *Store, id string, now time.Time) (*Call, error) {
	t.Helper()
	var c *Call
	err := s.Update(func(tx *Tx) (err error) { c, err = tx.SettleCall(id, now); return err })
	return c, err
}

func TestKeyEventsApplyOnce(t *testing.T) {
	s := openTemp(t)
	mustKey(t, s, "alice.near", 1, 50_000)
	// The same top-up seen again (a new leader re-reading the chain) is
	// applied once.
	err := s.Update(func(tx *Tx) error {
		out, err := tx.TopUpKey(KeyToppedUp{EventID: "topup:alice.near:1:0", Owner: "alice.near", Nonce: 1, Amount: 50_000}, t0)
		if out != KeyEventSeen {
			t.Errorf("repeated top-up: %v, want already applied", out)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	k, err := s.PaymentKey("alice.near", 1)
	if err != nil || k.InitialBalance != 50_000 || k.Available() != 50_000 {
		t.Fatalf("key %+v, %v; want balance 50000", k, err)
	}
	// Write-once, and bad events change nothing.
	bad := []func(tx *Tx) error{
		func(tx *Tx) error {
			_, err := tx.CreateKey(KeyCreated{EventID: "other", Owner: "alice.near", Nonce: 1, KeyHash: keyHash("x")}, t0)
			return err
		},
		func(tx *Tx) error {
			_, err := tx.CreateKey(KeyCreated{EventID: "e2", Owner: "alice.near", Nonce: 2, KeyHash: "ABC"}, t0)
			return err
		},
		func(tx *Tx) error {
			_, err := tx.CreateKey(KeyCreated{EventID: "e3", Owner: "alice.near", Nonce: 0, KeyHash: keyHash("x")}, t0)
			return err
		},
		func(tx *Tx) error {
			_, err := tx.TopUpKey(KeyToppedUp{EventID: "e4", Owner: "nobody.near", Nonce: 1, Amount: 5}, t0)
			return err
		},
		func(tx *Tx) error {
			_, err := tx.TopUpKey(KeyToppedUp{EventID: "e5", Owner: "alice.near", Nonce: 1, Amount: math.MaxUint64}, t0)
			return err
		},
		func(tx *Tx) error {
			_, err := tx.TopUpKey(KeyToppedUp{EventID: "", Owner: "alice.near", Nonce: 1, Amount: 5}, t0)
			return err
		},
	}
	before, _ := s.Digest()
	for i, f := range bad {
		err := s.Update(func(tx *Tx) error {
			if err := f(tx); err == nil {
				t.Errorf("bad event %d was accepted", i)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if after, _ := s.Digest(); after != before {
		t.Error("refused key events changed the store")
	}
}

func TestCallRefusalsWriteNothing(t *testing.T) {
	s := openTemp(t)
	mustKey(t, s, "alice.near", 1, 5_000, "bob.near/app")
	err := s.Update(func(tx *Tx) error {
		_, err := tx.CreateKey(KeyCreated{EventID: "c", Owner: "carol.near", Nonce: 1, KeyHash: keyHash("secret-carol.near"), MaxPerCall: 2_000}, t0)
		if err != nil {
			return err
		}
		_, err = tx.TopUpKey(KeyToppedUp{EventID: "t", Owner: "carol.near", Nonce: 1, Amount: 100_000}, t0)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	wrongSecret := callSpec("c1", "alice.near", 1000)
	wrongSecret.KeyHash = keyHash("guess")
	otherProject := callSpec("c2", "alice.near", 1000)
	otherProject.ProjectID = "mallory.near/app"
	unknown := callSpec("c3", "nobody.near", 1000)
	cases := []struct {
		spec CallSpec
		want CallRefusal
	}{
		{wrongSecret, RefusedInvalidKey},
		{unknown, RefusedInvalidKey},
		{otherProject, RefusedProjectNotAllowed},
		{callSpec("c4", "alice.near", 5_001), RefusedInsufficientBalance},
		{callSpec("c5", "carol.near", 2_001), RefusedMaxPerCall},
		{CallSpec{ID: "c6", Owner: "carol.near", Nonce: 1, KeyHash: keyHash("secret-carol.near"), ProjectID: "x/y", ComputeLimit: math.MaxUint64, Deposit: 2}, RefusedMaxPerCall},
	}
	before, _ := s.Digest()
	for _, c := range cases {
		out := startCall(t, s, c.spec, t0)
		if out.Refused == nil || out.Refused.Reason != c.want || out.Call != nil {
			t.Errorf("%s: %+v, want refused %s", c.spec.ID, out, c.want)
		}
	}
	if after, _ := s.Digest(); after != before {
		t.Error("refused calls changed the store")
	}
	// The whole balance can be reserved, not a unit more.
	if out := startCall(t, s, callSpec("ok", "alice.near", 5_000), t0); out.Call == nil {
		t.Fatalf("a call for exactly the balance was refused: %+v", out.Refused)
	}
	if out := startCall(t, s, callSpec("more", "alice.near", 1000), t0); out.Refused == nil || out.Refused.Message != "Insufficient balance: available=0, required=1000" {
		t.Fatalf("second call: %+v, want insufficient balance", out)
	}
}

func TestCallReservesAndSettlesExactlyOnce(t *testing.T) {
	s := openTemp(t)
	mustKey(t, s, "alice.near", 1, 100_000)
	out := startCall(t, s, callSpec("call-1", "alice.near", 10_000), t0)
	if out.Call == nil || out.Call.JobID != CallIDBase || out.Call.Reserved != 10_000 {
		t.Fatalf("start: %+v", out)
	}
	// The same call id again (a retried proposal) is the same call.
	if again := startCall(t, s, callSpec("call-1", "alice.near", 10_000), t0); !again.Known || again.Call.JobID != CallIDBase {
		t.Fatalf("repeat start: %+v, want the known call", again)
	}
	k, _ := s.PaymentKey("alice.near", 1)
	if k.Reserved != 10_000 || k.Available() != 90_000 || k.Calls != 1 {
		t.Fatalf("after reserve: %+v", k)
	}
	j := mustStatus(t, s, CallIDBase, StatusQueued)
	if j.Call != "call-1" || j.Sender != "alice.near" {
		t.Fatalf("call request: %+v", j.Request)
	}
	// Not settleable while it runs.
	if _, err := settle(t, s, "call-1", t0); !errors.Is(err, ErrInvalidTransition) {
		t.Fatalf("settle while queued: %v", err)
	}
	if _, err := s.Assign(CallIDBase, "n1", t0.Add(time.Minute), t0); err != nil {
		t.Fatal(err)
	}
	res := Result{Success: true, Output: []byte(`"ok"`), Instructions: 3_500_000, TimeMs: 2_100}
	if _, err := s.Complete(CallIDBase, "n1", res, t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	c, err := settle(t, s, "call-1", t0.Add(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	wantCost := uint64(1000 + 3 + 2)
	if c.Status != CallCompleted || c.ComputeCost != wantCost || c.Charged != wantCost {
		t.Fatalf("settled: %+v, want completed at %d", c, wantCost)
	}
	// Settling again changes nothing.
	before, _ := s.Digest()
	if _, err := settle(t, s, "call-1", t0.Add(3*time.Second)); err != nil {
		t.Fatal(err)
	}
	if after, _ := s.Digest(); after != before {
		t.Error("a second settlement changed the store")
	}
	k, _ = s.PaymentKey("alice.near", 1)
	if k.Reserved != 0 || k.Spent != wantCost || k.Available() != 100_000-wantCost {
		t.Fatalf("after settle: %+v", k)
	}
	mustStatus(t, s, CallIDBase, StatusResolved)
	if un, _ := s.Unresolved(0); len(un) != 0 {
		t.Fatalf("settled call still awaits a resolve: %v", un)
	}
}

func TestCallChargeIsCappedAndFailuresCostNothingWithoutAResult(t *testing.T) {
	s := openTemp(t)
	mustKey(t, s, "alice.near", 1, 100_000)
	spec := callSpec("big", "alice.near", 2_000)
	spec.Deposit = 500
	startCall(t, s, spec, t0)
	startCall(t, s, callSpec("lost", "alice.near", 3_000), t0)
	startCall(t, s, callSpec("trap", "alice.near", 4_000), t0)
	big, lost, trap := CallIDBase, CallIDBase+1, CallIDBase+2
	for _, id := range []uint64{big, trap} {
		if _, err := s.Assign(id, "n1", t0.Add(time.Minute), t0); err != nil {
			t.Fatal(err)
		}
	}
	// A run that used far more than its budget is charged the budget;
	// the deposit is paid on success.
	if _, err := s.Complete(big, "n1", Result{Success: true, Output: []byte(`1`), Instructions: 9e12, TimeMs: 1}, t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	// A program failure is charged what it ran, without the deposit.
	if _, err := s.Complete(trap, "n1", Result{Success: false, Error: "trap", Instructions: 2e6}, t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	// A call the cluster gave up on (no result) is charged nothing.
	if _, err := s.Fail(lost, "Timeout waiting for result", t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	want := map[string][2]uint64{"big": {2_000, 2_500}, "lost": {0, 0}, "trap": {1002, 1002}}
	var total uint64
	for id, w := range want {
		c, err := settle(t, s, id, t0.Add(2*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if c.ComputeCost != w[0] || c.Charged != w[1] {
			t.Errorf("%s: cost %d charged %d, want %d and %d", id, c.ComputeCost, c.Charged, w[0], w[1])
		}
		total += c.Charged
	}
	k, _ := s.PaymentKey("alice.near", 1)
	if k.Reserved != 0 || k.Spent != total {
		t.Fatalf("key %+v, want spent %d and nothing reserved", k, total)
	}
	// The successful call's deposit went to the project's owner; the
	// failed calls paid none.
	if e, err := s.Earnings("bob.near"); err != nil || e.TotalEarned != 500 {
		t.Fatalf("bob's earnings %+v, %v; want 500", e, err)
	}
	calls, err := s.KeyCalls("alice.near", 1, 0, 2)
	if err != nil || len(calls) != 2 || calls[0].ID != "trap" || calls[1].ID != "lost" {
		t.Fatalf("newest two calls: %v %v", calls, err)
	}
	calls, _ = s.KeyCalls("alice.near", 1, 2, 10)
	if len(calls) != 1 || calls[0].ID != "big" {
		t.Fatalf("page after 2: %v", calls)
	}
}

func TestHighestChainIDIgnoresCalls(t *testing.T) {
	s := openTemp(t)
	if _, ok, _ := s.HighestChainID(); ok {
		t.Fatal("empty store has a highest id")
	}
	mustKey(t, s, "alice.near", 1, 100_000)
	startCall(t, s, callSpec("c", "alice.near", 1_000), t0)
	if _, ok, _ := s.HighestChainID(); ok {
		t.Fatal("a call counted as a chain request")
	}
	mustEnqueue(t, s, 3, 9)
	if id, ok, _ := s.HighestChainID(); !ok || id != 9 {
		t.Fatalf("highest chain id %d %v, want 9", id, ok)
	}
}

func TestDeletedKeyRefusesNewCallsAndSettlesRunningOnes(t *testing.T) {
	s := openTemp(t)
	mustKey(t, s, "alice.near", 1, 100_000)
	startCall(t, s, callSpec("running", "alice.near", 1_000), t0)
	if err := s.Update(func(tx *Tx) error {
		_, err := tx.DeleteKey(KeyDeleted{EventID: "d", Owner: "alice.near", Nonce: 1}, t0)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if out := startCall(t, s, callSpec("new", "alice.near", 1_000), t0); out.Refused == nil || out.Refused.Reason != RefusedInvalidKey {
		t.Fatalf("call on a deleted key: %+v", out)
	}
	if _, err := s.Fail(CallIDBase, "gave up", t0); err != nil {
		t.Fatal(err)
	}
	if _, err := settle(t, s, "running", t0); err != nil {
		t.Fatal(err)
	}
	if k, _ := s.PaymentKey("alice.near", 1); k.Reserved != 0 {
		t.Fatalf("reservation of a deleted key's call not released: %+v", k)
	}
}

// A top-up synced from the chain's total counts once, whatever the order.
func TestTopUpTotalsNeverCountTwice(t *testing.T) {
	s := openTemp(t)
	mustKey(t, s, "alice.near", 1, 0)
	apply := func(id string, amount, total uint64) error {
		return s.Update(func(tx *Tx) error {
			_, err := tx.TopUpKey(KeyToppedUp{EventID: id, Owner: "alice.near", Nonce: 1, Amount: amount, Total: total}, t0)
			return err
		})
	}
	for _, step := range []struct {
		id    string
		total uint64
		want  uint64
	}{{"sync/1", 5_000, 5_000}, {"sync/3", 12_000, 12_000}, {"sync/2", 9_000, 12_000}, {"sync/3b", 12_000, 12_000}} {
		if err := apply(step.id, 0, step.total); err != nil {
			t.Fatal(err)
		}
		if k, _ := s.PaymentKey("alice.near", 1); k.InitialBalance != step.want {
			t.Fatalf("after %s: balance %d, want %d", step.id, k.InitialBalance, step.want)
		}
	}
	for _, bad := range [][2]uint64{{0, 0}, {5, 5}} {
		if err := apply("bad", bad[0], bad[1]); !errors.Is(err, ErrBadInput) {
			t.Errorf("amount %d total %d: %v, want ErrBadInput", bad[0], bad[1], err)
		}
	}
	ks, err := s.PaymentKeys()
	if err != nil || len(ks) != 1 || ks[0].Owner != "alice.near" {
		t.Fatalf("keys %v %v", ks, err)
	}
}
