package contracts_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/outlayer/outlayer/contracts"
	"github.com/outlayer/outlayer/contracts/near"
	"github.com/outlayer/outlayer/testnet/fixture"
)

// executor is a node key that signs result claims.
type executor struct {
	priv ed25519.PrivateKey
	pub  near.PublicKey
}

func newExecutor(t *testing.T) executor {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return executor{priv: priv, pub: near.PublicKeyFromEd25519(pub)}
}

// k-of-n on the devchain: a request needing 2 signatures is refused every
// way short of 2 valid signatures by distinct registered keys over the
// claim the contract computes, and settles with exactly 2, charging by the
// pricing formula and refunding the rest.
func TestAgreementRefusesAllButKValidSignatures(t *testing.T) {
	w := newBareWorld(t, fixture.WorldConfig{})
	contract := w.outlayer.AccountID()
	limits := contracts.DefaultResourceLimits()
	deposit := add(contracts.DefaultPricing().Estimate(limits), near.OneNEAR)
	reqArgs := contracts.RequestExecutionArgs{
		CodeSource: wasmSource(), ResourceLimits: &limits, InputData: ptr(`{"n":5}`), PayerAccountID: w.payer,
		SecretsRef: &contracts.SecretsRef{Profile: "default", AccountID: w.alice.AccountID()},
	}

	// Configuration: owner only, checked together.
	two, three := uint64(2), uint64(3)
	_, err := w.call(w.alice, contract, contracts.MethodSetAgreement, contracts.AgreementArgs{ChainID: "localnet", DefaultSignatures: &two}, near.U128{})
	mustPanic(t, err, "Only owner can call this method")
	_, err = w.call(w.owner, contract, contracts.MethodSetAgreement, contracts.AgreementArgs{DefaultSignatures: ptr(uint64(0))}, near.U128{})
	mustPanic(t, err, "default_signatures must be at least 1")
	if _, err := w.call(w.owner, contract, contracts.MethodSetAgreement, contracts.AgreementArgs{ChainID: "localnet", DefaultSignatures: &two, MaxSignatures: &three}, near.U128{}); err != nil {
		t.Fatalf("set_agreement: %v", err)
	}
	var ag contracts.Agreement
	w.view(contract, contracts.MethodGetAgreement, nil, &ag)
	if ag.ChainID != "localnet" || ag.DefaultSignatures != 2 || ag.MaxSignatures != 3 || ag.RegistrarID != nil {
		t.Fatalf("get_agreement = %+v", ag)
	}

	// No request may wait for signers that do not exist.
	_, err = w.call(w.alice, contract, contracts.MethodRequestExecution, reqArgs, deposit)
	mustPanic(t, err, "needs 2 executor signatures, but only 0 executor keys are registered")

	e1, e2, e3, stranger := newExecutor(t), newExecutor(t), newExecutor(t), newExecutor(t)
	_, err = w.call(w.operator, contract, contracts.MethodAddExecutorKey, contracts.AddExecutorKeyArgs{PublicKey: stranger.pub}, near.U128{})
	mustPanic(t, err, "Only the owner or the registrar may change executor keys")
	for i, e := range []executor{e1, e2, e3} {
		if _, err := w.call(w.owner, contract, contracts.MethodAddExecutorKey, contracts.AddExecutorKeyArgs{PublicKey: e.pub, NodeID: "node" + string(rune('1'+i))}, near.U128{}); err != nil {
			t.Fatalf("add_executor_key: %v", err)
		}
	}
	_, err = w.call(w.owner, contract, contracts.MethodAddExecutorKey, contracts.AddExecutorKeyArgs{PublicKey: e1.pub}, near.U128{})
	mustPanic(t, err, "is already registered")
	var keys []contracts.ExecutorKey
	w.view(contract, contracts.MethodListExecutorKeys, nil, &keys)
	if len(keys) != 3 || keys[0].PublicKey != e1.pub.String() || keys[1].NodeID != "node2" || keys[2].AddedBy != w.owner.AccountID() {
		t.Fatalf("list_executor_keys = %+v", keys)
	}

	// A request's own k: within 1..max_signatures.
	for k, want := range map[uint64]string{0: "required_signatures must be at least 1", 4: "this contract allows at most 3"} {
		a := reqArgs
		a.RequiredSignatures = ptr(k)
		_, err := w.call(w.alice, contract, contracts.MethodRequestExecution, a, deposit)
		mustPanic(t, err, want)
	}

	payerBefore := w.balance(w.payer)
	h := w.send(w.alice, contract, contracts.MethodRequestExecution, reqArgs, deposit)
	req := w.waitPending(1)[0]
	t.Logf("request storage: %d bytes", req.StorageBytes)
	if req.RequiredSignatures != 2 {
		t.Fatalf("request records k = %d, want the default 2", req.RequiredSignatures)
	}
	cr := req.ClaimRequest("localnet", contract)
	var wasm [32]byte
	copy(wasm[:], bytes.Repeat([]byte{0xab}, 32)) // wasmSource's hash
	used := contracts.ResourceMetrics{Instructions: 7_000_000, TimeMs: 40}
	resp := contracts.ExecutionResponse{Success: true, Output: contracts.TextOutput("25"), ResourcesUsed: used}
	claim, err := cr.Claim(wasm, resp)
	if err != nil {
		t.Fatal(err)
	}
	sign := func(e executor) contracts.ExecutorSignature { return contracts.SignClaim(claim, e.priv) }
	forged := resp
	forged.Output = contracts.TextOutput("FORGED")
	forgedClaim, _ := cr.Claim(wasm, forged)

	resolve := func(signer *near.Signer, r contracts.ExecutionResponse, wasm [32]byte, sigs ...contracts.ExecutorSignature) error {
		method, args, err := contracts.ResolveCallSigned(req.RequestID, r, wasm, sigs)
		if err != nil {
			t.Fatal(err)
		}
		_, err = w.call(signer, contract, method, args, near.U128{})
		return err
	}
	// The removed key: registered when the test starts, removed before use.
	if _, err := w.call(w.owner, contract, contracts.MethodRemoveExecutorKey, contracts.ExecutorKeyArgs{PublicKey: e3.pub}, near.U128{}); err != nil {
		t.Fatalf("remove_executor_key: %v", err)
	}
	stateBefore := w.state(contract)
	var otherWasm [32]byte
	otherWasm[0] = 1
	refusals := []struct {
		name string
		err  error
		want string
	}{
		{"the operator without signatures", resolve(w.operator, resp, wasm), "needs 2 executor signatures of its result claim; the resolve carries none"},
		{"k-1 signatures", resolve(w.operator, resp, wasm, sign(e1)), "needs 2 executor signatures; the resolve carries 1"},
		{"a repeated key", resolve(w.operator, resp, wasm, sign(e1), sign(e1)), "signed more than once"},
		{"an unknown key", resolve(w.operator, resp, wasm, sign(e1), sign(stranger)), "is not registered"},
		{"a removed key", resolve(w.operator, resp, wasm, sign(e3), sign(e1)), "is not registered"},
		{"a signature over a different claim", resolve(w.operator, resp, wasm, sign(e1), contracts.SignClaim(forgedClaim, e2.priv)), "is not over this result's claim"},
		{"valid signatures with a forged output", resolve(w.operator, forged, wasm, sign(e1), sign(e2)), "is not over this result's claim"},
		{"another wasm than the request's", resolve(w.operator, resp, otherWasm, sign(e1), sign(e2)), "wasm_sha256 is not the request's WASM hash"},
		{"k valid signatures from a stranger account", resolve(w.alice, resp, wasm, sign(e1), sign(e2)), "Only operator can call this"},
	}
	for _, r := range refusals {
		if r.err == nil || !strings.Contains(r.err.Error(), r.want) {
			t.Errorf("%s: got %v, want a refusal containing %q", r.name, r.err, r.want)
		}
	}
	if st := w.state(contract); st != stateBefore {
		t.Fatalf("a refused resolve changed the contract's state")
	}

	// k valid signatures settle: the charge by the formula, the rest refunded.
	method, args, err := contracts.ResolveCallSigned(req.RequestID, resp, wasm, []contracts.ExecutorSignature{sign(e2), sign(e1)})
	if err != nil {
		t.Fatal(err)
	}
	res, err := w.call(w.operator, contract, method, args, near.U128{})
	if err != nil {
		t.Fatalf("resolve with 2 valid signatures: %v", err)
	}
	t.Logf("gas: resolve_execution with 2 signatures burnt %d", res.ReceiptsOutcome[0].Outcome.GasBurnt)
	cost := contracts.DefaultPricing().Cost(used, limits)
	if charged, ok, err := contracts.ChargedFromLogs(res.Logs()); err != nil || !ok || charged != cost {
		t.Fatalf("resolve logged charge %s (%v, %v), want %s", charged, ok, err, cost)
	}
	evs, err := contracts.OutLayerEvents(res.Logs())
	if err != nil || len(evs) != 1 {
		t.Fatalf("resolve events = %v, %v", evs, err)
	}
	var signed contracts.ResultSigned
	if err := evs[0].Decode(contracts.EventResultSigned, &signed); err != nil {
		t.Fatal(err)
	}
	hash := claim.Hash()
	if signed.ClaimHash != hex.EncodeToString(hash[:]) || len(signed.Signers) != 2 || signed.Signers[0] != e2.pub.String() {
		t.Fatalf("result_signed = %+v, want claim hash %x", signed, hash)
	}
	out := w.final(h, w.alice.AccountID())
	var got string
	if err := out.DecodeResult(&got); err != nil || got != "25" {
		t.Fatalf("result = %q, %v", got, err)
	}
	if got := w.balance(w.payer); got != add(payerBefore, sub(deposit, cost)) {
		t.Errorf("payer %s -> %s, want + deposit - %s", payerBefore, got, cost)
	}
	// Resolved once: a second resolve finds nothing.
	_, err = w.call(w.operator, contract, method, args, near.U128{})
	mustPanic(t, err, "Execution request not found")
}

