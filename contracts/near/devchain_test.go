package near_test

// End-to-end tests of the client against the real devchain, started in this
// process on loopback. (An external test package, so that contracts/near
// itself does not depend on testnet.)

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/outlayer/outlayer/contracts/near"
	"github.com/outlayer/outlayer/testnet/devchain"
	examplecontracts "github.com/outlayer/outlayer/testnet/examples/contracts"
	"github.com/outlayer/outlayer/testnet/fixture"
)

// startDevchain starts the fixture's devchain (20ms blocks unless cfg says
// otherwise) for this test.
func startDevchain(t *testing.T, cfg devchain.Config) (*fixture.Chain, *near.Client, *near.Signer) {
	t.Helper()
	chain := fixture.NewChain(t, context.Background(), fixture.ChainConfig{Devchain: cfg})
	return chain, chain.Client, chain.Root
}

func TestDevchainAccountsKeysAndTransfers(t *testing.T) {
	ctx := context.Background()
	chain, client, root := startDevchain(t, devchain.Config{})

	status, err := client.Status(ctx)
	if err != nil || status.ChainID == "" || status.SyncInfo.LatestBlockHeight == 0 {
		t.Fatalf("status %+v, %v", status, err)
	}
	alice := chain.MustAccount(t, ctx, "alice", 10)
	acct, err := client.ViewAccount(ctx, alice.AccountID(), near.Final())
	if err != nil || acct.Amount != nearAmount(t, "10") {
		t.Fatalf("alice: %+v, %v", acct, err)
	}
	keys, err := client.ViewAccessKeyList(ctx, alice.AccountID(), near.Final())
	if err != nil || len(keys.Keys) != 1 || keys.Keys[0].PublicKey != alice.PublicKey() || !keys.Keys[0].AccessKey.Permission.IsFullAccess() {
		t.Fatalf("keys %+v, %v", keys, err)
	}

	// A transfer arrives exactly.
	bob := chain.MustAccount(t, ctx, "bob", 1)
	half, _ := near.ParseNEAR("0.5")
	if _, err := alice.Transfer(ctx, bob.AccountID(), half); err != nil {
		t.Fatal(err)
	}
	b, err := client.ViewAccount(ctx, bob.AccountID(), near.Final())
	if want, _ := near.ParseNEAR("1.5"); err != nil || b.Amount != want {
		t.Fatalf("bob has %v (%v), want 1.5 NEAR", near.FormatNEAR(b.Amount), err)
	}

	// A second key: add, use, delete; afterwards it is unknown.
	kp2, _ := near.GenerateKeyPair(nil)
	if _, err := alice.AddKey(ctx, kp2.PublicKey(), near.FullAccessKey()); err != nil {
		t.Fatal(err)
	}
	alice2, _ := near.NewSigner(client, alice.AccountID(), kp2)
	if _, err := alice2.Transfer(ctx, bob.AccountID(), near.NewU128(1)); err != nil {
		t.Fatalf("using the added key: %v", err)
	}
	if _, err := alice.DeleteKey(ctx, kp2.PublicKey()); err != nil {
		t.Fatal(err)
	}
	if _, err := client.ViewAccessKey(ctx, alice.AccountID(), kp2.PublicKey(), near.Final()); !errors.Is(err, near.ErrUnknownAccessKey) {
		t.Fatalf("deleted key: %v", err)
	}
	// Sending with the deleted key is an InvalidTxError the caller can inspect.
	_, err = alice2.Transfer(ctx, bob.AccountID(), near.NewU128(1))
	var txErr *near.TxExecutionError
	if !errors.As(err, &txErr) || txErr.InvalidTxError == nil || !errors.Is(err, near.ErrInvalidTransaction) {
		t.Fatalf("deleted key send: %v", err)
	}

	// Unknown accounts.
	if _, err := client.ViewAccount(ctx, "nobody."+root.AccountID(), near.Final()); !errors.Is(err, near.ErrUnknownAccount) {
		t.Fatalf("unknown account: %v", err)
	}
	if price, err := client.GasPrice(ctx, nil); err != nil || price.IsZero() {
		t.Fatalf("gas price %v, %v", price, err)
	}
}

