package daemon

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"strings"
	"testing"

	"github.com/outlayer/outlayer/contracts"
	"github.com/outlayer/outlayer/contracts/near"
	"github.com/outlayer/outlayer/store"
)

type fakeStatus struct{ id string }

func (f fakeStatus) Status(context.Context) (*near.StatusResult, error) {
	return &near.StatusResult{ChainID: f.id}, nil
}

func newKey(t *testing.T) ed25519.PrivateKey {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func claimJob() *store.Job {
	return &store.Job{Request: store.Request{ID: 7, DataID: strings.Repeat("ab", 32), Sender: "alice.test", Input: "in",
		Code: store.CodeSource{Wasm: &store.WasmSource{URL: "https://x/a.wasm", Hash: strings.Repeat("cd", 32)}}, ResponseFormat: "Text"},
		Status: store.StatusAssigned}
}

// Executors sign the claim the contract recomputes; the resolver sends the
// majority's valid signatures, one per key, and leaves out the rest.
func TestExecutorSignaturesReachTheResolve(t *testing.T) {
	chain := &fakeChain{view: func(method string, _ any, out any) error {
		if method != "get_agreement" {
			return errors.New("unexpected view " + method)
		}
		out.(*agreementView).ChainID = "testchain"
		return nil
	}}
	cc := &claimChain{chain: chain, status: fakeStatus{"rpc-chain"}, contract: "outlayer.test"}
	j := claimJob()
	keys := []ed25519.PrivateKey{newKey(t), newKey(t), newKey(t)}
	var results []store.Result
	for i, k := range keys {
		res := store.Result{Success: true, Output: []byte("out"), Instructions: 5, WasmHash: strings.Repeat("cd", 32), Node: string(rune('A' + i))}
		if err := (&keySigner{key: k, contract: "outlayer.test", chain: cc}).signResult(context.Background(), j, &res); err != nil {
			t.Fatal(err)
		}
		if res.SignerKey != executorKey(k).String() || len(res.Signature) != ed25519.SignatureSize {
			t.Fatalf("signed result: key %q, %d signature bytes", res.SignerKey, len(res.Signature))
		}
		results = append(results, res)
	}
	results[2].Signature[0] ^= 1 // C's signature is damaged
	dup := results[0]
	dup.Node = "D" // and D copied A's signature
	done := *j
	done.Status = store.StatusCompleted
	done.Agreement = &store.Agreement{K: 2, Results: append(results, dup)}
	done.Result = &results[0]
	sigs, wasm, problems := signaturesFor("testchain", "outlayer.test", &done)
	if len(sigs) != 2 || sigs[0].PublicKey.String() != results[0].SignerKey || sigs[1].PublicKey.String() != results[1].SignerKey {
		t.Fatalf("signatures %+v, want A's and B's", sigs)
	}
	if len(problems) != 1 || !strings.Contains(problems[0].Error(), "not a valid signature") {
		t.Fatalf("problems %v, want C's bad signature", problems)
	}
	if wasm[0] != 0xcd {
		t.Fatalf("wasm hash %x", wasm)
	}
	// The contract's view of the claim: recomputed from the resolve's own
	// arguments, every signature verifies.
	method, args, err := contracts.ResolveCallSigned(done.ID, responseFor(&done), wasm, sigs)
	if err != nil || method != contracts.MethodResolveExecution {
		t.Fatal(method, err)
	}
	a := args.(contracts.ResolveExecutionArgs)
	cr, _ := ClaimRequestFor("testchain", "outlayer.test", &done)
	claim, err := cr.Claim(wasm, a.Response)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range a.Signatures {
		if err := contracts.VerifyClaimSignature(claim, s); err != nil {
			t.Fatal(err)
		}
	}
	// A claim of another chain or contract does not verify.
	for _, other := range []struct{ chain, contract string }{{"mainnet", "outlayer.test"}, {"testchain", "other.test"}} {
		cr, _ := ClaimRequestFor(other.chain, other.contract, &done)
		c2, _ := cr.Claim(wasm, a.Response)
		if err := contracts.VerifyClaimSignature(c2, a.Signatures[0]); err == nil {
			t.Errorf("a signature for testchain/outlayer.test verified for %s/%s", other.chain, other.contract)
		}
	}
}

// A contract without a chain id (it checks no signatures) gets the RPC
// node's, cached for a while and then asked again; one with a chain id is
// read once.
func TestClaimChainID(t *testing.T) {
	views := 0
	id := ""
	chain := &fakeChain{view: func(_ string, _ any, out any) error {
		views++
		out.(*agreementView).ChainID = id
		return nil
	}}
	cc := &claimChain{chain: chain, status: fakeStatus{"rpc-chain"}, contract: "c"}
	for range 2 {
		if got, err := cc.chainID(context.Background()); err != nil || got != "rpc-chain" {
			t.Fatalf("without a contract chain id: %q %v", got, err)
		}
	}
	if views != 1 {
		t.Fatalf("%d views for two claims within %s, want 1", views, claimChainRecheck)
	}
	cc.at = cc.at.Add(-claimChainRecheck) // the recheck is due
	id = "testchain"
	for range 2 {
		if got, err := cc.chainID(context.Background()); err != nil || got != "testchain" {
			t.Fatalf("with one: %q %v", got, err)
		}
	}
	if views != 2 {
		t.Fatalf("%d views, want 2 (the configured id is read once)", views)
	}
}
