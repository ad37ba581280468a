package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"testing"

	"github.com/outlayer/outlayer/consensus"
	"github.com/outlayer/outlayer/contracts"
	"github.com/outlayer/outlayer/contracts/near"
)

// The key watcher against a scripted contract and a real store: what it
// proposes for new, topped-up, unchanged and vanished keys, and that a
// sync repeated, or read by a second leader, changes nothing.
func TestKeyWatcherSyncsTheContractsKeys(t *testing.T) {
	h := newAPIHarness(t, CallsConfig{}) // alice.near:1 created by command (ChainID 0)
	seq := uint64(1)
	var keys []contracts.PaymentKeyView
	views := 0
	chain := &fakeChain{height: 100, view: func(method string, args any, out any) error {
		views++
		var v any
		switch method {
		case contracts.MethodGetPaymentKeysSeq:
			v = seq
		case contracts.MethodListPaymentKeys:
			a := args.(contracts.ListPaymentKeysArgs)
			var page []contracts.PaymentKeyView
			for _, k := range keys {
				if k.ID >= *a.FromIndex && uint64(len(page)) < *a.Limit {
					page = append(page, k)
				}
			}
			v = page
		default:
			return fmt.Errorf("unexpected view %s", method)
		}
		b, _ := json.Marshal(v)
		return json.Unmarshal(b, out)
	}}
	w := &keyWatcher{replica: h.st, propose: h.prop, chain: chain, contract: "outlayer.test", log: quietLog()}
	ctx := context.Background()
	// 150 keys: two pages.
	for i := range 150 {
		keys = append(keys, contracts.PaymentKeyView{ID: uint64(i + 1), Owner: fmt.Sprintf("u%d.near", i), Nonce: 1,
			KeyHash: SecretHash(fmt.Sprintf("%064x", i)), InitialBalance: near.U128{Lo: uint64(1000 * i)}, TopUps: 1})
	}
	keys[3].InitialBalance = near.U128{Hi: 1} // beyond 2^64-1: not synced
	keys[4].MaxPerCall = near.U128{Lo: 7_000}
	if err := w.pollOnce(ctx); err != nil {
		t.Fatal(err)
	}
	ks, _ := h.st.PaymentKeys()
	if len(ks) != 1+149 {
		t.Fatalf("%d keys in the store, want 150 (alice's and 149 of the chain's)", len(ks))
	}
	if k, _ := h.st.PaymentKey("u7.near", 1); k == nil || k.InitialBalance != 7000 || k.ChainID != 8 {
		t.Fatalf("u7: %+v", k)
	}
	if k, _ := h.st.PaymentKey("u4.near", 1); k == nil || k.MaxPerCall != 7_000 {
		t.Fatalf("u4: %+v", k)
	}
	// Same sequence: one view, nothing proposed.
	before, cmds := views, len(h.prop.cmds)
	if err := w.pollOnce(ctx); err != nil || views != before+1 || len(h.prop.cmds) != cmds {
		t.Fatalf("unchanged sequence: %v, %d views, %d commands", err, views-before, len(h.prop.cmds)-cmds)
	}
	// A top-up and a deletion on chain.
	keys[7].InitialBalance, keys[7].TopUps = near.U128{Lo: 9_500}, 2
	keys = append(keys[:10], keys[11:]...) // u10.near deleted
	seq = 3
	if err := w.pollOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if k, _ := h.st.PaymentKey("u7.near", 1); k.InitialBalance != 9_500 {
		t.Fatalf("u7 after its top-up: %+v", k)
	}
	if k, _ := h.st.PaymentKey("u10.near", 1); !k.Deleted() {
		t.Fatalf("u10 after its deletion: %+v", k)
	}
	if k, _ := h.st.PaymentKey("alice.near", 1); k.Deleted() {
		t.Fatal("a key that never came from the contract was deleted")
	}
	// A second leader (fresh watcher) syncs everything again: no change.
	digest, _ := h.st.Digest()
	w2 := &keyWatcher{replica: h.st, propose: h.prop, chain: chain, contract: "outlayer.test", log: quietLog()}
	if err := w2.pollOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if after, _ := h.st.Digest(); after != digest {
		t.Fatal("a second sync of the same chain state changed the store")
	}
	n := h.prop.count(func(c consensus.Command) bool {
		tu, ok := c.(*consensus.KeyTopUp)
		return ok && tu.Event.Owner == "u7.near"
	})
	if n < 2 {
		t.Fatalf("u7 saw %d top-up commands", n)
	}
	if _, ok := u64Of(near.U128{Hi: 1, Lo: math.MaxUint64}); ok {
		t.Fatal("u64Of accepted a value over 2^64-1")
	}
}
