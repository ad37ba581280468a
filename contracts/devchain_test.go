package contracts_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/outlayer/outlayer/contracts"
	"github.com/outlayer/outlayer/contracts/near"
	"github.com/outlayer/outlayer/testnet/devchain"
	"github.com/outlayer/outlayer/testnet/fixture"
)

// These tests deploy the committed contracts on a real devchain and drive
// them with signed transactions, as the cluster and users will.

// world is the fixture's devchain with the OutLayer contract deployed and a
// few accounts.
type world struct {
	t        *testing.T
	ctx      context.Context
	fx       *fixture.World
	chain    *devchain.Chain
	cl       *near.Client
	root     *near.Signer
	owner    *near.Signer
	operator *near.Signer
	alice    *near.Signer
	outlayer *near.Signer // the contract account
	caller   string       // the sample caller contract
	payer    string       // an account that never signs, so its balance moves only by refunds
	chainID  string       // the contract's chain id, which every claim binds
	exec     executor     // a registered executor key (newWorld, newWorldWith), signing resolves
}

// newWorld is the fixture's World with one executor key registered by the
// owner (w.exec): the contract's default k = 1 then accepts requests, and
// w.resolve signs each result as a node would.
func newWorld(t *testing.T) *world {
	t.Helper()
	return newWorldWith(t, fixture.WorldConfig{})
}

// newWorldWith is newWorld with more of the fixture (the user is alice).
func newWorldWith(t *testing.T, cfg fixture.WorldConfig) *world {
	t.Helper()
	w := newBareWorld(t, cfg)
	w.exec = newExecutor(t)
	if _, err := w.call(w.owner, w.outlayer.AccountID(), contracts.MethodAddExecutorKey, contracts.AddExecutorKeyArgs{PublicKey: w.exec.pub, NodeID: "test executor"}, near.U128{}); err != nil {
		t.Fatalf("registering the test's executor key: %v", err)
	}
	return w
}

// newBareWorld is the contract as the fixture deploys it (k = 1, the
// chain's id) with no executor key registered, so it refuses every request.
func newBareWorld(t *testing.T, cfg fixture.WorldConfig) *world {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	cfg.UserName = "alice"
	fx := fixture.NewWorld(t, ctx, cfg)
	st, err := fx.Client.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return &world{t: t, ctx: ctx, fx: fx, chain: fx.Chain.Chain, cl: fx.Client, root: fx.Root, chainID: st.ChainID,
		owner: fx.Owner, operator: fx.Operator, alice: fx.User, outlayer: fx.OutLayer, caller: fx.Caller, payer: fx.Payer}
}

// claimWasm is the module hash a resolve of req states: the request's own
// for a WasmUrl request, else a stand-in for the module a build produced.
func claimWasm(t *testing.T, req contracts.ExecutionRequest) [32]byte {
	t.Helper()
	wasm := [32]byte{7}
	if u := req.CodeSource.WasmURL; u != nil {
		b, err := hex.DecodeString(u.Hash)
		if err != nil || len(b) != len(wasm) {
			t.Fatalf("request %d: wasm hash %q is not 32 bytes of hex", req.RequestID, u.Hash)
		}
		copy(wasm[:], b)
	}
	return wasm
}

// signedResolve is what the operator sends to settle req with resp:
// ResolveCallSigned's method and arguments, with w.exec's signature of the
// claim the contract recomputes.
func (w *world) signedResolve(req contracts.ExecutionRequest, resp contracts.ExecutionResponse) (string, any) {
	w.t.Helper()
	wasm := claimWasm(w.t, req)
	claim, err := req.ClaimRequest(w.chainID, w.outlayer.AccountID()).Claim(wasm, resp)
	if err != nil {
		w.t.Fatal(err)
	}
	method, args, err := contracts.ResolveCallSigned(req.RequestID, resp, wasm, []contracts.ExecutorSignature{contracts.SignClaim(claim, w.exec.priv)})
	if err != nil {
		w.t.Fatal(err)
	}
	return method, args
}

// resolve settles req with resp from s (the operator or a node key),
// signed by w.exec.
func (w *world) resolve(s *near.Signer, req contracts.ExecutionRequest, resp contracts.ExecutionResponse) (*near.FinalExecutionOutcome, error) {
	method, args := w.signedResolve(req, resp)
	return s.CallFunction(w.ctx, w.outlayer.AccountID(), method, args, 300*near.TGas, near.U128{})
}

func (w *world) deploy(s *near.Signer, code []byte, init string, args any) {
	w.t.Helper()
	if _, err := s.DeployContract(w.ctx, code, init, args, 0); err != nil {
		w.t.Fatalf("deploying to %s: %v", s.AccountID(), err)
	}
}

func (w *world) view(contract, method string, args, out any) {
	w.t.Helper()
	if err := w.cl.ViewFunction(w.ctx, contract, method, args, out); err != nil {
		w.t.Fatalf("view %s.%s: %v", contract, method, err)
	}
}

func (w *world) balance(account string) near.U128 {
	w.t.Helper()
	a, err := w.cl.ViewAccount(w.ctx, account, near.BlockReference{Finality: "final"})
	if err != nil {
		w.t.Fatalf("view_account %s: %v", account, err)
	}
	return a.Amount
}

func (w *world) storageUsage(account string) uint64 {
	w.t.Helper()
	a, err := w.cl.ViewAccount(w.ctx, account, near.BlockReference{Finality: "final"})
	if err != nil {
		w.t.Fatalf("view_account %s: %v", account, err)
	}
	return a.StorageUsage
}

// state is the contract's whole storage, to prove a rejected call changed nothing.
func (w *world) state(account string) string {
	w.t.Helper()
	st, err := w.cl.ViewState(w.ctx, account, nil, near.BlockReference{Finality: "final"})
	if err != nil {
		w.t.Fatalf("view_state %s: %v", account, err)
	}
	var b strings.Builder
	for _, kv := range st.Values {
		fmt.Fprintf(&b, "%q=%q\n", kv.Key, kv.Value)
	}
	return b.String()
}

// send signs a function call and broadcasts it without waiting: calls that
// yield finish only after the resume or the timeout.
func (w *world) send(s *near.Signer, contract, method string, args any, deposit near.U128) near.CryptoHash {
	w.t.Helper()
	raw, err := json.Marshal(args)
	if err != nil {
		w.t.Fatal(err)
	}
	st, err := s.Sign(w.ctx, contract, near.FunctionCall{MethodName: method, Args: raw, Gas: 300 * near.TGas, Deposit: deposit})
	if err != nil {
		w.t.Fatal(err)
	}
	h, err := w.cl.BroadcastTxAsync(w.ctx, st)
	if err != nil {
		w.t.Fatalf("broadcast %s.%s: %v", contract, method, err)
	}
	return h
}

func (w *world) final(h near.CryptoHash, signer string) *near.FinalExecutionOutcome {
	w.t.Helper()
	out, err := w.cl.TxStatus(w.ctx, h, signer, near.TxFinal)
	if err != nil {
		w.t.Fatalf("tx %s: %v", h, err)
	}
	return out
}

// waitPending polls until the contract lists n pending requests.
func (w *world) waitPending(n int) []contracts.ExecutionRequest {
	w.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var reqs []contracts.ExecutionRequest
		w.view(w.outlayer.AccountID(), contracts.MethodGetPendingRequests, contracts.PageArgs{}, &reqs)
		if len(reqs) == n {
			return reqs
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("%d pending requests, want %d", len(reqs), n)
		}
		time.Sleep(10 * time.Millisecond) // polling a condition with a deadline
	}
}

