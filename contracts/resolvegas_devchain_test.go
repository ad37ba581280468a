package contracts_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/outlayer/outlayer/contracts"
	"github.com/outlayer/outlayer/contracts/near"
	"github.com/outlayer/outlayer/testnet/fixture"
)

// ResolveGas suffices for every payload kind and signature count (each
// resolve attaches exactly ResolveGas) and is not far above what the
// resolve burns.
func TestResolveGasCoversMeasuredUse(t *testing.T) {
	w := newBareWorld(t, fixture.WorldConfig{})
	contract := w.outlayer.AccountID()
	sixteen := uint64(16)
	if _, err := w.call(w.owner, contract, contracts.MethodSetAgreement, contracts.AgreementArgs{ChainID: "localnet", MaxSignatures: &sixteen}, near.U128{}); err != nil {
		t.Fatal(err)
	}
	var execs []executor
	for i := 0; i < 16; i++ {
		e := newExecutor(t)
		execs = append(execs, e)
		if _, err := w.call(w.owner, contract, contracts.MethodAddExecutorKey, contracts.AddExecutorKeyArgs{PublicKey: e.pub}, near.U128{}); err != nil {
			t.Fatal(err)
		}
	}
	limits := contracts.DefaultResourceLimits()
	deposit := add(contracts.DefaultPricing().Estimate(limits), near.OneNEAR)
	run := func(k int, out *contracts.ExecutionOutput, errText *string) {
		a := contracts.RequestExecutionArgs{CodeSource: contracts.CodeSource{GitHub: &contracts.GitHubSource{Repo: "github.com/a/b", Commit: "main"}}, ResourceLimits: &limits,
			RequiredSignatures: ptr(uint64(k))}
		h := w.send(w.alice, contract, contracts.MethodRequestExecution, a, deposit)
		req := w.waitPending(1)[0]
		resp := contracts.ExecutionResponse{Success: errText == nil, Output: out, Error: errText, ResourcesUsed: contracts.ResourceMetrics{Instructions: 1, TimeMs: 1}}
		claim, err := req.ClaimRequest("localnet", contract).Claim([32]byte{1}, resp)
		if err != nil {
			t.Fatal(err)
		}
		var sigs []contracts.ExecutorSignature
		for i := 0; i < k; i++ {
			sigs = append(sigs, contracts.SignClaim(claim, execs[i].priv))
		}
		method, args, err := contracts.ResolveCallSigned(req.RequestID, resp, [32]byte{1}, sigs)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := json.Marshal(args)
		gas, err := contracts.ResolveGas(args)
		if err != nil {
			t.Fatal(err)
		}
		res, err := w.operator.CallFunction(w.ctx, contract, method, args, gas, near.U128{})
		if err != nil {
			t.Fatalf("%s with %d signatures and %d argument bytes, %d gas attached: %v", method, k, len(raw), gas, err)
		}
		burnt := res.ReceiptsOutcome[0].Outcome.GasBurnt
		t.Logf("gas: %s, %d signatures, %d argument bytes: burnt %.2f Tgas, ResolveGas %.2f Tgas", method, k, len(raw), float64(burnt)/1e12, float64(gas)/1e12)
		if gas > 3*burnt+5*near.TGas {
			t.Errorf("ResolveGas %d is far above the %d burnt", gas, burnt)
		}
		if raw, err := w.final(h, w.alice.AccountID()).Result(); err != nil || (errText == nil && string(raw) == "null") {
			t.Fatalf("the caller got %.40s, %v", raw, err)
		}
	}
	run(1, contracts.TextOutput("x"), nil)
	run(4, contracts.TextOutput("x"), nil)
	run(16, contracts.TextOutput("x"), nil)
	run(1, nil, ptr(strings.Repeat("e", 500)))
	run(1, contracts.TextOutput(strings.Repeat("y", 100_000)), nil)
	run(1, contracts.TextOutput(strings.Repeat("\"", 50_000)), nil)
	run(16, contracts.BytesOutput(bytes.Repeat([]byte{250}, 50_000)), nil)
	run(1, contracts.JSONOutput(json.RawMessage(`[`+strings.Repeat(`{"a":1},`, 5000)+`1]`)), nil)
}
