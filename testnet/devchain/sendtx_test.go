package devchain

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/outlayer/outlayer/contracts/near"
)

// A send_tx that waits longer than the timeout answers TIMEOUT_ERROR with
// HTTP 408, as nearcore does after its 10 s polling timeout; sending the
// same signed transaction again (what near-api-js does on 408) does not run
// it twice and, once it finished, returns its result.
func TestSendTxTimeoutThenResend(t *testing.T) {
	ctx := context.Background()
	_, cl, root := startChain(t, Config{TxTimeout: 300 * time.Millisecond})
	y := newContractAccount(t, ctx, root, "yield", "yieldpair", 10)
	st, err := root.Sign(ctx, y.AccountID(), near.FunctionCall{MethodName: "start", Args: []byte(`{"tag":"t"}`), Gas: 100_000_000_000_000})
	if err != nil {
		t.Fatal(err)
	}
	_, err = cl.SendTx(ctx, st, near.TxFinal)
	var rpcErr *near.RPCError
	if !errors.As(err, &rpcErr) || rpcErr.Cause == nil || rpcErr.Cause.Name != "TIMEOUT_ERROR" || rpcErr.HTTPStatus != 408 {
		t.Fatalf("a yielding send_tx past the timeout: %v", err)
	}
	var dataID string
	for deadline := time.Now().Add(10 * time.Second); dataID == "" && time.Now().Before(deadline); {
		_ = cl.ViewFunction(ctx, y.AccountID(), "get_data_id", nil, &dataID)
	}
	if dataID == "" {
		t.Fatal("the yield was never created")
	}
	// Re-sent while still waiting: the same timeout, not a second execution.
	if _, err := cl.SendTx(ctx, st, near.TxFinal); !errors.As(err, &rpcErr) || rpcErr.Cause.Name != "TIMEOUT_ERROR" {
		t.Fatalf("re-sent while yielding: %v", err)
	}
	if _, err := root.CallFunction(ctx, y.AccountID(), "resume", map[string]any{"data_id": dataID, "payload": "done"}, 100_000_000_000_000, near.U128{}); err != nil {
		t.Fatal(err)
	}
	var out *near.FinalExecutionOutcome
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		if out, err = cl.SendTx(ctx, st, near.TxFinal); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("re-sent after the resume: %v", err)
	}
	var got string
	if err := out.DecodeResult(&got); err != nil || got != "done" {
		t.Fatalf("result = %q, %v", got, err)
	}
}