func (w *world) call(s *near.Signer, contract, method string, args any, deposit near.U128) (*near.FinalExecutionOutcome, error) {
	return s.CallFunction(w.ctx, contract, method, args, 300*near.TGas, deposit)
}

func mustPanic(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("call succeeded, want a panic containing %q", want)
	}
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not contain %q", err, want)
	}
}

// burnt is what a transaction cost its signer: the tokens burnt by the
// transaction and every receipt it caused (refund receipts burn nothing).
func burnt(out *near.FinalExecutionOutcome) near.U128 {
	total := out.TransactionOutcome.Outcome.TokensBurnt
	for _, r := range out.ReceiptsOutcome {
		total, _ = total.Add(r.Outcome.TokensBurnt)
	}
	return total
}

func add(a, b near.U128) near.U128 { s, _ := a.Add(b); return s }
func sub(a, b near.U128) near.U128 {
	d, ok := a.Sub(b)
	if !ok {
		panic(fmt.Sprintf("%s - %s underflows", a, b))
	}
	return d
}

func wasmSource() contracts.CodeSource {
	return contracts.CodeSource{WasmURL: &contracts.WasmURLSource{URL: "https://example.com/p.wasm", Hash: strings.Repeat("ab", 32)}}
}

func ptr[T any](v T) *T { return &v }

// The sample caller contract requests an execution; the test plays the
// operator and resolves; the caller's callback receives the output; the
// payer, the contract and the operator move by exactly the pricing formula.
func TestCallerReceivesOutputAndBalancesFollowPricing(t *testing.T) {
	w := newWorld(t)

	limits := contracts.DefaultResourceLimits()
	pricing := contracts.DefaultPricing()
	estimate := pricing.Estimate(limits)
	var viewEstimate near.U128
	w.view(w.outlayer.AccountID(), contracts.MethodEstimateExecutionCost, contracts.EstimateArgs{ResourceLimits: &limits}, &viewEstimate)
	if viewEstimate != estimate {
		t.Fatalf("estimate_execution_cost = %s, Go formula %s", viewEstimate, estimate)
	}
	deposit := add(estimate, near.OneNEAR) // an extra NEAR, to see it refunded

	contractBefore := w.balance(w.outlayer.AccountID())
	payerBefore := w.balance(w.payer)
	h := w.send(w.alice, w.caller, "run", map[string]any{
		"outlayer":         w.outlayer.AccountID(),
		"code_source":      wasmSource(),
		"resource_limits":  limits,
		"input_data":       `{"n":1}`,
		"response_format":  "Text",
		"payer_account_id": w.payer,
	}, deposit)

	req := w.waitPending(1)[0]
	if req.SenderID != w.caller || req.PayerAccountID != w.payer || req.Payment.U128 != deposit ||
		*req.InputData != `{"n":1}` || req.CompileOnly || req.ResponseFormat != contracts.FormatText {
		t.Fatalf("pending request = %+v", req)
	}

	compile := uint64(2500)
	used := contracts.ResourceMetrics{Instructions: 12_345_678, TimeMs: 1500, CompileTimeMs: &compile}
	operatorBefore := w.balance(w.operator.AccountID())
	res, err := w.resolve(w.operator, req, contracts.ExecutionResponse{Success: true, Output: contracts.TextOutput("hello from wasm"), ResourcesUsed: used})
	if err != nil {
		t.Fatalf("resolve: %v", err)
	}
	cost := pricing.Cost(used, limits)
	if charged, ok, err := contracts.ChargedFromLogs(res.Logs()); err != nil || !ok || charged != cost {
		t.Fatalf("resolve logged charge %s (%v, %v), want %s", charged, ok, err, cost)
	}

	out := w.final(h, w.alice.AccountID())
	for _, r := range out.ReceiptsOutcome {
		t.Logf("gas: %s burnt %d", r.Outcome.ExecutorID, r.Outcome.GasBurnt)
	}
	t.Logf("gas: resolve_execution receipt burnt %d (tx total %s yocto)", res.ReceiptsOutcome[0].Outcome.GasBurnt, burnt(res))
	var got string
	if err := out.DecodeResult(&got); err != nil || got != "hello from wasm" {
		t.Fatalf("caller's result = %q, %v (logs %q)", got, err, out.Logs())
	}
	var last struct {
		Success bool   `json:"success"`
		Output  string `json:"output"`
	}
	w.view(w.caller, "get_last", nil, &last)
	if !last.Success || last.Output != "hello from wasm" {
		t.Fatalf("caller recorded %+v", last)
	}

	// Events: requested, then completed with the same numbers.
	evs, err := contracts.OutLayerEvents(out.Logs())
	if err != nil || len(evs) != 2 {
		t.Fatalf("events = %v, %v", evs, err)
	}
	var requested contracts.ExecutionRequested
	if err := evs[0].Decode(contracts.EventExecutionRequested, &requested); err != nil {
		t.Fatal(err)
	}
	if requested.DataID != req.DataID || requested.RequestData.Payment != deposit || requested.RequestData.InputData != `{"n":1}` {
		t.Fatalf("execution_requested = %+v", requested)
	}
	var completed contracts.ExecutionCompleted
	if err := evs[1].Decode(contracts.EventExecutionCompleted, &completed); err != nil {
		t.Fatal(err)
	}
	refund := sub(deposit, cost)
	if !completed.Success || completed.PaymentCharged != cost || completed.PaymentRefunded != refund || completed.TimedOut {
		t.Fatalf("execution_completed = %+v", completed)
	}

	// Balances to the yoctoNEAR.
	if got := w.balance(w.payer); got != add(payerBefore, refund) {
		t.Errorf("payer %s -> %s, want +%s", payerBefore, got, refund)
	}
	if got := w.balance(w.outlayer.AccountID()); got != add(contractBefore, cost) {
		t.Errorf("contract %s -> %s, want +%s", contractBefore, got, cost)
	}
	if got := w.balance(w.operator.AccountID()); got != sub(operatorBefore, burnt(res)) {
		t.Errorf("operator %s -> %s, want -%s (gas only)", operatorBefore, got, burnt(res))
	}
	var stats contracts.Stats
	w.view(w.outlayer.AccountID(), contracts.MethodGetStats, nil, &stats)
	if stats.TotalExecutions != 1 || stats.TotalFeesCollected != cost {
		t.Errorf("stats = %+v", stats)
	}
	var gone *contracts.ExecutionRequest
	w.view(w.outlayer.AccountID(), contracts.MethodGetRequest, contracts.RequestIDArgs{RequestID: req.RequestID}, &gone)
	if gone != nil {
		t.Errorf("request still stored after settlement: %+v", gone)
	}

	// The owner withdraws the collected fees.
	ownerBefore := w.balance(w.owner.AccountID())
	wres, err := w.call(w.owner, w.outlayer.AccountID(), contracts.MethodWithdrawFees, contracts.WithdrawFeesArgs{}, near.U128{})
	if err != nil {
		t.Fatalf("withdraw_fees: %v", err)
	}
	if got := w.balance(w.owner.AccountID()); got != sub(add(ownerBefore, cost), burnt(wres)) {
		t.Errorf("owner %s -> %s after withdrawing %s", ownerBefore, got, cost)
	}
	_, err = w.call(w.owner, w.outlayer.AccountID(), contracts.MethodWithdrawFees, contracts.WithdrawFeesArgs{}, near.U128{})
	mustPanic(t, err, "Nothing to withdraw")
}

