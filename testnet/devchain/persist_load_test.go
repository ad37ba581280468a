package devchain

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/outlayer/outlayer/contracts"
	"github.com/outlayer/outlayer/contracts/near"
)

// pendingIDs pages through the OutLayer contract's pending request ids.
func pendingIDs(t *testing.T, ctx context.Context, cl *near.Client, contract string) map[uint64]bool {
	t.Helper()
	ids := map[uint64]bool{}
	for from := uint64(0); ; from += 50 {
		limit := uint64(50)
		var page []uint64
		if err := cl.ViewFunction(ctx, contract, contracts.MethodGetPendingRequestIDs, contracts.PageArgs{FromIndex: &from, Limit: &limit}, &page); err != nil {
			t.Fatalf("get_pending_request_ids: %v", err)
		}
		for _, id := range page {
			ids[id] = true
		}
		if len(page) < int(limit) {
			return ids
		}
	}
}

// Restarting a persisted devchain while 200 OutLayer requests are in flight
// loses none of them: the contract's records (keys "r:" + a big-endian id,
// not UTF-8 from id 128 on) survive, every request times out after the
// restart, and every payer deposit comes back minus the base fee.
func TestRestartUnderLoadLosesNoRequest(t *testing.T) {
	const n = 200
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	home := t.TempDir()
	// A yield timeout long enough that no request times out before the
	// restart, however slow the machine.
	const yieldTimeout = 5_000
	c, cl, root := startChain(t, Config{Home: home, Persist: true, YieldTimeout: yieldTimeout})
	outlayer := newContractAccount(t, ctx, root, "outlayer", "", 20)
	if _, err := outlayer.DeployContract(ctx, contracts.OutLayerWASM(), contracts.MethodNew,
		contracts.NewArgs{OwnerID: root.AccountID(), OperatorID: root.AccountID(), AgreementArgs: contracts.AgreementArgs{ChainID: "localnet"}}, 0); err != nil {
		t.Fatalf("deploying the OutLayer contract: %v", err)
	}
	// The contract takes requests once it knows an executor key (k = 1).
	execPub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := root.CallFunction(ctx, outlayer.AccountID(), contracts.MethodAddExecutorKey,
		contracts.AddExecutorKeyArgs{PublicKey: near.PublicKeyFromEd25519(execPub)}, 30*near.TGas, near.U128{}); err != nil {
		t.Fatalf("registering an executor key: %v", err)
	}
	alice := newContractAccount(t, ctx, root, "alice", "", 100)
	payer := newContractAccount(t, ctx, root, "payer", "", 1).AccountID()
	payerBefore, err := cl.ViewAccount(ctx, payer, near.Final())
	if err != nil {
		t.Fatal(err)
	}
	limits := contracts.DefaultResourceLimits()
	pricing := contracts.DefaultPricing()
	deposit := pricing.Estimate(limits)
	args, err := json.Marshal(contracts.RequestExecutionArgs{
		CodeSource:     contracts.CodeSource{WasmURL: &contracts.WasmURLSource{URL: "https://example.com/p.wasm", Hash: strings.Repeat("ab", 32)}},
		ResourceLimits: &limits, PayerAccountID: payer,
	})
	if err != nil {
		t.Fatal(err)
	}
	hashes := make([]near.CryptoHash, 0, n)
	for range n {
		st, err := alice.Sign(ctx, outlayer.AccountID(), near.FunctionCall{MethodName: contracts.MethodRequestExecution, Args: args, Gas: 300_000_000_000_000, Deposit: deposit})
		if err != nil {
			t.Fatal(err)
		}
		h, err := cl.BroadcastTxAsync(ctx, st)
		if err != nil {
			t.Fatalf("request %d: %v", len(hashes), err)
		}
		hashes = append(hashes, h)
	}
	// Stop mid-flight: some requests are stored and yielding, the rest are
	// still transactions or receipts.
	for len(pendingIDs(t, ctx, cl, outlayer.AccountID())) < n/4 {
		if ctx.Err() != nil {
			t.Fatal("the requests never started")
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	c2, cl2, _ := startChain(t, Config{Home: home, Persist: true, BlockTime: time.Hour, YieldTimeout: yieldTimeout})
	if err := c2.FastForward(ctx, 5); err != nil { // everything in flight lands
		t.Fatal(err)
	}
	ids := pendingIDs(t, ctx, cl2, outlayer.AccountID())
	if len(ids) != n {
		t.Fatalf("%d pending requests after the restart, want %d", len(ids), n)
	}
	high := 0
	for id := range ids {
		var req *contracts.ExecutionRequest
		if err := cl2.ViewFunction(ctx, outlayer.AccountID(), contracts.MethodGetRequest, contracts.RequestIDArgs{RequestID: id}, &req); err != nil || req == nil {
			t.Fatalf("request %d after the restart: %v, %v", id, req, err)
		}
		if id&0xff >= 0x80 {
			high++
		}
	}
	if high == 0 {
		t.Fatal("no request id has a last byte >= 0x80; the test no longer covers non-UTF-8 keys")
	}
	if err := c2.FastForward(ctx, yieldTimeout+5); err != nil {
		t.Fatal(err)
	}
	for i, h := range hashes {
		out, err := cl2.TxStatus(ctx, h, alice.AccountID(), near.TxFinal)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if raw, err := out.Result(); err != nil || string(raw) != "null" {
			t.Fatalf("request %d finished with %s, %v; want the timeout's null", i, raw, err)
		}
	}
	if left := pendingIDs(t, ctx, cl2, outlayer.AccountID()); len(left) != 0 {
		t.Fatalf("%d requests still pending after the timeout", len(left))
	}
	refund, _ := deposit.Sub(pricing.BaseFee)
	total, _ := refund.Mul64(n)
	want, _ := payerBefore.Amount.Add(total)
	got, err := cl2.ViewAccount(ctx, payer, near.Final())
	if err != nil {
		t.Fatal(err)
	}
	if got.Amount != want {
		t.Fatalf("payer has %s, want %s (every deposit back minus the base fee)", got.Amount, want)
	}
}