// k = 1 through the large-output path: the claim binds the output stored in
// state, and a Bytes output cannot be passed off as the same bytes in Text.
func TestAgreementLargeOutputAndSingleSigner(t *testing.T) {
	w := newBareWorld(t, fixture.WorldConfig{})
	contract := w.outlayer.AccountID()
	e1 := newExecutor(t)
	if _, err := w.call(w.owner, contract, contracts.MethodSetAgreement, contracts.AgreementArgs{ChainID: "localnet"}, near.U128{}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.call(w.owner, contract, contracts.MethodAddExecutorKey, contracts.AddExecutorKeyArgs{PublicKey: e1.pub}, near.U128{}); err != nil {
		t.Fatal(err)
	}
	limits := contracts.DefaultResourceLimits()
	deposit := contracts.DefaultPricing().Estimate(limits)
	h := w.send(w.alice, contract, contracts.MethodRequestExecution, contracts.RequestExecutionArgs{
		CodeSource:     contracts.CodeSource{GitHub: &contracts.GitHubSource{Repo: "github.com/alice/big", Commit: "v1"}},
		ResourceLimits: &limits, ResponseFormat: contracts.FormatBytes, RequiredSignatures: ptr(uint64(1)),
	}, deposit)
	req := w.waitPending(1)[0]
	if req.RequiredSignatures != 1 {
		t.Fatalf("k = %d, want the request's 1", req.RequiredSignatures)
	}
	payload := bytes.Repeat([]byte{0, 1, 2, 250}, 3000)
	resp := contracts.ExecutionResponse{Success: true, Output: contracts.BytesOutput(payload), ResourcesUsed: contracts.ResourceMetrics{Instructions: 5_000_000, TimeMs: 20}}
	wasm := [32]byte{9}
	cr := req.ClaimRequest("localnet", contract)
	asText := resp
	asText.Output = contracts.TextOutput(string(payload))
	textClaim, _ := cr.Claim(wasm, asText)
	method, args, _ := contracts.ResolveCallSigned(req.RequestID, asText, wasm, []contracts.ExecutorSignature{contracts.SignClaim(textClaim, e1.priv)})
	// The text claim is honest about text; resolving the Bytes output with it is not.
	_, bytesArgs, _ := contracts.ResolveCallSigned(req.RequestID, resp, wasm, args.(contracts.SubmitExecutionOutputAndResolveArgs).Signatures)
	_, err := w.call(w.operator, contract, method, bytesArgs, near.U128{})
	mustPanic(t, err, "is not over this result's claim")

	claim, err := cr.Claim(wasm, resp)
	if err != nil {
		t.Fatal(err)
	}
	method, args, err = contracts.ResolveCallSigned(req.RequestID, resp, wasm, []contracts.ExecutorSignature{contracts.SignClaim(claim, e1.priv)})
	if err != nil || method != contracts.MethodSubmitExecutionOutputAndResolve {
		t.Fatalf("ResolveCallSigned chose %s, %v", method, err)
	}
	res, err := w.call(w.operator, contract, method, args, near.U128{})
	if err != nil {
		t.Fatalf("signed submit_execution_output_and_resolve: %v", err)
	}
	t.Logf("gas: submit_execution_output_and_resolve of 12000 bytes with 1 signature burnt %d", res.ReceiptsOutcome[0].Outcome.GasBurnt)
	var got string
	if err := w.final(h, w.alice.AccountID()).DecodeResult(&got); err != nil || len(got) == 0 {
		t.Fatalf("caller got %d chars, %v", len(got), err)
	}
}

// A contract initialised with new({owner_id, operator_id}) and nothing
// else is safe: it refuses every request until the owner has set the chain
// id and registered an executor key (each refusal says what is missing),
// refuses k = 0, refuses the operator's resolve without a signature, and
// settles with one registered key's signature, charging by the formula.
func TestNewIsSafeByDefault(t *testing.T) {
	w := newBareWorld(t, fixture.WorldConfig{})
	fresh := w.fx.MustAccount(t, w.ctx, "fresh", 20)
	contract := fresh.AccountID()
	w.deploy(fresh, contracts.OutLayerWASM(), contracts.MethodNew, contracts.NewArgs{OwnerID: w.owner.AccountID(), OperatorID: w.operator.AccountID()})
	var ag contracts.Agreement
	w.view(contract, contracts.MethodGetAgreement, nil, &ag)
	if ag.ChainID != "" || ag.DefaultSignatures != 1 {
		t.Fatalf("a fresh contract's get_agreement = %+v, want no chain id and k = 1", ag)
	}
	limits := contracts.DefaultResourceLimits()
	deposit := add(contracts.DefaultPricing().Estimate(limits), near.OneNEAR)
	reqArgs := contracts.RequestExecutionArgs{CodeSource: wasmSource(), ResourceLimits: &limits, PayerAccountID: w.payer}
	refused := func(want string) {
		t.Helper()
		before, aliceBefore := w.state(contract), w.balance(w.alice.AccountID())
		out, err := w.call(w.alice, contract, contracts.MethodRequestExecution, reqArgs, deposit)
		mustPanic(t, err, want)
		if w.state(contract) != before {
			t.Fatal("a refused request changed the contract's state")
		}
		if got := w.balance(w.alice.AccountID()); got != sub(aliceBefore, burnt(out)) {
			t.Fatalf("alice %s -> %s: a refused request kept more than its gas (%s)", aliceBefore, got, burnt(out))
		}
	}

	refused("This contract has no chain_id configured")
	_, err := w.call(w.owner, contract, contracts.MethodSetAgreement, contracts.AgreementArgs{DefaultSignatures: ptr(uint64(0))}, near.U128{})
	mustPanic(t, err, "default_signatures must be at least 1: with 0 the operator account alone would decide every result")
	if _, err := w.call(w.owner, contract, contracts.MethodSetAgreement, contracts.AgreementArgs{ChainID: w.chainID}, near.U128{}); err != nil {
		t.Fatalf("set_agreement: %v", err)
	}
	refused("The request needs 1 executor signatures, but only 0 executor keys are registered; the owner registers the nodes' keys with add_executor_key")
	e1, stranger := newExecutor(t), newExecutor(t)
	if _, err := w.call(w.owner, contract, contracts.MethodAddExecutorKey, contracts.AddExecutorKeyArgs{PublicKey: e1.pub}, near.U128{}); err != nil {
		t.Fatalf("add_executor_key: %v", err)
	}

	payerBefore := w.balance(w.payer)
	h := w.send(w.alice, contract, contracts.MethodRequestExecution, reqArgs, deposit)
	var req contracts.ExecutionRequest
	deadline := time.Now().Add(20 * time.Second)
	for {
		var reqs []contracts.ExecutionRequest
		w.view(contract, contracts.MethodGetPendingRequests, contracts.PageArgs{}, &reqs)
		if len(reqs) == 1 {
			req = reqs[0]
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d pending requests, want 1", len(reqs))
		}
		time.Sleep(10 * time.Millisecond) // polling a condition with a deadline
	}
	if req.RequiredSignatures != 1 {
		t.Fatalf("the request records k = %d, want the default 1", req.RequiredSignatures)
	}
	used := contracts.ResourceMetrics{Instructions: 3_000_000, TimeMs: 12}
	resp := contracts.ExecutionResponse{Success: true, Output: contracts.TextOutput("42"), ResourcesUsed: used}
	wasm := claimWasm(t, req)
	claim, err := req.ClaimRequest(w.chainID, contract).Claim(wasm, resp)
	if err != nil {
		t.Fatal(err)
	}
	resolve := func(sigs ...contracts.ExecutorSignature) (string, any, *near.FinalExecutionOutcome, error) {
		method, args, err := contracts.ResolveCallSigned(req.RequestID, resp, wasm, sigs)
		if err != nil {
			t.Fatal(err)
		}
		out, err := w.call(w.operator, contract, method, args, near.U128{})
		return method, args, out, err
	}
	stateBefore := w.state(contract)
	_, err = w.call(w.operator, contract, contracts.MethodResolveExecution, contracts.ResolveExecutionArgs{RequestID: req.RequestID, Response: resp}, near.U128{})
	mustPanic(t, err, "This request needs 1 executor signatures of its result claim; the resolve carries none")
	_, err = w.call(w.operator, contract, contracts.MethodResolveExecution, map[string]any{
		"request_id": req.RequestID, "response": resp, "wasm_sha256": contracts.WasmHashHex(wasm), "signatures": []any{}}, near.U128{})
	mustPanic(t, err, "This request needs 1 executor signatures; the resolve carries 0")
	_, _, _, err = resolve(contracts.SignClaim(claim, stranger.priv))
	mustPanic(t, err, "is not registered")
	if w.state(contract) != stateBefore {
		t.Fatal("a refused resolve changed the contract's state")
	}

	method, args, res, err := resolve(contracts.SignClaim(claim, e1.priv))
	if err != nil {
		t.Fatalf("resolve with the registered key's signature: %v", err)
	}
	cost := contracts.DefaultPricing().Cost(used, limits)
	if charged, ok, err := contracts.ChargedFromLogs(res.Logs()); err != nil || !ok || charged != cost {
		t.Fatalf("resolve logged charge %s (%v, %v), want %s", charged, ok, err, cost)
	}
	out := w.final(h, w.alice.AccountID())
	var got string
	if err := out.DecodeResult(&got); err != nil || got != "42" {
		t.Fatalf("result = %q, %v", got, err)
	}
	evs, err := contracts.OutLayerEvents(out.Logs())
	var completed contracts.ExecutionCompleted
	if err != nil || len(evs) != 2 || evs[1].Decode(contracts.EventExecutionCompleted, &completed) != nil ||
		completed.PaymentCharged != cost || completed.PaymentRefunded != sub(deposit, cost) {
		t.Fatalf("execution_completed = %+v (%v, %v)", completed, evs, err)
	}
	if got := w.balance(w.payer); got != add(payerBefore, sub(deposit, cost)) {
		t.Errorf("payer %s -> %s, want + deposit - %s", payerBefore, got, cost)
	}
	_, err = w.call(w.operator, contract, method, args, near.U128{})
	mustPanic(t, err, "Execution request not found")

	// Without a registered key the contract is back to refusing requests.
	if _, err := w.call(w.owner, contract, contracts.MethodRemoveExecutorKey, contracts.ExecutorKeyArgs{PublicKey: e1.pub}, near.U128{}); err != nil {
		t.Fatalf("remove_executor_key: %v", err)
	}
	refused("only 0 executor keys are registered")
}