// No resolve within 200 blocks: the callback runs with a failed result,
// returns null and refunds everything but the base fee.
func TestTimeoutRefundsAllButBaseFee(t *testing.T) {
	w := newWorld(t)
	limits := contracts.DefaultResourceLimits()
	deposit := contracts.DefaultPricing().Estimate(limits)
	payerBefore := w.balance(w.payer)
	contractBefore := w.balance(w.outlayer.AccountID())
	h := w.send(w.alice, w.outlayer.AccountID(), contracts.MethodRequestExecution, contracts.RequestExecutionArgs{
		CodeSource: wasmSource(), ResourceLimits: &limits, PayerAccountID: w.payer,
	}, deposit)
	req := w.waitPending(1)[0]

	if err := w.cl.SandboxFastForward(w.ctx, contracts.YieldTimeoutBlocks+5); err != nil {
		t.Fatalf("fast forward: %v", err)
	}
	out := w.final(h, w.alice.AccountID())
	raw, err := out.Result()
	if err != nil || string(raw) != "null" {
		t.Fatalf("result after timeout = %s, %v", raw, err)
	}
	base := contracts.DefaultPricing().BaseFee
	if got := w.balance(w.payer); got != add(payerBefore, sub(deposit, base)) {
		t.Errorf("payer %s -> %s, want + deposit - base fee", payerBefore, got)
	}
	if got := w.balance(w.outlayer.AccountID()); got != add(contractBefore, base) {
		t.Errorf("contract %s -> %s, want + base fee", contractBefore, got)
	}
	evs, err := contracts.OutLayerEvents(out.Logs())
	if err != nil || len(evs) != 2 {
		t.Fatalf("events = %v, %v", evs, err)
	}
	var completed contracts.ExecutionCompleted
	if err := evs[1].Decode(contracts.EventExecutionCompleted, &completed); err != nil {
		t.Fatal(err)
	}
	if !completed.TimedOut || completed.Success || completed.PaymentCharged != base || completed.ErrorMessage == nil {
		t.Fatalf("execution_completed after timeout = %+v", completed)
	}
	// A late resolve finds nothing.
	_, err = w.call(w.operator, w.outlayer.AccountID(), contracts.MethodResolveExecution, contracts.ResolveExecutionArgs{
		RequestID: req.RequestID, Response: contracts.ExecutionResponse{Success: true},
	}, near.U128{})
	mustPanic(t, err, "Execution request not found")
}

// Bad calls are rejected with a clear message and change nothing.
func TestRejectedCallsChangeNothing(t *testing.T) {
	w := newWorld(t)
	limits := contracts.DefaultResourceLimits()
	estimate := contracts.DefaultPricing().Estimate(limits)
	request := func(args any, deposit near.U128) error {
		_, err := w.call(w.alice, w.outlayer.AccountID(), contracts.MethodRequestExecution, args, deposit)
		return err
	}
	ok := contracts.RequestExecutionArgs{CodeSource: wasmSource(), ResourceLimits: &limits}
	big := strings.Repeat("x", contracts.MaxInputDataBytes+1)
	tooBig := ok
	tooBig.InputData = &big
	overCap := limits
	overCap.MaxExecutionSeconds = 181

	// One request stays pending through the whole test.
	h := w.send(w.alice, w.outlayer.AccountID(), contracts.MethodRequestExecution, ok, estimate)
	req := w.waitPending(1)[0]

	cases := []struct {
		name string
		do   func() error
		want string
	}{
		{"too small a deposit", func() error {
			return request(ok, sub(contracts.DefaultPricing().ExecutionEstimate(limits), near.NewU128(1)))
		}, "Insufficient payment: required 7000100000000000000000 yoctoNEAR, attached 7000099999999999999999"},
		{"a deposit that covers the execution but not the request's storage", func() error {
			return request(ok, contracts.DefaultPricing().ExecutionEstimate(limits))
		}, "yoctoNEAR (7000100000000000000000 for the execution and "},
		{"oversized input", func() error { return request(tooBig, estimate) }, "input_data is 10241 bytes; the maximum is 10240"},
		{"limits over the caps", func() error {
			a := ok
			a.ResourceLimits = &overCap
			return request(a, estimate)
		}, "max_execution_seconds must be between 1 and 180"},
		{"untagged code source", func() error {
			return request(map[string]any{"code_source": map[string]any{"repo": "r", "commit": "c"}, "resource_limits": limits}, estimate)
		}, "Failed to deserialize input from JSON: field `code_source`: expected {\"GitHub\":{...}}, {\"WasmUrl\":{...}} or {\"Project\""},
		{"unknown code source variant", func() error {
			return request(map[string]any{"code_source": map[string]any{"Ipfs": map[string]any{"cid": "x"}}, "resource_limits": limits}, estimate)
		}, "field `code_source`: unknown variant, expected `GitHub`, `WasmUrl` or `Project`"},
		{"bad wasm hash", func() error {
			return request(map[string]any{"code_source": map[string]any{"WasmUrl": map[string]any{"url": "https://x/y.wasm", "hash": "abc"}}}, estimate)
		}, "field `code_source.WasmUrl.hash`: expected the hex SHA-256"},
		{"force_rebuild of a prebuilt wasm", func() error {
			a := ok
			a.Params = &contracts.RequestParams{ForceRebuild: true}
			return request(a, estimate)
		}, "force_rebuild is not applicable for WasmUrl code source"},
		{"non-operator resolve", func() error {
			_, err := w.call(w.alice, w.outlayer.AccountID(), contracts.MethodResolveExecution, contracts.ResolveExecutionArgs{
				RequestID: req.RequestID, Response: contracts.ExecutionResponse{Success: true}}, near.U128{})
			return err
		}, "Only operator can call this"},
		{"resolve of an unknown request", func() error {
			_, err := w.call(w.operator, w.outlayer.AccountID(), contracts.MethodResolveExecution, contracts.ResolveExecutionArgs{
				RequestID: 99, Response: contracts.ExecutionResponse{Success: true}}, near.U128{})
			return err
		}, "Execution request not found"},
		{"the operator resolving without a signature", func() error {
			_, err := w.call(w.operator, w.outlayer.AccountID(), contracts.MethodResolveExecution, contracts.ResolveExecutionArgs{
				RequestID: req.RequestID, Response: contracts.ExecutionResponse{Success: true, Output: contracts.TextOutput("FORGED")}}, near.U128{})
			return err
		}, "This request needs 1 executor signatures of its result claim; the resolve carries none"},
		{"an oversized inline response", func() error {
			resp := contracts.ExecutionResponse{Success: true, Output: contracts.TextOutput(strings.Repeat("y", 1100))}
			wasm := claimWasm(t, req)
			claim, err := req.ClaimRequest(w.chainID, w.outlayer.AccountID()).Claim(wasm, resp)
			if err != nil {
				t.Fatal(err)
			}
			_, err = w.call(w.operator, w.outlayer.AccountID(), contracts.MethodResolveExecution, contracts.ResolveExecutionArgs{
				RequestID: req.RequestID, Response: resp, WasmSHA256: contracts.WasmHashHex(wasm),
				Signatures: []contracts.ExecutorSignature{contracts.SignClaim(claim, w.exec.priv)}}, near.U128{})
			return err
		}, "over the 1024-byte yield payload limit"},
		{"a deposit on resolve", func() error {
			_, err := w.call(w.operator, w.outlayer.AccountID(), contracts.MethodResolveExecution, contracts.ResolveExecutionArgs{
				RequestID: req.RequestID, Response: contracts.ExecutionResponse{Success: true}}, near.NewU128(1))
			return err
		}, "doesn't accept deposit"},
		{"the callback called from outside", func() error {
			_, err := w.call(w.alice, w.outlayer.AccountID(), contracts.MethodOnExecutionResponse, contracts.RequestIDArgs{RequestID: req.RequestID}, near.U128{})
			return err
		}, "Method on_execution_response is private"},
		{"owner method from a stranger", func() error {
			_, err := w.call(w.alice, w.outlayer.AccountID(), contracts.MethodSetPaused, map[string]bool{"paused": true}, near.U128{})
			return err
		}, "Only owner can call this method"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before, balance := w.state(w.outlayer.AccountID()), w.balance(w.outlayer.AccountID())
			mustPanic(t, c.do(), c.want)
			if after := w.state(w.outlayer.AccountID()); after != before {
				t.Errorf("contract state changed:\n%s\n->\n%s", before, after)
			}
			if after := w.balance(w.outlayer.AccountID()); after != balance {
				t.Errorf("contract balance %s -> %s", balance, after)
			}
		})
	}

	// Paused: requests are refused, resolution still works.
	if _, err := w.call(w.owner, w.outlayer.AccountID(), contracts.MethodSetPaused, map[string]bool{"paused": true}, near.U128{}); err != nil {
		t.Fatal(err)
	}
	before := w.state(w.outlayer.AccountID())
	mustPanic(t, request(ok, estimate), "Contract is paused")
	if w.state(w.outlayer.AccountID()) != before {
		t.Error("a refused request changed the state")
	}

	// A double resolve: two resolves race into the chain; exactly one
	// settles, the other is refused, and the payer is refunded once.
	method, resolve := w.signedResolve(req, contracts.ExecutionResponse{
		Success: true, Output: contracts.TextOutput("once"), ResourcesUsed: contracts.ResourceMetrics{Instructions: 1, TimeMs: 1}})
	h1 := w.send(w.operator, w.outlayer.AccountID(), method, resolve, near.U128{})
	h2 := w.send(w.operator, w.outlayer.AccountID(), method, resolve, near.U128{})
	var refused int
	for _, hh := range []near.CryptoHash{h1, h2} {
		out := w.final(hh, w.operator.AccountID())
		if err := out.Err(); err != nil {
			msg := err.Error()
			if !strings.Contains(msg, "Execution request already resolved; its callback has not run yet") &&
				!strings.Contains(msg, "Execution request not found") {
				t.Fatalf("second resolve failed with %q", msg)
			}
			refused++
		}
	}
	if refused != 1 {
		t.Fatalf("%d of 2 resolves refused, want exactly 1", refused)
	}
	out := w.final(h, w.alice.AccountID())
	var got string
	if err := out.DecodeResult(&got); err != nil || got != "once" {
		t.Fatalf("result = %q, %v", got, err)
	}
	var stats contracts.Stats
	w.view(w.outlayer.AccountID(), contracts.MethodGetStats, nil, &stats)
	if stats.TotalExecutions != 1 {
		t.Fatalf("settled %d times", stats.TotalExecutions)
	}
}

