package daemon

import (
	"context"
	"crypto/ed25519"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/outlayer/outlayer/contracts"
	"github.com/outlayer/outlayer/store"
)

// A member signs a failure only when its own replica shows the request
// failed with exactly the error the asker's claim carries: a request that
// is queued, completed or unknown, or a claim with another reason, is
// refused.
func TestFailureSignerChecksTheReplica(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "state.db"), store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ctx := context.Background()
	req := func(id uint64) store.Request {
		return store.Request{ID: id, DataID: strings.Repeat("ab", 32), Sender: "caller.test", Input: "in", RequiredSignatures: 2, Deposit: "1000",
			Code: store.CodeSource{Wasm: &store.WasmSource{URL: "https://x/p.wasm", Hash: strings.Repeat("cd", 32)}}, Limits: store.Limits{MaxInstructions: 1, MaxExecutionSeconds: 1}}
	}
	const reason = "the 3 executors that ran this request disagreed"
	if err := st.Update(func(tx *store.Tx) error {
		if _, err := tx.EnqueueBatch([]store.Request{req(1), req(2)}, nil, time.Now()); err != nil {
			return err
		}
		_, err := tx.Fail(1, reason, time.Now())
		return err
	}); err != nil {
		t.Fatal(err)
	}

	_, key, _ := ed25519.GenerateKey(nil)
	s := &failureSigner{replica: st, key: key, contract: "outlayer.test", wait: 200 * time.Millisecond,
		chain: &claimChain{id: "devchain", final: true}}
	failed, err := st.Get(1)
	if err != nil {
		t.Fatal(err)
	}
	claim, err := failureClaim("devchain", "outlayer.test", failed)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := s.sign(ctx, 1, claim.Hash())
	if err != nil {
		t.Fatalf("the failure the replica shows: %v", err)
	}
	if err := contracts.VerifyClaimSignature(claim, sig); err != nil {
		t.Fatalf("the signature does not verify: %v", err)
	}
	if claim.Success || claim.WasmSHA256 != ([32]byte{}) || claim.Instructions != 0 {
		t.Fatalf("a failure claim binds success %t, wasm %x, %d instructions", claim.Success, claim.WasmSHA256, claim.Instructions)
	}

	// The same request failed for another reason: not what the replica shows.
	other := *failed
	other.Error = "no member of the cluster may execute this request"
	wrong, err := failureClaim("devchain", "outlayer.test", &other)
	if err != nil {
		t.Fatal(err)
	}
	// Another chain or contract: a different claim.
	elsewhere, err := failureClaim("mainnet", "outlayer.test", failed)
	if err != nil {
		t.Fatal(err)
	}
	queued, err := st.Get(2)
	if err != nil {
		t.Fatal(err)
	}
	queued.Status, queued.Error = store.StatusFailed, reason
	asQueued, err := failureClaim("devchain", "outlayer.test", queued)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		id   uint64
		hash [32]byte
		want string
	}{
		{"another reason", 1, wrong.Hash(), "not the one this node's replica shows"},
		{"another chain", 1, elsewhere.Hash(), "not the one this node's replica shows"},
		{"a queued request", 2, asQueued.Hash(), "as queued, not failed"},
		{"an unknown request", 3, claim.Hash(), "has no request 3"},
	} {
		_, err := s.sign(ctx, c.id, c.hash)
		if !errors.Is(err, errFailureRefused) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want a refusal saying %q", c.name, err, c.want)
		}
	}
}
