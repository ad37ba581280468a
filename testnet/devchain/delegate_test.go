package devchain

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"testing"

	"github.com/outlayer/outlayer/contracts/near"
)

// A relayer submits alice's signed delegate action: the inner call runs as
// alice (predecessor alice, signer the relayer), the relayer pays every fee,
// and alice's key nonce moves. Replaying it, letting it expire, or relaying
// it to another account fails as nearcore's apply_delegate_action does.
func TestDelegateAction(t *testing.T) {
	ctx := context.Background()
	c, cl, root := startChain(t, Config{})
	counter := newContractAccount(t, ctx, root, "counter", "counter", 10)
	aliceKP, err := near.GenerateKeyPair(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	alice, err := near.NewSigner(cl, "alice."+root.AccountID(), aliceKP)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := root.CreateAccount(ctx, alice.AccountID(), aliceKP.PublicKey(), near.OneNEAR); err != nil {
		t.Fatal(err)
	}
	before, err := cl.ViewAccount(ctx, alice.AccountID(), near.Final())
	if err != nil {
		t.Fatal(err)
	}
	ak, err := cl.ViewAccessKey(ctx, alice.AccountID(), aliceKP.PublicKey(), near.Final())
	if err != nil {
		t.Fatal(err)
	}
	delegate := func(nonce, maxHeight uint64) near.Delegate {
		return aliceKP.SignDelegateAction(near.DelegateAction{
			SenderID: alice.AccountID(), ReceiverID: counter.AccountID(), Nonce: nonce, MaxBlockHeight: maxHeight, PublicKey: aliceKP.PublicKey(),
			Actions: []near.Action{near.FunctionCall{MethodName: "increment", Args: []byte(`{}`), Gas: 30_000_000_000_000}},
		})
	}
	relay := func(to string, d near.Delegate) (*near.FinalExecutionOutcome, error) {
		return root.SignAndSend(ctx, to, d)
	}
	d := delegate(ak.Nonce+1, c.Height()+100)
	out, err := relay(alice.AccountID(), d)
	if err != nil {
		t.Fatalf("relaying: %v", err)
	}
	var n int
	if err := cl.ViewFunction(ctx, counter.AccountID(), "get_num", nil, &n); err != nil || n != 1 {
		t.Fatalf("get_num after the meta-transaction = %d, %v", n, err)
	}
	if len(out.ReceiptsOutcome) < 2 || out.ReceiptsOutcome[1].Outcome.ExecutorID != counter.AccountID() {
		t.Fatalf("receipts = %+v", out.ReceiptsOutcome)
	}
	after, err := cl.ViewAccount(ctx, alice.AccountID(), near.Final())
	if err != nil {
		t.Fatal(err)
	}
	if after.Amount != before.Amount {
		t.Fatalf("alice paid: %s -> %s", before.Amount, after.Amount)
	}
	if ak2, err := cl.ViewAccessKey(ctx, alice.AccountID(), aliceKP.PublicKey(), near.Final()); err != nil || ak2.Nonce != ak.Nonce+1 {
		t.Fatalf("alice's key after the meta-transaction = %+v, %v", ak2, err)
	}

	kind := func(out *near.FinalExecutionOutcome, err error) string {
		var txErr *near.TxExecutionError
		if !errors.As(err, &txErr) || txErr.ActionError == nil {
			t.Fatalf("want an action error, got %v", err)
		}
		b, _ := json.Marshal(txErr.ActionError.Kind)
		return string(b)
	}
	for _, tc := range []struct {
		name, to, want string
		d              near.Delegate
	}{
		{"replay", alice.AccountID(), `{"DelegateActionInvalidNonce":{"ak_nonce":` + jsonU(ak.Nonce+1) + `,"delegate_nonce":` + jsonU(ak.Nonce+1) + `}}`, d},
		{"expired", alice.AccountID(), `"DelegateActionExpired"`, delegate(ak.Nonce+2, 2)},
		{"wrong account", counter.AccountID(), `{"DelegateActionSenderDoesNotMatchTxReceiver":{"receiver_id":"` + counter.AccountID() + `","sender_id":"` + alice.AccountID() + `"}}`, delegate(ak.Nonce+2, c.Height()+100)},
	} {
		out, err := relay(tc.to, tc.d)
		if got := kind(out, err); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
	if err := cl.ViewFunction(ctx, counter.AccountID(), "get_num", nil, &n); err != nil || n != 1 {
		t.Fatalf("get_num after refused meta-transactions = %d, %v", n, err)
	}
	// Two delegate actions in one transaction are refused at submission.
	_, err = root.SignAndSend(ctx, alice.AccountID(), delegate(ak.Nonce+2, c.Height()+100), delegate(ak.Nonce+3, c.Height()+100))
	var rpcErr *near.RPCError
	if !errors.As(err, &rpcErr) || !contains([]string{string(rpcErr.Data)}, `{"TxExecutionError":{"InvalidTxError":{"ActionsValidation":"DelegateActionMustBeOnlyOne"}}}`) {
		t.Fatalf("two delegate actions: %v", err)
	}
}

func jsonU(v uint64) string { b, _ := json.Marshal(v); return string(b) }