// An output over the 1024-byte resume limit goes through
// submit_execution_output_and_resolve; a Bytes output reaches the caller
// as base64.
func TestLargeOutputThroughSubmitAndResolve(t *testing.T) {
	w := newWorld(t)
	limits := contracts.DefaultResourceLimits()
	deposit := contracts.DefaultPricing().Estimate(limits)
	h := w.send(w.alice, w.outlayer.AccountID(), contracts.MethodRequestExecution, contracts.RequestExecutionArgs{
		CodeSource: wasmSource(), ResourceLimits: &limits, ResponseFormat: contracts.FormatBytes,
	}, deposit)
	req := w.waitPending(1)[0]

	payload := bytes.Repeat([]byte{0, 1, 2, 250}, 3000) // 12 000 bytes
	method, args := w.signedResolve(req, contracts.ExecutionResponse{
		Success: true, Output: contracts.BytesOutput(payload), ResourcesUsed: contracts.ResourceMetrics{Instructions: 5_000_000, TimeMs: 20},
	})
	if method != contracts.MethodSubmitExecutionOutputAndResolve {
		t.Fatalf("ResolveCallSigned chose %s", method)
	}
	res, err := w.call(w.operator, w.outlayer.AccountID(), method, args, near.U128{})
	if err != nil {
		t.Fatalf("submit_execution_output_and_resolve: %v", err)
	}
	t.Logf("submit_execution_output_and_resolve of 12000 bytes burnt %d gas", res.ReceiptsOutcome[0].Outcome.GasBurnt)
	out := w.final(h, w.alice.AccountID())
	var got string
	if err := out.DecodeResult(&got); err != nil {
		t.Fatal(err)
	}
	if got != base64.StdEncoding.EncodeToString(payload) {
		t.Fatalf("caller got %d base64 chars, want the 12000-byte output", len(got))
	}

	// The older two-transaction flow: submit_execution_output, inspect it,
	// then resolve_execution with output null.
	h = w.send(w.alice, w.outlayer.AccountID(), contracts.MethodRequestExecution, contracts.RequestExecutionArgs{
		CodeSource: wasmSource(), ResourceLimits: &limits,
	}, deposit)
	req = w.waitPending(1)[0]
	text := strings.Repeat("ü", 2000)
	if _, err := w.call(w.operator, w.outlayer.AccountID(), contracts.MethodSubmitExecutionOutput,
		contracts.SubmitExecutionOutputArgs{RequestID: req.RequestID, Output: *contracts.TextOutput(text)}, near.U128{}); err != nil {
		t.Fatalf("submit_execution_output: %v", err)
	}
	_, err = w.call(w.operator, w.outlayer.AccountID(), contracts.MethodSubmitExecutionOutput,
		contracts.SubmitExecutionOutputArgs{RequestID: req.RequestID, Output: *contracts.TextOutput("again")}, near.U128{})
	mustPanic(t, err, "Output already submitted for this request")
	var has bool
	var pending *contracts.ExecutionOutput
	var stored contracts.ExecutionRequest
	w.view(w.outlayer.AccountID(), contracts.MethodHasPendingOutput, contracts.RequestIDArgs{RequestID: req.RequestID}, &has)
	w.view(w.outlayer.AccountID(), contracts.MethodGetPendingOutput, contracts.RequestIDArgs{RequestID: req.RequestID}, &pending)
	w.view(w.outlayer.AccountID(), contracts.MethodGetRequest, contracts.RequestIDArgs{RequestID: req.RequestID}, &stored)
	if !has || pending == nil || pending.Text != text || stored.PendingOutput == nil || stored.PendingOutput.Text != text || !stored.OutputSubmitted {
		t.Fatalf("pending output: has=%v output=%v request=%+v", has, pending, stored)
	}
	// The claim binds the stored output, which is what the caller gets.
	claim, err := req.ClaimRequest(w.chainID, w.outlayer.AccountID()).Claim(claimWasm(t, req), contracts.ExecutionResponse{Success: true, Output: contracts.TextOutput(text)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.call(w.operator, w.outlayer.AccountID(), contracts.MethodResolveExecution, contracts.ResolveExecutionArgs{
		RequestID: req.RequestID, Response: contracts.ExecutionResponse{Success: true}, WasmSHA256: contracts.WasmHashHex(claimWasm(t, req)),
		Signatures: []contracts.ExecutorSignature{contracts.SignClaim(claim, w.exec.priv)}}, near.U128{}); err != nil {
		t.Fatalf("resolve after submit: %v", err)
	}
	if err := w.final(h, w.alice.AccountID()).DecodeResult(&got); err != nil || got != text {
		t.Fatalf("two-step output reached the caller as %d bytes, %v", len(got), err)
	}
	if st := w.state(w.outlayer.AccountID()); strings.Contains(st, `"o:`) {
		t.Fatalf("a settled request left its output in state:\n%s", st)
	}
}

// Secrets: store, update, delete and list, with the storage deposit equal
// to the bytes the contract stores and refunded exactly.
func TestSecretsDepositArithmetic(t *testing.T) {
	w := newWorld(t)
	contractID := w.outlayer.AccountID()
	accessor := contracts.SecretAccessor{Repo: &contracts.RepoAccessor{Repo: "https://github.com/alice/project"}}
	ciphertext := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("s"), 75))
	store := contracts.StoreSecretsArgs{Accessor: accessor, Profile: "default", EncryptedSecretsBase64: ciphertext, Access: contracts.AllowAll()}

	var required near.U128
	w.view(contractID, contracts.MethodEstimateStorageCost, contracts.EstimateStorageCostArgs{
		Accessor: accessor, Profile: "default", Owner: w.alice.AccountID(), EncryptedSecretsBase64: ciphertext, Access: contracts.AllowAll(),
	}, &required)

	storageBefore := w.storageUsage(contractID)
	aliceBefore := w.balance(w.alice.AccountID())
	_, err := w.call(w.alice, contractID, contracts.MethodStoreSecrets, store, sub(required, near.NewU128(1)))
	mustPanic(t, err, "Insufficient storage deposit")
	aliceAfterRefused := w.balance(w.alice.AccountID())

	extra := add(required, near.OneNEAR)
	res, err := w.call(w.alice, contractID, contracts.MethodStoreSecrets, store, extra)
	if err != nil {
		t.Fatalf("store_secrets: %v", err)
	}
	// Alice paid exactly the deposit (plus gas); the deposit pays for exactly the bytes stored.
	if got, want := w.balance(w.alice.AccountID()), sub(sub(aliceAfterRefused, required), burnt(res)); got != want {
		t.Errorf("alice %s after storing, want %s", got, want)
	}
	grown := w.storageUsage(contractID) - storageBefore
	if perByte, _ := near.NewU128(contracts.StoragePricePerByte).Mul64(grown); perByte != required {
		t.Errorf("contract storage grew %d bytes (%s yocto), deposit is %s", grown, perByte, required)
	}
	_ = aliceBefore

	// The keystore's scheme-less lookup with a branch finds the all-branches entry.
	var view *contracts.SecretProfileView
	w.view(contractID, contracts.MethodGetSecrets, contracts.GetSecretsArgs{
		Accessor: contracts.SecretAccessor{Repo: &contracts.RepoAccessor{Repo: "github.com/alice/project", Branch: ptr("main")}},
		Profile:  "default", Owner: w.alice.AccountID(),
	}, &view)
	if view == nil || view.EncryptedSecrets != ciphertext || view.StorageDeposit != required || view.Accessor.Repo.Branch != nil {
		t.Fatalf("get_secrets = %+v", view)
	}

	// Update with a larger ciphertext and a Whitelist: pay only the difference.
	bigger := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("t"), 300))
	access := contracts.AccessCondition{Kind: contracts.AccessWhitelist, Accounts: []string{"bob.near"}}
	var required2 near.U128
	w.view(contractID, contracts.MethodEstimateStorageCost, contracts.EstimateStorageCostArgs{
		Accessor: accessor, Profile: "default", Owner: w.alice.AccountID(), EncryptedSecretsBase64: bigger, Access: access,
	}, &required2)
	diff := sub(required2, required)
	before := w.balance(w.alice.AccountID())
	res, err = w.call(w.alice, contractID, contracts.MethodStoreSecrets,
		contracts.StoreSecretsArgs{Accessor: accessor, Profile: "default", EncryptedSecretsBase64: bigger, Access: access}, add(diff, near.OneNEAR))
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	if got, want := w.balance(w.alice.AccountID()), sub(sub(before, diff), burnt(res)); got != want {
		t.Errorf("alice %s after update, want %s", got, want)
	}
	if perByte, _ := near.NewU128(contracts.StoragePricePerByte).Mul64(w.storageUsage(contractID) - storageBefore); perByte != required2 {
		t.Errorf("after update the contract stores %s yocto worth of bytes, deposit %s", perByte, required2)
	}

	// update_access re-prices storage: growth needs a deposit, created_at stays.
	var info []contracts.UserSecretInfo
	w.view(contractID, contracts.MethodListUserSecrets, contracts.ListUserSecretsArgs{AccountID: w.alice.AccountID()}, &info)
	createdAt := info[0].CreatedAt
	wider := contracts.AccessCondition{Kind: contracts.AccessWhitelist, Accounts: []string{"bob.near", "carol.near", "dave.near"}}
	update := contracts.UpdateAccessArgs{Accessor: accessor, Profile: "default", NewAccess: wider}
	_, err = w.call(w.alice, contractID, contracts.MethodUpdateAccess, update, near.U128{})
	mustPanic(t, err, "Insufficient storage deposit")
	before = w.balance(w.alice.AccountID())
	res, err = w.call(w.alice, contractID, contracts.MethodUpdateAccess, update, near.OneNEAR)
	if err != nil {
		t.Fatalf("update_access: %v", err)
	}
	w.view(contractID, contracts.MethodListUserSecrets, contracts.ListUserSecretsArgs{AccountID: w.alice.AccountID()}, &info)
	grew := sub(info[0].StorageDeposit, required2)
	if info[0].CreatedAt != createdAt || info[0].UpdatedAt <= createdAt || len(info[0].Access.Accounts) != 3 {
		t.Fatalf("after update_access: %+v", info[0])
	}
	if got, want := w.balance(w.alice.AccountID()), sub(sub(before, grew), burnt(res)); got != want {
		t.Errorf("alice %s after update_access, want %s (paid %s for the growth)", got, want, grew)
	}
	if perByte, _ := near.NewU128(contracts.StoragePricePerByte).Mul64(w.storageUsage(contractID) - storageBefore); perByte != info[0].StorageDeposit {
		t.Errorf("after update_access the contract stores %s yocto worth of bytes, deposit %s", perByte, info[0].StorageDeposit)
	}
	required2 = info[0].StorageDeposit

	var list []contracts.UserSecretInfo
	w.view(contractID, contracts.MethodListUserSecrets, contracts.ListUserSecretsArgs{AccountID: w.alice.AccountID()}, &list)
	if len(list) != 1 || list[0].StorageDeposit != required2 || list[0].Access.Kind != contracts.AccessWhitelist || list[0].Profile != "default" {
		t.Fatalf("list_user_secrets = %+v", list)
	}

	// A second secret shares the owner's index; it pays only for what it adds.
	second := contracts.SecretAccessor{WasmHash: &contracts.WasmHashAccessor{Hash: strings.Repeat("CD", 32)}}
	var required3 near.U128
	w.view(contractID, contracts.MethodEstimateStorageCost, contracts.EstimateStorageCostArgs{
		Accessor: second, Profile: "p2", Owner: w.alice.AccountID(), EncryptedSecretsBase64: ciphertext, Access: contracts.AllowAll(),
	}, &required3)
	if _, err := w.call(w.alice, contractID, contracts.MethodStoreSecrets, contracts.StoreSecretsArgs{
		Accessor: second, Profile: "p2", EncryptedSecretsBase64: ciphertext, Access: contracts.AllowAll()}, required3); err != nil {
		t.Fatalf("second store: %v", err)
	}
	if perByte, _ := near.NewU128(contracts.StoragePricePerByte).Mul64(w.storageUsage(contractID) - storageBefore); perByte != add(required2, required3) {
		t.Errorf("two secrets occupy %s yocto worth of bytes, deposits sum to %s", perByte, add(required2, required3))
	}
	before = w.balance(w.alice.AccountID())
	res, err = w.call(w.alice, contractID, contracts.MethodDeleteSecrets, contracts.SecretKeyArgs{Accessor: second, Profile: "p2"}, near.U128{})
	if err != nil {
		t.Fatalf("delete the second secret: %v", err)
	}
	if got, want := w.balance(w.alice.AccountID()), sub(add(before, required3), burnt(res)); got != want {
		t.Errorf("alice %s after deleting the second secret, want %s", got, want)
	}

	// Delete: the whole deposit comes back and the contract's storage returns to where it was.
	before = w.balance(w.alice.AccountID())
	res, err = w.call(w.alice, contractID, contracts.MethodDeleteSecrets, contracts.SecretKeyArgs{Accessor: accessor, Profile: "default"}, near.U128{})
	if err != nil {
		t.Fatalf("delete: %v", err)
	}
	if got, want := w.balance(w.alice.AccountID()), sub(add(before, required2), burnt(res)); got != want {
		t.Errorf("alice %s after delete, want %s", got, want)
	}
	if got := w.storageUsage(contractID); got != storageBefore {
		t.Errorf("contract storage %d after delete, want %d", got, storageBefore)
	}
	_, err = w.call(w.alice, contractID, contracts.MethodDeleteSecrets, contracts.SecretKeyArgs{Accessor: accessor, Profile: "default"}, near.U128{})
	mustPanic(t, err, "Secrets not found")
	var exists bool
	w.view(contractID, contracts.MethodSecretsExist, contracts.GetSecretsArgs{Accessor: accessor, Profile: "default", Owner: w.alice.AccountID()}, &exists)
	if exists {
		t.Error("secrets_exist after delete")
	}
}

