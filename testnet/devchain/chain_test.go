package devchain

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/outlayer/outlayer/contracts/near"
)

func startChain(t testing.TB, cfg Config) (*Chain, *near.Client, *near.Signer) {
	t.Helper()
	if cfg.Home == "" {
		cfg.Home = t.TempDir()
	}
	if cfg.BlockTime == 0 {
		cfg.BlockTime = 20 * time.Millisecond
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		if err := c.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	cl := near.NewClient(c.RPCURL())
	acc, kp, err := near.LoadKeyFile(c.RootKeyFile())
	if err != nil {
		t.Fatalf("root key file: %v", err)
	}
	s, err := near.NewSigner(cl, acc, kp, near.WithWaitUntil(near.TxFinal))
	if err != nil {
		t.Fatal(err)
	}
	return c, cl, s
}

func wasm(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "examples", "contracts", "wasm", name+".wasm"))
	if err != nil {
		t.Fatalf("test contract %s: %v", name, err)
	}
	return b
}

// newContractAccount creates sub.<root> with balance and deploys code.
func newContractAccount(t testing.TB, ctx context.Context, root *near.Signer, sub, code string, nearAmount uint64) *near.Signer {
	t.Helper()
	kp, err := near.GenerateKeyPair(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id := sub + "." + root.AccountID()
	amount, _ := near.OneNEAR.Mul64(nearAmount)
	if _, err := root.CreateAccount(ctx, id, kp.PublicKey(), amount); err != nil {
		t.Fatalf("create %s: %v", id, err)
	}
	s, err := near.NewSigner(root.Client(), id, kp, near.WithWaitUntil(near.TxFinal))
	if err != nil {
		t.Fatal(err)
	}
	if code != "" {
		if _, err := s.DeployContract(ctx, wasm(t, code), "", nil, 0); err != nil {
			t.Fatalf("deploy %s to %s: %v", code, id, err)
		}
	}
	return s
}

func TestCounterCallsViewsAndState(t *testing.T) {
	ctx := context.Background()
	_, cl, root := startChain(t, Config{})
	counter := newContractAccount(t, ctx, root, "counter", "counter", 10)
	for want := 1; want <= 3; want++ {
		out, err := root.CallFunction(ctx, counter.AccountID(), "increment", map[string]any{}, 0, near.U128{})
		if err != nil {
			t.Fatalf("increment: %v", err)
		}
		var got int
		if err := out.DecodeResult(&got); err != nil || got != want {
			t.Fatalf("increment = %d (%v), want %d", got, err, want)
		}
		if logs := out.Logs(); len(logs) != 1 || logs[0] != "Increased number to "+string(rune('0'+want)) {
			t.Fatalf("logs = %q", logs)
		}
		if out.FinalExecutionStatus != near.TxFinal {
			t.Fatalf("final_execution_status = %s", out.FinalExecutionStatus)
		}
	}
	var n int
	if err := cl.ViewFunction(ctx, counter.AccountID(), "get_num", nil, &n); err != nil || n != 3 {
		t.Fatalf("get_num = %d, %v", n, err)
	}
	st, err := cl.ViewState(ctx, counter.AccountID(), nil, near.BlockReference{Finality: "final"})
	if err != nil || len(st.Values) != 1 || string(st.Values[0].Key) != "num" {
		t.Fatalf("view_state = %+v, %v", st, err)
	}
	acc, err := cl.ViewAccount(ctx, counter.AccountID(), near.BlockReference{Finality: "final"})
	if err != nil {
		t.Fatal(err)
	}
	code := wasm(t, "counter")
	if want := uint64(100 + 82 + len(code) + 3 + 8 + 40); acc.StorageUsage != want {
		t.Fatalf("storage_usage = %d, want %d (account + key + code + one entry)", acc.StorageUsage, want)
	}
	if acc.CodeHash != near.HashBytes(code) {
		t.Fatalf("code_hash = %s", acc.CodeHash)
	}
	// A state write in a view fails with ProhibitedInView, worded like nearcore (its Debug form) in the legacy
	// success-shaped error, and changes nothing.
	_, err = cl.CallFunction(ctx, counter.AccountID(), "increment", []byte(`{}`), near.BlockReference{Finality: "final"})
	if err == nil || !strings.Contains(err.Error(), `wasm execution failed with error: HostError(ProhibitedInView { method_name: "storage_write" })`) {
		t.Fatalf("increment as a view: %v", err)
	}
	if err := cl.ViewFunction(ctx, counter.AccountID(), "get_num", nil, &n); err != nil || n != 3 {
		t.Fatalf("get_num after refused view = %d, %v", n, err)
	}
}

func TestCrossContractCallWithCallback(t *testing.T) {
	ctx := context.Background()
	_, cl, root := startChain(t, Config{})
	counter := newContractAccount(t, ctx, root, "counter", "counter", 10)
	xcc := newContractAccount(t, ctx, root, "xcc", "xcc", 10)
	panicker := newContractAccount(t, ctx, root, "panicker", "panicker", 10)

	out, err := root.CallFunction(ctx, xcc.AccountID(), "call",
		map[string]any{"contract": counter.AccountID(), "method": "increment", "args": map[string]any{"by": 5}}, 100_000_000_000_000, near.U128{})
	if err != nil {
		t.Fatalf("xcc call: %v", err)
	}
	logs := strings.Join(out.Logs(), "\n")
	if !strings.Contains(logs, "Increased number to 5") || !strings.Contains(logs, "succeeded") {
		t.Fatalf("logs = %s", logs)
	}
	// tx receipt, callee, callback, and refunds
	if len(out.ReceiptsOutcome) < 3 {
		t.Fatalf("receipts_outcome has %d entries", len(out.ReceiptsOutcome))
	}
	var n int
	if err := cl.ViewFunction(ctx, counter.AccountID(), "get_num", nil, &n); err != nil || n != 5 {
		t.Fatalf("get_num = %d, %v", n, err)
	}

	// A failing callee: the callback sees a failed promise result, the
	// attached deposit comes back to the caller contract.
	before, _ := cl.ViewAccount(ctx, xcc.AccountID(), near.BlockReference{Finality: "final"})
	deposit, _ := near.OneNEAR.Mul64(1)
	out, err = root.CallFunction(ctx, xcc.AccountID(), "call",
		map[string]any{"contract": panicker.AccountID(), "method": "panic_msg", "args": map[string]any{"msg": "nope"}}, 100_000_000_000_000, deposit)
	if err != nil {
		t.Fatalf("xcc call to panicker: %v", err)
	}
	logs = strings.Join(out.Logs(), "\n")
	if !strings.Contains(logs, "failed") {
		t.Fatalf("callback did not see the failure; logs = %s", logs)
	}
	if len(out.ReceiptFailures()) == 0 {
		t.Fatal("the panicking receipt is not reported as failed")
	}
	after, _ := cl.ViewAccount(ctx, xcc.AccountID(), near.BlockReference{Finality: "final"})
	// xcc received 1 NEAR with the call, forwarded it, and got it back as a refund.
	gained, ok := after.Amount.Sub(before.Amount)
	if !ok || gained.Cmp(deposit) != 0 {
		t.Fatalf("xcc balance %s -> %s, want +1 NEAR (deposit refunded)", before.Amount, after.Amount)
	}
}

func TestPanicRollsBackState(t *testing.T) {
	ctx := context.Background()
	_, cl, root := startChain(t, Config{})
	p := newContractAccount(t, ctx, root, "panicker", "panicker", 10)
	_, err := root.CallFunction(ctx, p.AccountID(), "write_then_panic", map[string]any{"key": "k", "value": "v"}, 0, near.U128{})
	var txErr *near.TxExecutionError
	if !errors.As(err, &txErr) {
		t.Fatalf("write_then_panic: %v", err)
	}
	if msg, ok := txErr.ExecutionErrorMessage(); !ok || !strings.HasPrefix(msg, "Smart contract panicked") {
		t.Fatalf("error = %v", txErr)
	}
	st, err := cl.ViewState(ctx, p.AccountID(), nil, near.BlockReference{Finality: "final"})
	if err != nil || len(st.Values) != 0 {
		t.Fatalf("state after panic = %+v, %v", st, err)
	}
	// A runaway loop runs out of gas: NEAR's error, all prepaid gas burnt.
	out, err := root.CallFunction(ctx, p.AccountID(), "loop_forever", nil, 3_000_000_000_000, near.U128{})
	if !errors.As(err, &txErr) {
		t.Fatalf("loop_forever: %v", err)
	}
	if msg, _ := txErr.ExecutionErrorMessage(); msg != "Exceeded the prepaid gas." {
		t.Fatalf("loop_forever: %v", txErr)
	}
	if out == nil || len(out.ReceiptsOutcome) == 0 || out.ReceiptsOutcome[0].Outcome.GasBurnt < 3_000_000_000_000 {
		t.Fatalf("loop_forever outcome: %+v", out)
	}
}

func TestYieldResumeAndTimeout(t *testing.T) {
	ctx := context.Background()
	c, cl, root := startChain(t, Config{})
	y := newContractAccount(t, ctx, root, "yield", "yieldpair", 10)

	// start waits for the resume; send it without waiting and resume it.
	st, err := root.Sign(ctx, y.AccountID(), near.FunctionCall{MethodName: "start", Args: []byte(`{"tag":"a"}`), Gas: 100_000_000_000_000})
	if err != nil {
		t.Fatal(err)
	}
	hash, err := cl.BroadcastTxAsync(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	var dataID string
	deadline := time.Now().Add(10 * time.Second)
	for dataID == "" && time.Now().Before(deadline) {
		_ = cl.ViewFunction(ctx, y.AccountID(), "get_data_id", nil, &dataID)
		time.Sleep(10 * time.Millisecond) // polling a condition with a deadline
	}
	if dataID == "" {
		t.Fatal("the yield was never created")
	}
	if _, err := root.CallFunction(ctx, y.AccountID(), "resume", map[string]any{"data_id": dataID, "payload": "hello"}, 0, near.U128{}); err != nil {
		t.Fatalf("resume: %v", err)
	}
	out, err := cl.TxStatus(ctx, hash, root.AccountID(), near.TxFinal)
	if err != nil {
		t.Fatalf("tx status: %v", err)
	}
	var got string
	if err := out.DecodeResult(&got); err != nil || got != "hello" {
		t.Fatalf("yield result = %q, %v; logs %q", got, err, out.Logs())
	}

	// An oversized payload is a host error in the resumer.
	big := strings.Repeat("x", 1025)
	_, err = root.CallFunction(ctx, y.AccountID(), "resume", map[string]any{"data_id": dataID, "payload": big}, 0, near.U128{})
	if err == nil || !strings.Contains(err.Error(), "exceeds the 1024 byte limit") {
		t.Fatalf("oversized resume: %v", err)
	}

	// Timeout: nobody resumes; after 200 blocks the callback sees a failure.
	st, err = root.Sign(ctx, y.AccountID(), near.FunctionCall{MethodName: "start", Args: []byte(`{"tag":"b"}`), Gas: 100_000_000_000_000})
	if err != nil {
		t.Fatal(err)
	}
	hash, err = cl.BroadcastTxAsync(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.TxStatus(ctx, hash, root.AccountID(), near.TxIncluded); err != nil {
		t.Fatal(err)
	}
	if err := cl.SandboxFastForward(ctx, 205); err != nil {
		t.Fatalf("fast forward: %v", err)
	}
	out, err = cl.TxStatus(ctx, hash, root.AccountID(), near.TxFinal)
	if err != nil {
		t.Fatalf("tx status after timeout: %v", err)
	}
	if logs := strings.Join(out.Logs(), "\n"); !strings.Contains(logs, "yield timed out") {
		t.Fatalf("logs after timeout = %s", logs)
	}
	_ = c
}

func TestInvalidTransactionsChangeNothing(t *testing.T) {
	ctx := context.Background()
	c, cl, root := startChain(t, Config{})
	before, err := cl.ViewAccount(ctx, root.AccountID(), near.BlockReference{Finality: "final"})
	if err != nil {
		t.Fatal(err)
	}
	ak, err := cl.ViewAccessKey(ctx, root.AccountID(), c.RootKey().PublicKey(), near.BlockReference{Finality: "final"})
	if err != nil {
		t.Fatal(err)
	}
	head, _ := cl.RecentBlockHash(ctx)
	kp := c.RootKey()
	sign := func(mut func(*near.Transaction)) *near.SignedTransaction {
		tx := near.Transaction{SignerID: root.AccountID(), PublicKey: kp.PublicKey(), Nonce: ak.Nonce + 1, ReceiverID: "someone.test.near",
			BlockHash: head, Actions: []near.Action{near.Transfer{Deposit: near.NewU128(1)}}}
		mut(&tx)
		return kp.SignTransaction(tx)
	}
	cases := map[string]struct {
		tx   *near.SignedTransaction
		kind string
	}{
		"stale nonce":     {sign(func(tx *near.Transaction) { tx.Nonce = ak.Nonce }), "InvalidNonce"},
		"nonce too large": {sign(func(tx *near.Transaction) { tx.Nonce = 1 << 62 }), "NonceTooLarge"},
		"unknown signer":  {sign(func(tx *near.Transaction) { tx.SignerID = "ghost.test.near" }), "SignerDoesNotExist"},
		"unknown block":   {sign(func(tx *near.Transaction) { tx.BlockHash = near.HashBytes([]byte("x")) }), "Expired"},
		"zero gas":        {sign(func(tx *near.Transaction) { tx.Actions = []near.Action{near.FunctionCall{MethodName: "m", Gas: 0}} }), "FunctionCallZeroAttachedGas"},
		"too much gas": {sign(func(tx *near.Transaction) {
			tx.Actions = []near.Action{near.FunctionCall{MethodName: "m", Gas: 400_000_000_000_000}}
		}), "TotalPrepaidGasExceeded"},
		"not enough balance": {sign(func(tx *near.Transaction) {
			tx.Actions = []near.Action{near.Transfer{Deposit: near.U128{Hi: 1 << 50}}}
		}), "NotEnoughBalance"},
	}
	bad := sign(func(*near.Transaction) {})
	other, _ := near.GenerateKeyPair(rand.Reader)
	forged := other.SignTransaction(bad.Transaction) // signed by a key that is not the transaction's
	cases["bad signature"] = struct {
		tx   *near.SignedTransaction
		kind string
	}{forged, "InvalidSignature"}
	for name, tc := range cases {
		_, err := cl.SendTx(ctx, tc.tx, near.TxFinal)
		var rpcErr *near.RPCError
		if !errors.As(err, &rpcErr) || rpcErr.CauseName() != "INVALID_TRANSACTION" {
			t.Errorf("%s: err = %v, want INVALID_TRANSACTION", name, err)
			continue
		}
		txErr, ok := rpcErr.TxExecutionError()
		if !ok || txErr.Kind() != tc.kind {
			t.Errorf("%s: kind = %v (%v), want %s", name, txErr, ok, tc.kind)
		}
	}
	// Malformed bytes are a parse error.
	var raw map[string]any
	err = cl.Call(ctx, "send_tx", map[string]any{"signed_tx_base64": "AAAA", "wait_until": "FINAL"}, &raw)
	var rpcErr *near.RPCError
	if !errors.As(err, &rpcErr) || rpcErr.Name != "REQUEST_VALIDATION_ERROR" {
		t.Errorf("malformed tx: %v", err)
	}
	// Unknown account in a query.
	if _, err := cl.ViewAccount(ctx, "ghost.test.near", near.BlockReference{Finality: "final"}); !errors.As(err, &rpcErr) || rpcErr.CauseName() != "UNKNOWN_ACCOUNT" {
		t.Errorf("unknown account: %v", err)
	}
	after, _ := cl.ViewAccount(ctx, root.AccountID(), near.BlockReference{Finality: "final"})
	akAfter, _ := cl.ViewAccessKey(ctx, root.AccountID(), kp.PublicKey(), near.BlockReference{Finality: "final"})
	if after.Amount != before.Amount || akAfter.Nonce != ak.Nonce {
		t.Fatalf("state changed: balance %s -> %s, nonce %d -> %d", before.Amount, after.Amount, ak.Nonce, akAfter.Nonce)
	}
}

func TestFunctionCallKeyRules(t *testing.T) {
	ctx := context.Background()
	_, cl, root := startChain(t, Config{})
	counter := newContractAccount(t, ctx, root, "counter", "counter", 10)
	fk, _ := near.GenerateKeyPair(rand.Reader)
	allowance, _ := near.OneNEAR.Mul64(1)
	perm := &near.FunctionCallPermission{Allowance: &allowance, ReceiverID: counter.AccountID(), MethodNames: []string{"increment"}}
	if _, err := root.AddKey(ctx, fk.PublicKey(), near.AccessKey{Permission: near.AccessKeyPermission{FunctionCall: perm}}); err != nil {
		t.Fatal(err)
	}
	fs, _ := near.NewSigner(cl, root.AccountID(), fk, near.WithWaitUntil(near.TxFinal))
	if _, err := fs.CallFunction(ctx, counter.AccountID(), "increment", map[string]any{}, 0, near.U128{}); err != nil {
		t.Fatalf("allowed call: %v", err)
	}
	ak, _ := cl.ViewAccessKey(ctx, root.AccountID(), fk.PublicKey(), near.BlockReference{Finality: "final"})
	if fc := ak.Permission.FunctionCall; fc == nil || fc.Allowance == nil || fc.Allowance.Cmp(allowance) >= 0 {
		t.Fatalf("allowance did not decrease: %+v", ak.Permission)
	}
	for name, want := range map[string]string{"decrement": "MethodNameMismatch"} {
		_, err := fs.CallFunction(ctx, counter.AccountID(), name, map[string]any{}, 0, near.U128{})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s with a function-call key: %v, want %s", name, err, want)
		}
	}
	if _, err := fs.Transfer(ctx, counter.AccountID(), near.NewU128(1)); err == nil || !strings.Contains(err.Error(), "RequiresFullAccess") {
		t.Errorf("transfer with a function-call key: %v", err)
	}
}

func TestAccountsTransfersAndPersistence(t *testing.T) {
	ctx := context.Background()
	home := t.TempDir()
	c, cl, root := startChain(t, Config{Home: home, Persist: true})
	alice := newContractAccount(t, ctx, root, "alice", "", 5)
	// Only the parent may create a sub-account.
	kp, _ := near.GenerateKeyPair(rand.Reader)
	_, err := alice.CreateAccount(ctx, "bob."+root.AccountID(), kp.PublicKey(), near.NewU128(1))
	if err == nil || !strings.Contains(err.Error(), "CreateAccountNotAllowed") {
		t.Fatalf("alice creating a sibling: %v", err)
	}
	// A transfer to a NEAR-implicit account creates it with its key.
	implicit := hex.EncodeToString(kp.PublicKey().Bytes())
	if _, err := alice.Transfer(ctx, implicit, near.OneNEAR); err != nil {
		t.Fatalf("transfer to implicit: %v", err)
	}
	keys, err := cl.ViewAccessKeyList(ctx, implicit, near.BlockReference{Finality: "final"})
	if err != nil || len(keys.Keys) != 1 {
		t.Fatalf("implicit account keys = %+v, %v", keys, err)
	}
	// Spending below the storage stake fails with LackBalanceForState... for
	// an account whose storage is above the zero-balance allowance.
	dep := newContractAccount(t, ctx, root, "dep", "counter", 1)
	acc, _ := cl.ViewAccount(ctx, dep.AccountID(), near.BlockReference{Finality: "final"})
	_, err = dep.Transfer(ctx, root.AccountID(), acc.Amount)
	if err == nil || !(strings.Contains(err.Error(), "LackBalanceForState") || strings.Contains(err.Error(), "NotEnoughBalance")) {
		t.Fatalf("spending the storage stake: %v", err)
	}
	height := c.Height()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c2, err := New(Config{Home: home, Persist: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if c2.Height() < height {
		t.Fatalf("restarted at height %d, was %d", c2.Height(), height)
	}
	if _, ok := c2.st.accounts[alice.AccountID()]; !ok {
		t.Fatal("alice was not persisted")
	}
	if code := c2.st.codeOf(c2.st.accounts[dep.AccountID()]); len(code) == 0 {
		t.Fatal("contract code was not persisted")
	}
}