func TestDevchainContractCallsAndConcurrentNonces(t *testing.T) {
	ctx := context.Background()
	chain, client, root := startDevchain(t, devchain.Config{})
	counter := chain.MustAccount(t, ctx, "counter", 20)
	if _, err := counter.DeployContract(ctx, examplecontracts.Counter, "", nil, 0); err != nil {
		t.Fatal(err)
	}

	// Many concurrent calls on one key, plus a second client with its own
	// nonce counter for the same key: every call lands exactly once.
	acct, kp, err := near.LoadKeyFile(chain.RootKeyFile())
	if err != nil {
		t.Fatal(err)
	}
	rootElsewhere, err := near.NewSigner(near.NewClient(client.URL()), acct, kp)
	if err != nil {
		t.Fatal(err)
	}
	const n = 24
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := root
			if i%3 == 0 {
				s = rootElsewhere
			}
			out, err := s.CallFunction(ctx, counter.AccountID(), "increment", nil, 0, near.U128{})
			if err == nil && len(out.Logs()) != 1 {
				err = errors.New("missing log: " + strings.Join(out.Logs(), "|"))
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	var num int64
	if err := client.ViewFunction(ctx, counter.AccountID(), "get_num", nil, &num); err != nil || num != n {
		t.Fatalf("counter = %d (%v), want %d", num, err, n)
	}
	state, err := client.ViewState(ctx, counter.AccountID(), []byte("num"), near.Final())
	if err != nil || len(state.Values) != 1 || int64(binary.LittleEndian.Uint64(state.Values[0].Value)) != n {
		t.Fatalf("view_state %+v, %v", state, err)
	}

	// Return value and logs of one call, and the same transaction found by
	// scanning blocks and chunks.
	out, err := root.CallFunction(ctx, counter.AccountID(), "increment", map[string]int{"by": 5}, 0, near.U128{})
	if err != nil {
		t.Fatal(err)
	}
	if err := out.DecodeResult(&num); err != nil || num != n+5 {
		t.Fatalf("increment returned %d (%v)", num, err)
	}
	hash, _ := out.TxHash()
	blk, err := client.Block(ctx, near.AtHash(out.TransactionOutcome.BlockHash))
	if err != nil {
		t.Fatal(err)
	}
	chunk, err := client.Chunk(ctx, blk.Chunks[0].ChunkHash)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, tx := range chunk.Transactions {
		found = found || tx.Hash == hash
	}
	if !found {
		t.Fatalf("tx %s not in the chunk of block %d", hash, blk.Header.Height)
	}
	_, txs, err := client.BlockTransactions(ctx, near.AtHeight(blk.Header.Height))
	if err != nil || len(txs) != len(chunk.Transactions) {
		t.Fatalf("BlockTransactions: %d txs, %v", len(txs), err)
	}
	full, err := client.TxStatusWithReceipts(ctx, hash, root.AccountID(), near.TxFinal)
	if err != nil || len(full.Receipts) == 0 {
		t.Fatalf("EXPERIMENTAL_tx_status: %+v %v", full, err)
	}

	// A panicking contract: NEAR's message, typed error, state unchanged.
	// Deploy with an init call in the same transaction.
	p := chain.MustAccount(t, ctx, "panicker", 5)
	if _, err := p.DeployContract(ctx, examplecontracts.Panicker, "set", map[string]string{"key": "k", "value": "v"}, 0); err != nil {
		t.Fatal(err)
	}
	var v string
	if err := client.ViewFunction(ctx, p.AccountID(), "get", map[string]string{"key": "k"}, &v); err != nil || v != "v" {
		t.Fatalf("value set by the init call = %q (%v)", v, err)
	}
	_, err = root.CallFunction(ctx, p.AccountID(), "panic_msg", map[string]string{"message": "no way"}, 0, near.U128{})
	var txErr *near.TxExecutionError
	if !errors.As(err, &txErr) {
		t.Fatalf("panic: %v", err)
	}
	if msg, _ := txErr.ExecutionErrorMessage(); msg != "Smart contract panicked: no way" {
		t.Fatalf("panic message %q", msg)
	}
	// A view of a missing method: the legacy success-shaped error.
	if err := client.ViewFunction(ctx, counter.AccountID(), "no_such_method", nil, nil); !errors.Is(err, near.ErrContractExecution) {
		t.Fatalf("missing view method: %v", err)
	}
}

func nearAmount(t *testing.T, s string) near.U128 {
	t.Helper()
	v, err := near.ParseNEAR(s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestDevchainTimeoutThenStatus(t *testing.T) {
	ctx := context.Background()
	chain, client, root := startDevchain(t, devchain.Config{TxTimeout: 300 * time.Millisecond})
	y := chain.MustAccount(t, ctx, "yield", 10)
	if _, err := y.DeployContract(ctx, examplecontracts.YieldPair, "", nil, 0); err != nil {
		t.Fatal(err)
	}
	// start returns the yield promise, so the tx cannot finish until resumed:
	// the node times out and the SendError carries the hash to poll.
	_, err := root.CallFunction(ctx, y.AccountID(), "start", map[string]string{"tag": "t"}, 100*near.TGas, near.U128{})
	var se *near.SendError
	if !errors.Is(err, near.ErrTimeout) || !errors.As(err, &se) {
		t.Fatalf("pending yield: %v", err)
	}
	if err := client.SandboxFastForward(ctx, 205); err != nil {
		t.Fatal(err)
	}
	out, err := client.TxStatus(ctx, se.TxHash, root.AccountID(), near.TxFinal)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(out.Logs(), "\n"), "yield timed out") {
		t.Fatalf("logs %q", out.Logs())
	}
}

// TestDevchainJSONConformance fetches the devchain's raw JSON for every
// method the client wraps and checks that decoding it into this package's
// types and encoding it again loses nothing: every field the devchain sends is
// understood with the same value (the devchain builds its own view structs, so
// this is where the two could drift apart).
func TestDevchainJSONConformance(t *testing.T) {
	ctx := context.Background()
	chain, client, root := startDevchain(t, devchain.Config{})
	counter := chain.MustAccount(t, ctx, "counter", 20)
	if _, err := counter.DeployContract(ctx, examplecontracts.Counter, "", nil, 0); err != nil {
		t.Fatal(err)
	}
	out, err := root.CallFunction(ctx, counter.AccountID(), "increment", nil, 0, near.U128{})
	if err != nil {
		t.Fatal(err)
	}
	hash, _ := out.TxHash()
	fcKey, _ := near.GenerateKeyPair(nil)
	allowance := nearAmount(t, "0.25")
	if _, err := counter.AddKey(ctx, fcKey.PublicKey(), near.AccessKey{Permission: near.AccessKeyPermission{
		FunctionCall: &near.FunctionCallPermission{Allowance: &allowance, ReceiverID: counter.AccountID(), MethodNames: []string{"increment"}}}}); err != nil {
		t.Fatal(err)
	}
	blk, err := client.Block(ctx, near.AtHash(out.TransactionOutcome.BlockHash))
	if err != nil {
		t.Fatal(err)
	}
	q := func(typ string, extra map[string]any) map[string]any {
		p := map[string]any{"request_type": typ, "finality": "final", "account_id": counter.AccountID()}
		for k, v := range extra {
			p[k] = v
		}
		return p
	}
	txp := map[string]any{"tx_hash": hash, "sender_account_id": root.AccountID(), "wait_until": "FINAL"}
	// A failed transaction's outcome too.
	p := chain.MustAccount(t, ctx, "panicker", 5)
	if _, err := p.DeployContract(ctx, examplecontracts.Panicker, "", nil, 0); err != nil {
		t.Fatal(err)
	}
	failed, _ := root.CallFunction(ctx, p.AccountID(), "panic_msg", nil, 0, near.NewU128(1))
	if failed == nil || failed.Err() == nil {
		t.Fatal("panic_msg did not fail")
	}
	failedHash, _ := failed.TxHash()
	failedTx := map[string]any{"tx_hash": failedHash, "sender_account_id": root.AccountID(), "wait_until": "FINAL"}
	cases := []struct {
		method string
		params any
		into   any
	}{
		{"status", []any{}, &near.StatusResult{}},
		{"block", map[string]any{"block_id": blk.Header.Height}, &near.BlockView{}},
		{"chunk", map[string]any{"chunk_id": blk.Chunks[0].ChunkHash}, &near.ChunkView{}},
		{"gas_price", []any{nil}, &near.GasPriceResult{}},
		{"query", q("view_account", nil), &near.AccountView{}},
		{"query", q("view_code", nil), &near.ContractCodeView{}},
		{"query", q("view_access_key", map[string]any{"public_key": fcKey.PublicKey()}), &near.AccessKeyView{}},
		{"query", q("view_access_key_list", nil), &near.AccessKeyList{}},
		{"query", q("call_function", map[string]any{"method_name": "get_num", "args_base64": ""}), &near.CallResult{}},
		{"query", q("view_state", map[string]any{"prefix_base64": ""}), &near.ViewStateResult{}},
		{"tx", txp, &near.FinalExecutionOutcome{}},
		{"EXPERIMENTAL_tx_status", txp, &near.FinalExecutionOutcome{}},
		{"EXPERIMENTAL_tx_status", failedTx, &near.FinalExecutionOutcome{}},
	}
	for _, c := range cases {
		var raw json.RawMessage
		if err := client.Call(ctx, c.method, c.params, &raw); err != nil {
			t.Fatalf("%s: %v", c.method, err)
		}
		if err := json.Unmarshal(raw, c.into); err != nil {
			t.Errorf("%s: devchain JSON does not decode into %T: %v\n%s", c.method, c.into, err, raw)
			continue
		}
		again, err := json.Marshal(c.into)
		if err != nil {
			t.Errorf("%s: re-encoding %T: %v", c.method, c.into, err)
			continue
		}
		var want, got any
		_ = json.Unmarshal(raw, &want)
		_ = json.Unmarshal(again, &got)
		if path, ok := jsonSubset(want, got, c.method); !ok {
			t.Errorf("%s: field %s differs after decoding into %T\ndevchain: %s\nours:     %s", c.method, path, c.into, raw, again)
		}
	}
}

// TestDevchainErrorConformance: the devchain's error envelopes decode into
// RPCError without losing a field, with the right sentinel and HTTP status.
func TestDevchainErrorConformance(t *testing.T) {
	ctx := context.Background()
	chain, client, root := startDevchain(t, devchain.Config{})
	kp, _ := near.GenerateKeyPair(nil)
	// Signed by another key than the one it names: InvalidSignature.
	badSig := kp.SignTransaction(near.Transaction{SignerID: root.AccountID(), PublicKey: root.PublicKey(), Nonce: 1,
		ReceiverID: root.AccountID(), Actions: []near.Action{near.Transfer{Deposit: near.NewU128(1)}}})
	// After one transaction the root key's nonce is at least 1, so a
	// correctly signed (but different) nonce-1 transaction is stale.
	if _, err := root.Transfer(ctx, root.AccountID(), near.NewU128(1)); err != nil {
		t.Fatal(err)
	}
	rootAcct, rootKey, err := near.LoadKeyFile(chain.RootKeyFile())
	if err != nil {
		t.Fatal(err)
	}
	recent, err := client.RecentBlockHash(ctx)
	if err != nil {
		t.Fatal(err)
	}
	staleNonce := rootKey.SignTransaction(near.Transaction{SignerID: rootAcct, PublicKey: rootKey.PublicKey(), Nonce: 1,
		ReceiverID: rootAcct, BlockHash: recent, Actions: []near.Action{near.Transfer{Deposit: near.NewU128(2)}}})
	b64 := func(st *near.SignedTransaction) string { return base64.StdEncoding.EncodeToString(st.Bytes()) }
	cases := []struct {
		body     string
		sentinel error
		status   int
	}{
		{`{"jsonrpc":"2.0","id":1,"method":"query","params":{"request_type":"view_account","finality":"final","account_id":"nobody.test.near"}}`, near.ErrUnknownAccount, 200},
		{`{"jsonrpc":"2.0","id":1,"method":"no_such_method","params":[]}`, near.ErrMethodNotFound, 400},
		{`{"jsonrpc":"2.0","id":1,"method":"send_tx","params":{"signed_tx_base64":"` + b64(staleNonce) + `","wait_until":"FINAL"}}`, near.ErrInvalidTransaction, 200},
		{`{"jsonrpc":"2.0","id":1,"method":"send_tx","params":{"signed_tx_base64":"` + b64(badSig) + `","wait_until":"FINAL"}}`, near.ErrInvalidTransaction, 200},
		{`{"jsonrpc":"2.0","id":1,"method":"tx","params":{"tx_hash":"11111111111111111111111111111111","sender_account_id":"test.near","wait_until":"NONE"}}`, near.ErrUnknownTransaction, 200},
		{`{"jsonrpc":"2.0","id":1,"method":"block","params":{"block_id":999999}}`, near.ErrUnknownBlock, 200},
	}
	for _, c := range cases {
		res, err := http.Post(client.URL(), "application/json", strings.NewReader(c.body))
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(res.Body)
		res.Body.Close()
		var env struct {
			Error json.RawMessage `json:"error"`
		}
		if err := json.Unmarshal(raw, &env); err != nil || env.Error == nil {
			t.Errorf("%s: not an error response: %s", c.body[:60], raw)
			continue
		}
		var e near.RPCError
		if err := json.Unmarshal(env.Error, &e); err != nil {
			t.Errorf("decoding %s: %v", env.Error, err)
			continue
		}
		e.HTTPStatus = res.StatusCode
		again, _ := json.Marshal(&e)
		var want, got any
		_ = json.Unmarshal(env.Error, &want)
		_ = json.Unmarshal(again, &got)
		if path, ok := jsonSubset(want, got, "error"); !ok {
			t.Errorf("field %s lost:\ndevchain %s\nours     %s", path, env.Error, again)
		}
		if !errors.Is(&e, c.sentinel) || res.StatusCode != c.status {
			t.Errorf("%s: is %v? status %d (want %d)", env.Error, c.sentinel, res.StatusCode, c.status)
		}
	}
	// The stale nonce carries ak_nonce in data, as the signer needs.
	_, err = client.SendTx(ctx, staleNonce, near.TxFinal)
	var txErr *near.TxExecutionError
	if !errors.As(err, &txErr) {
		t.Fatalf("stale nonce: %v", err)
	}
	if tn, ak, ok := txErr.InvalidNonce(); !ok || tn != 1 || ak < 1 {
		t.Fatalf("InvalidNonce %d %d %v from %v", tn, ak, ok, err)
	}
}

// jsonSubset reports whether every field of want is in got with the same value.
func jsonSubset(want, got any, path string) (string, bool) {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return path, false
		}
		for k, wv := range w {
			gv, present := g[k]
			if !present {
				// omitempty on our side may drop a field sent as null/[]/"".
				if wv == nil || isEmptyJSON(wv) {
					continue
				}
				return path + "." + k, false
			}
			if p, ok := jsonSubset(wv, gv, path+"."+k); !ok {
				return p, false
			}
		}
		return "", true
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return path, false
		}
		for i := range w {
			if p, ok := jsonSubset(w[i], g[i], fmt.Sprintf("%s[%d]", path, i)); !ok {
				return p, false
			}
		}
		return "", true
	}
	return path, reflect.DeepEqual(want, got)
}

func isEmptyJSON(v any) bool {
	switch x := v.(type) {
	case []any:
		return len(x) == 0
	case string:
		return x == ""
	case map[string]any:
		return len(x) == 0
	case bool:
		return !x
	case float64:
		return x == 0
	}
	return false
}