// The registration contract adds a key that can resolve and do nothing else.
func TestRegisteredNodeKeyCanOnlyResolve(t *testing.T) {
	w := newWorld(t)
	opID := w.operator.AccountID()
	initKey, _ := near.GenerateKeyPair(rand.Reader)
	nodeKey, _ := near.GenerateKeyPair(rand.Reader)

	w.deploy(w.operator, contracts.RegisterWASM(), contracts.RegisterMethodNew, contracts.RegisterNewArgs{
		OwnerID: w.owner.AccountID(), OutLayerContractID: w.outlayer.AccountID(), InitPublicKey: initKey.PublicKey().String(),
	})
	// The init key may only call register_node on the operator account.
	if _, err := w.operator.AddKey(w.ctx, initKey.PublicKey(), near.AccessKey{Permission: near.AccessKeyPermission{
		FunctionCall: &near.FunctionCallPermission{ReceiverID: opID, MethodNames: []string{contracts.RegisterMethodRegisterNode}},
	}}); err != nil {
		t.Fatal(err)
	}
	initSigner, err := near.NewSigner(w.cl, opID, initKey, near.WithWaitUntil(near.TxFinal))
	if err != nil {
		t.Fatal(err)
	}
	register := contracts.RegisterNodeArgs{PublicKey: nodeKey.PublicKey().String(), Attestation: "simulated:0123abcd", NodeID: "node-1"}

	// Only the init key may register: the operator's full-access key may not.
	_, err = w.call(w.operator, opID, contracts.RegisterMethodRegisterNode, register, near.U128{})
	mustPanic(t, err, "register_node must be signed by this account's init key")
	if _, err := initSigner.CallFunction(w.ctx, opID, contracts.RegisterMethodRegisterNode, register, 100*near.TGas, near.U128{}); err != nil {
		t.Fatalf("register_node: %v", err)
	}
	ak, err := w.cl.ViewAccessKey(w.ctx, opID, nodeKey.PublicKey(), near.BlockReference{Finality: "final"})
	if err != nil {
		t.Fatalf("the node key was not added: %v", err)
	}
	fc := ak.Permission.FunctionCall
	if fc == nil || fc.ReceiverID != w.outlayer.AccountID() || strings.Join(fc.MethodNames, ",") != strings.Join(contracts.NodeKeyMethods(), ",") ||
		fc.Allowance == nil || *fc.Allowance != near.OneNEAR {
		t.Fatalf("node key permission = %+v", ak.Permission)
	}
	// Registering a key the account already holds fails to add it, and the
	// callback takes the record back out.
	dup := contracts.RegisterNodeArgs{PublicKey: w.operator.PublicKey().String(), Attestation: "simulated:dup"}
	dres, err := initSigner.CallFunction(w.ctx, opID, contracts.RegisterMethodRegisterNode, dup, 100*near.TGas, near.U128{})
	if err != nil {
		t.Fatalf("register_node of an existing key: %v", err)
	}
	var added bool
	if err := dres.DecodeResult(&added); err != nil || added {
		t.Fatalf("register_node of an existing key returned %v, %v; logs %q", added, err, dres.Logs())
	}
	if ak, err := w.cl.ViewAccessKey(w.ctx, opID, w.operator.PublicKey(), near.BlockReference{Finality: "final"}); err != nil || !ak.Permission.IsFullAccess() {
		t.Fatalf("the operator's own key changed: %+v, %v", ak, err)
	}

	var nodes []contracts.NodeSummary
	w.view(opID, contracts.RegisterMethodListNodes, contracts.ListNodesArgs{}, &nodes)
	if len(nodes) != 1 || nodes[0].NodeID != "node-1" || nodes[0].AttestationLen != uint64(len(register.Attestation)) {
		t.Fatalf("list_nodes = %+v", nodes)
	}
	var att string
	w.view(opID, contracts.RegisterMethodGetAttestation, contracts.PublicKeyArgs{PublicKey: register.PublicKey}, &att)
	if att != register.Attestation {
		t.Fatalf("get_attestation = %q", att)
	}

	// The node key resolves a request.
	node, err := near.NewSigner(w.cl, opID, nodeKey, near.WithWaitUntil(near.TxFinal))
	if err != nil {
		t.Fatal(err)
	}
	limits := contracts.DefaultResourceLimits()
	h := w.send(w.alice, w.outlayer.AccountID(), contracts.MethodRequestExecution, contracts.RequestExecutionArgs{
		CodeSource: wasmSource(), ResourceLimits: &limits}, contracts.DefaultPricing().Estimate(limits))
	req := w.waitPending(1)[0]
	if _, err := w.resolve(node, req, contracts.ExecutionResponse{Success: true, Output: contracts.TextOutput("ok")}); err != nil {
		t.Fatalf("resolve with the node key: %v", err)
	}
	var got string
	if err := w.final(h, w.alice.AccountID()).DecodeResult(&got); err != nil || got != "ok" {
		t.Fatalf("result = %q, %v", got, err)
	}

	// ... and nothing else.
	refusals := map[string]func() error{
		"another method on the OutLayer contract": func() error {
			_, err := node.CallFunction(w.ctx, w.outlayer.AccountID(), contracts.MethodSetPaused, map[string]bool{"paused": true}, 30*near.TGas, near.U128{})
			return err
		},
		"a method on another contract": func() error {
			_, err := node.CallFunction(w.ctx, opID, contracts.RegisterMethodRegisterNode, register, 30*near.TGas, near.U128{})
			return err
		},
		"a transfer": func() error {
			_, err := node.Transfer(w.ctx, w.alice.AccountID(), near.NewU128(1))
			return err
		},
		"a deposit with a resolve": func() error {
			_, err := node.CallFunction(w.ctx, w.outlayer.AccountID(), contracts.MethodResolveExecution, contracts.ResolveExecutionArgs{RequestID: 0}, 30*near.TGas, near.NewU128(1))
			return err
		},
		"adding a key": func() error {
			k, _ := near.GenerateKeyPair(rand.Reader)
			_, err := node.AddKey(w.ctx, k.PublicKey(), near.FullAccessKey())
			return err
		},
	}
	balance := w.balance(opID)
	for name, do := range refusals {
		if err := do(); err == nil {
			t.Errorf("the node key could do %s", name)
		}
	}
	if got := w.balance(opID); got != balance {
		t.Errorf("operator balance moved %s -> %s through refused transactions", balance, got)
	}

	// The owner removes the node: the record and the key are gone.
	_, err = w.call(w.alice, opID, contracts.RegisterMethodRemoveNode, contracts.PublicKeyArgs{PublicKey: register.PublicKey}, near.U128{})
	mustPanic(t, err, "Only owner can call this method")
	if _, err := w.call(w.owner, opID, contracts.RegisterMethodRemoveNode, contracts.PublicKeyArgs{PublicKey: register.PublicKey}, near.U128{}); err != nil {
		t.Fatalf("remove_node: %v", err)
	}
	if _, err := w.cl.ViewAccessKey(w.ctx, opID, nodeKey.PublicKey(), near.BlockReference{Finality: "final"}); err == nil {
		t.Error("the node key still exists after remove_node")
	}
	w.view(opID, contracts.RegisterMethodListNodes, contracts.ListNodesArgs{}, &nodes)
	if len(nodes) != 0 {
		t.Errorf("list_nodes after removal = %+v", nodes)
	}
}

// A failed execution costs the base fee and returns null; an emergency
// cancel refunds everything and the late yield callback finds nothing; a
// price change does not touch a request already paid for; an input too
// large for the event log is left in state; a Json output reaches the
// caller as the JSON value.
func TestFailureCancellationPricingAndLargeInputs(t *testing.T) {
	w := newWorld(t)
	limits := contracts.DefaultResourceLimits()
	pricing := contracts.DefaultPricing()
	estimate := pricing.Estimate(limits)
	outlayer := w.outlayer.AccountID()
	request := func(args contracts.RequestExecutionArgs, deposit near.U128) (near.CryptoHash, contracts.ExecutionRequest) {
		t.Helper()
		h := w.send(w.alice, outlayer, contracts.MethodRequestExecution, args, deposit)
		reqs := w.waitPending(1)
		return h, reqs[0]
	}
	resolve := func(req contracts.ExecutionRequest, resp contracts.ExecutionResponse) {
		t.Helper()
		if _, err := w.resolve(w.operator, req, resp); err != nil {
			t.Fatalf("resolve %d: %v", req.RequestID, err)
		}
	}

	// Failure: the payer gets all but the base fee, the caller gets null.
	payerBefore := w.balance(w.payer)
	h, req := request(contracts.RequestExecutionArgs{CodeSource: wasmSource(), ResourceLimits: &limits, PayerAccountID: w.payer}, estimate)
	resolve(req, contracts.ExecutionResponse{Success: false, Error: ptr("trap: unreachable"),
		ResourcesUsed: contracts.ResourceMetrics{Instructions: 900_000_000, TimeMs: 50_000}})
	out := w.final(h, w.alice.AccountID())
	if raw, err := out.Result(); err != nil || string(raw) != "null" {
		t.Fatalf("failed execution returned %s, %v", raw, err)
	}
	if got := w.balance(w.payer); got != add(payerBefore, sub(estimate, pricing.BaseFee)) {
		t.Errorf("payer %s -> %s after a failure", payerBefore, got)
	}
	evs, _ := contracts.OutLayerEvents(out.Logs())
	var completed contracts.ExecutionCompleted
	if len(evs) != 2 || evs[1].Decode(contracts.EventExecutionCompleted, &completed) != nil ||
		completed.Success || *completed.ErrorMessage != "trap: unreachable" || completed.PaymentCharged != pricing.BaseFee {
		t.Fatalf("failure event = %+v", completed)
	}

	// Pricing is fixed per request: raise the prices while one is pending.
	h, req = request(contracts.RequestExecutionArgs{CodeSource: wasmSource(), ResourceLimits: &limits, PayerAccountID: w.payer,
		ResponseFormat: contracts.FormatJSON}, estimate)
	tenfold, _ := pricing.BaseFee.Mul64(10)
	if _, err := w.call(w.owner, outlayer, contracts.MethodSetPricing, contracts.SetPricingArgs{BaseFee: &tenfold}, near.U128{}); err != nil {
		t.Fatal(err)
	}
	payerBefore = w.balance(w.payer)
	used := contracts.ResourceMetrics{Instructions: 3_000_000, TimeMs: 7}
	resolve(req, contracts.ExecutionResponse{Success: true, Output: contracts.JSONOutput(json.RawMessage(`{"answer":42}`)), ResourcesUsed: used})
	out = w.final(h, w.alice.AccountID())
	if raw, _ := out.Result(); string(raw) != `{"answer":42}` {
		t.Fatalf("Json output reached the caller as %s", raw)
	}
	if got, want := w.balance(w.payer), add(payerBefore, sub(estimate, pricing.Cost(used, limits))); got != want {
		t.Errorf("payer %s, want %s: the old prices apply", got, want)
	}
	var newPricing contracts.Pricing
	w.view(outlayer, contracts.MethodGetPricing, nil, &newPricing)
	if newPricing.BaseFee != tenfold {
		t.Fatalf("get_pricing = %+v", newPricing)
	}
	newEstimate := newPricing.Estimate(limits)

	// Emergency cancel: full refund and an event; the yield later times out
	// into a callback that finds nothing and charges nothing.
	contractBefore := w.balance(outlayer)
	payerBefore = w.balance(w.payer)
	h, req = request(contracts.RequestExecutionArgs{CodeSource: wasmSource(), ResourceLimits: &limits, PayerAccountID: w.payer}, newEstimate)
	_, err := w.call(w.alice, outlayer, contracts.MethodEmergencyCancelExecution, contracts.RequestIDArgs{RequestID: req.RequestID}, near.U128{})
	mustPanic(t, err, "Only owner can call this method")
	_, err = w.call(w.alice, outlayer, contracts.MethodCancelStaleExecution, contracts.RequestIDArgs{RequestID: req.RequestID}, near.U128{})
	mustPanic(t, err, "Execution is not yet stale, please wait")
	cres, err := w.call(w.owner, outlayer, contracts.MethodEmergencyCancelExecution, contracts.RequestIDArgs{RequestID: req.RequestID}, near.U128{})
	if err != nil {
		t.Fatalf("emergency cancel: %v", err)
	}
	evs, _ = contracts.OutLayerEvents(cres.Logs())
	var cancelled contracts.ExecutionCancelled
	if len(evs) != 1 || evs[0].Decode(contracts.EventExecutionCancelled, &cancelled) != nil ||
		cancelled.PaymentRefunded != newEstimate || cancelled.Reason != "emergency_cancel" {
		t.Fatalf("cancel events = %v (%+v)", evs, cancelled)
	}
	if got := w.balance(w.payer); got != add(payerBefore, newEstimate) {
		t.Errorf("payer %s -> %s after cancel, want the full payment back", payerBefore, got)
	}
	if err := w.cl.SandboxFastForward(w.ctx, contracts.YieldTimeoutBlocks+5); err != nil {
		t.Fatal(err)
	}
	if raw, err := w.final(h, w.alice.AccountID()).Result(); err != nil || string(raw) != "null" {
		t.Fatalf("cancelled request's yield returned %s, %v", raw, err)
	}
	if got := w.balance(outlayer); got != contractBefore {
		t.Errorf("contract %s -> %s across a cancelled request", contractBefore, got)
	}

	// An input that JSON escaping would blow past the 16 KiB log cap stays
	// in state; the event says so.
	// Its deposit must cover the ~21 KB it stores until settlement.
	quotes := strings.Repeat(`"`, contracts.MaxInputDataBytes)
	_, err = w.call(w.alice, outlayer, contracts.MethodRequestExecution, contracts.RequestExecutionArgs{CodeSource: wasmSource(), ResourceLimits: &limits, InputData: &quotes}, newEstimate)
	mustPanic(t, err, "bytes the request stores until it settles, refunded then)")
	bigDeposit := add(newEstimate, near.OneNEAR)
	h, req = request(contracts.RequestExecutionArgs{CodeSource: wasmSource(), ResourceLimits: &limits, InputData: &quotes}, bigDeposit)
	if req.InputData == nil || *req.InputData != quotes {
		t.Fatal("get_pending_requests lost the input")
	}
	if req.StorageBytes < 2*contracts.MaxInputDataBytes {
		t.Fatalf("a request holding a %d-byte escaped input records %d bytes of storage", 2*contracts.MaxInputDataBytes, req.StorageBytes)
	}
	resolve(req, contracts.ExecutionResponse{Success: true, Output: contracts.TextOutput("done")})
	out = w.final(h, w.alice.AccountID())
	evs, err = contracts.OutLayerEvents(out.Logs())
	if err != nil || len(evs) != 2 {
		t.Fatalf("events = %v, %v", evs, err)
	}
	var requested contracts.ExecutionRequested
	if err := evs[0].Decode(contracts.EventExecutionRequested, &requested); err != nil {
		t.Fatal(err)
	}
	if !requested.RequestData.InputDataInState || requested.RequestData.InputData != "" {
		t.Fatalf("large-input event = %+v", requested.RequestData)
	}
	// The storage share is refunded with the rest: only the base fee is kept.
	if err := evs[1].Decode(contracts.EventExecutionCompleted, &completed); err != nil ||
		completed.PaymentCharged != newPricing.BaseFee || completed.PaymentRefunded != sub(bigDeposit, newPricing.BaseFee) {
		t.Fatalf("large-input settlement = %+v, %v", completed, err)
	}

	// Compile-only (no limits) needs only the base fee (and its storage)
	// and refuses input.
	allowance, _ := near.NewU128(contracts.StoragePricePerByte).Mul64(contracts.RequestStorageAllowance)
	_, err = w.call(w.alice, outlayer, contracts.MethodRequestExecution, contracts.RequestExecutionArgs{
		CodeSource: contracts.CodeSource{GitHub: &contracts.GitHubSource{Repo: "https://github.com/a/b", Commit: "main"}}, InputData: ptr("x"),
	}, newPricing.BaseFee)
	mustPanic(t, err, "input_data must be empty for a compile-only request")
	h = w.send(w.alice, outlayer, contracts.MethodRequestExecution, contracts.RequestExecutionArgs{
		CodeSource: contracts.CodeSource{GitHub: &contracts.GitHubSource{Repo: "https://github.com/a/b", Commit: "main"}},
	}, add(newPricing.BaseFee, allowance))
	req = w.waitPending(1)[0]
	if !req.CompileOnly || req.ResourceLimits != limits {
		t.Fatalf("compile-only request = %+v", req)
	}
	var ids []uint64
	w.view(outlayer, contracts.MethodGetPendingRequestIDs, contracts.PageArgs{FromIndex: ptr(req.RequestID)}, &ids)
	if len(ids) != 1 || ids[0] != req.RequestID {
		t.Fatalf("get_pending_request_ids = %v", ids)
	}
	w.view(outlayer, contracts.MethodGetPendingRequestIDs, contracts.PageArgs{FromIndex: ptr(req.RequestID + 1)}, &ids)
	if len(ids) != 0 {
		t.Fatalf("get_pending_request_ids past the last = %v", ids)
	}
	// Two more pending requests; clear_all cancels all three in one event.
	for i := 0; i < 2; i++ {
		w.send(w.alice, outlayer, contracts.MethodRequestExecution, contracts.RequestExecutionArgs{
			CodeSource: wasmSource(), ResourceLimits: &limits, PayerAccountID: w.payer}, newEstimate)
	}
	w.waitPending(3)
	payerBefore = w.balance(w.payer)
	clr, err := w.call(w.owner, outlayer, contracts.MethodClearAllPendingRequests, map[string]any{}, near.U128{})
	if err != nil {
		t.Fatalf("clear_all_pending_requests: %v", err)
	}
	var cleared uint64
	if err := clr.DecodeResult(&cleared); err != nil || cleared != 3 {
		t.Fatalf("clear_all_pending_requests = %d, %v", cleared, err)
	}
	evs, _ = contracts.OutLayerEvents(clr.Logs())
	var all []contracts.ExecutionCancelled
	if len(evs) != 1 || evs[0].DecodeList(contracts.EventExecutionCancelled, &all) != nil || len(all) != 3 || all[0].Reason != "clear_all" {
		t.Fatalf("clear_all events = %v (%+v)", evs, all)
	}
	if got, want := w.balance(w.payer), add(payerBefore, add(newEstimate, newEstimate)); got != want {
		t.Errorf("payer %s after clear_all, want %s", got, want)
	}
	w.view(outlayer, contracts.MethodGetPendingRequestIDs, contracts.PageArgs{}, &ids)
	if len(ids) != 0 {
		t.Fatalf("pending after clear_all = %v", ids)
	}
	_ = h // the compile-only request's yield simply expires
}
