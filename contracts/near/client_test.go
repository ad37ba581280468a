package near

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeNode is an httptest JSON-RPC server that behaves like a NEAR node for
// one access key: it checks signatures, block hashes and nonces of real
// signed transactions, and answers with nearcore's JSON shapes. Individual
// methods can be overridden with canned responses.
type fakeNode struct {
	t         *testing.T
	srv       *httptest.Server
	blockHash CryptoHash

	mu       sync.Mutex
	akNonce  map[PublicKey]uint64
	accepted []*SignedTransaction
	calls    map[string]int
	override map[string]func(params json.RawMessage) (int, string)
}

func newFakeNode(t *testing.T) *fakeNode {
	f := &fakeNode{t: t, blockHash: HashBytes([]byte("head")), akNonce: map[PublicKey]uint64{},
		calls: map[string]int{}, override: map[string]func(json.RawMessage) (int, string){}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeNode) client(opts ...ClientOption) *Client {
	return NewClient(f.srv.URL, append([]ClientOption{WithRetries(3, time.Millisecond)}, opts...)...)
}

func (f *fakeNode) setOverride(method string, h func(json.RawMessage) (int, string)) {
	f.mu.Lock()
	f.override[method] = h
	f.mu.Unlock()
}

func (f *fakeNode) callCount(method string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[method]
}

func (f *fakeNode) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var req Request
	if err := json.Unmarshal(body, &req); err != nil {
		f.reply(w, req.ID, http.StatusBadRequest, nil, NewParseError(err.Error()))
		return
	}
	f.mu.Lock()
	f.calls[req.Method]++
	h := f.override[req.Method]
	f.mu.Unlock()
	if h != nil {
		status, s := h(req.Params)
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,%s}`, req.ID, s)
		return
	}
	switch req.Method {
	case "block":
		var b BlockView
		if err := json.Unmarshal([]byte(sampleBlock), &b); err != nil {
			f.t.Error(err)
		}
		b.Header.Hash = f.blockHash
		f.reply(w, req.ID, 200, b, nil)
	case "query":
		var p struct {
			RequestType string    `json:"request_type"`
			AccountID   string    `json:"account_id"`
			PublicKey   PublicKey `json:"public_key"`
			Finality    string    `json:"finality"`
		}
		if err := json.Unmarshal(req.Params, &p); err != nil {
			f.reply(w, req.ID, 400, nil, NewParseError(err.Error()))
			return
		}
		if p.RequestType != "view_access_key" {
			f.reply(w, req.ID, 400, nil, NewParseError("unexpected request type "+p.RequestType))
			return
		}
		f.mu.Lock()
		n, ok := f.akNonce[p.PublicKey]
		f.mu.Unlock()
		if !ok {
			f.reply(w, req.ID, 200, QueryErrorResult{Error: "access key " + p.PublicKey.String() + " does not exist while viewing", Logs: []string{}}, nil)
			return
		}
		f.reply(w, req.ID, 200, AccessKeyView{AccessKey: AccessKey{Nonce: n}, QueryResultHeader: QueryResultHeader{BlockHeight: 17, BlockHash: f.blockHash}}, nil)
	case "send_tx":
		var p struct {
			SignedTx  string            `json:"signed_tx_base64"`
			WaitUntil TxExecutionStatus `json:"wait_until"`
		}
		_ = json.Unmarshal(req.Params, &p)
		raw, err := base64.StdEncoding.DecodeString(p.SignedTx)
		if err != nil {
			f.reply(w, req.ID, 400, nil, NewParseError(err.Error()))
			return
		}
		st, err := DecodeSignedTransaction(raw)
		if err != nil {
			f.reply(w, req.ID, 400, nil, NewParseError(err.Error()))
			return
		}
		if err := st.Verify(); err != nil {
			f.reply(w, req.ID, 200, nil, NewInvalidTransactionError(NewInvalidTxError(UnitVariant("InvalidSignature"))))
			return
		}
		if st.Transaction.BlockHash != f.blockHash {
			f.reply(w, req.ID, 200, nil, NewInvalidTransactionError(NewInvalidTxError(UnitVariant("Expired"))))
			return
		}
		f.mu.Lock()
		ak := f.akNonce[st.Transaction.PublicKey]
		if st.Transaction.Nonce <= ak {
			f.mu.Unlock()
			f.reply(w, req.ID, 200, nil, NewInvalidTransactionError(InvalidNonceError(st.Transaction.Nonce, ak)))
			return
		}
		f.akNonce[st.Transaction.PublicKey] = st.Transaction.Nonce
		f.accepted = append(f.accepted, st)
		f.mu.Unlock()
		f.reply(w, req.ID, 200, f.outcome(st, p.WaitUntil), nil)
	default:
		f.reply(w, req.ID, 400, nil, NewMethodNotFoundError(req.Method))
	}
}

// outcome echoes a function call's args as its return value and logs the
// method name; a method named "panic" fails like a panicking contract.
func (f *fakeNode) outcome(st *SignedTransaction, level TxExecutionStatus) FinalExecutionOutcome {
	tv := NewSignedTransactionView(st)
	receipt := HashBytes(append(st.Hash().Bytes(), 1))
	status := SuccessValue(nil)
	var logs []string
	if fc, ok := st.Transaction.Actions[0].(FunctionCall); ok {
		logs = []string{"called " + fc.MethodName}
		status = SuccessValue(fc.Args)
		if fc.MethodName == "panic" {
			status = Failure(FunctionCallExecutionError(0, "Smart contract panicked: boom"))
		}
	}
	return FinalExecutionOutcome{
		FinalExecutionStatus: level, Status: &status, Transaction: &tv,
		TransactionOutcome: &ExecutionOutcomeWithIDView{ID: st.Hash(), BlockHash: f.blockHash, Outcome: ExecutionOutcomeView{
			ExecutorID: st.Transaction.SignerID, ReceiptIDs: []CryptoHash{receipt}, Status: SuccessReceiptID(receipt), GasBurnt: 1}},
		ReceiptsOutcome: []ExecutionOutcomeWithIDView{{ID: receipt, BlockHash: f.blockHash, Outcome: ExecutionOutcomeView{
			ExecutorID: st.Transaction.ReceiverID, Logs: logs, Status: status, GasBurnt: 2}}},
	}
}

func (f *fakeNode) reply(w http.ResponseWriter, id json.RawMessage, status int, result any, rpcErr *RPCError) {
	resp := Response{JSONRPC: "2.0", ID: id, Error: rpcErr}
	if rpcErr == nil {
		b, err := json.Marshal(result)
		if err != nil {
			f.t.Error(err)
		}
		resp.Result = b
	}
	w.WriteHeader(status)
	if err := json.NewEncoder(w).Encode(resp); err != nil {
		f.t.Error(err)
	}
}

func TestClientQueriesAndErrorShapes(t *testing.T) {
	ctx := context.Background()
	f := newFakeNode(t)
	c := f.client()

	f.setOverride("query", func(p json.RawMessage) (int, string) {
		var q map[string]any
		_ = json.Unmarshal(p, &q)
		switch q["request_type"] {
		case "view_account":
			if q["finality"] != "final" {
				return 200, `"result":{"error":"wrong finality"}`
			}
			if q["account_id"] == "a.near" {
				return 200, `"error":{"name":"HANDLER_ERROR","cause":{"name":"UNKNOWN_ACCOUNT","info":{"requested_account_id":"a.near","block_height":1,"block_hash":"11111111111111111111111111111111"}},"code":-32000,"message":"Server error","data":"account a.near does not exist while viewing"}`
			}
			return 200, `"result":{"amount":"1500000000000000000000000","locked":"0","code_hash":"11111111111111111111111111111111","storage_usage":182,"storage_paid_at":0,"block_height":5,"block_hash":"11111111111111111111111111111111"}`
		case "call_function":
			args, _ := base64.StdEncoding.DecodeString(q["args_base64"].(string))
			if q["method_name"] == "missing" {
				return 200, `"result":{"error":"wasm execution failed with error: MethodResolveError(MethodNotFound)","logs":[],"block_height":5,"block_hash":"11111111111111111111111111111111"}`
			}
			res, _ := json.Marshal(ByteArray(args))
			return 200, `"result":{"result":` + string(res) + `,"logs":["viewed"],"block_height":5,"block_hash":"11111111111111111111111111111111"}`
		}
		return 400, `"error":{"name":"REQUEST_VALIDATION_ERROR","cause":{"name":"PARSE_ERROR","info":{"error_message":"unknown request type"}},"code":-32700,"message":"Parse error","data":"unknown request type"}`
	})

	acct, err := c.ViewAccount(ctx, "b.near", BlockReference{})
	if err != nil {
		t.Fatal(err)
	}
	if FormatNEAR(acct.Amount) != "1.5" || acct.StorageUsage != 182 || acct.BlockHeight != 5 {
		t.Fatalf("%+v", acct)
	}

	_, err = c.ViewAccount(ctx, "a.near", BlockReference{})
	var rpcErr *RPCError
	if !errors.Is(err, ErrUnknownAccount) || !errors.As(err, &rpcErr) || rpcErr.HTTPStatus != 200 || rpcErr.IsRequestValidation() {
		t.Fatalf("unknown account: %v", err)
	}
	if !strings.Contains(err.Error(), "account a.near does not exist while viewing") {
		t.Fatalf("message lost: %v", err)
	}

	var got map[string]int
	if err := c.ViewFunction(ctx, "c.near", "get", map[string]int{"x": 3}, &got); err != nil || got["x"] != 3 {
		t.Fatalf("view function: %v %v", got, err)
	}
	err = c.ViewFunction(ctx, "c.near", "missing", nil, nil)
	var qe *QueryError
	if !errors.Is(err, ErrContractExecution) || !errors.As(err, &qe) || !strings.Contains(qe.Message, "MethodNotFound") {
		t.Fatalf("legacy call_function error: %v", err)
	}

	_, err = c.ViewState(ctx, "c.near", nil, BlockReference{})
	if !errors.As(err, &rpcErr) || !rpcErr.IsRequestValidation() || rpcErr.HTTPStatus != 400 || !errors.Is(err, ErrParse) {
		t.Fatalf("request validation error: %v", err)
	}

	// Legacy success-shaped missing access key.
	kp := testKey(t, 1)
	f.setOverride("query", nil)
	_, err = c.ViewAccessKey(ctx, "b.near", kp.PublicKey(), Final())
	if !errors.Is(err, ErrUnknownAccessKey) {
		t.Fatalf("missing key: %v", err)
	}
	// And the modern error shape for the same thing.
	f.setOverride("query", func(json.RawMessage) (int, string) {
		return 200, `"error":{"name":"HANDLER_ERROR","cause":{"name":"UNKNOWN_ACCESS_KEY","info":{"public_key":"` + kp.PublicKey().String() + `","block_height":1,"block_hash":"11111111111111111111111111111111"}},"code":-32000,"message":"Server error","data":"access key does not exist"}`
	})
	if _, err = c.ViewAccessKey(ctx, "b.near", kp.PublicKey(), Final()); !errors.Is(err, ErrUnknownAccessKey) {
		t.Fatalf("missing key (modern shape): %v", err)
	}

	// Method not found is a request validation error, not retried.
	err = c.Call(ctx, "no_such_method", nil, nil)
	if !errors.Is(err, ErrMethodNotFound) || f.callCount("no_such_method") != 1 {
		t.Fatalf("method not found: %v (calls %d)", err, f.callCount("no_such_method"))
	}
}

func TestSignerSendsAndDecodesOutcome(t *testing.T) {
	ctx := context.Background()
	f := newFakeNode(t)
	kp := testKey(t, 2)
	f.akNonce[kp.PublicKey()] = 1000
	s, err := NewSigner(f.client(), "alice.test.near", kp)
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.CallFunction(ctx, "counter.test.near", "inc", map[string]int{"by": 2}, 0, U128{})
	if err != nil {
		t.Fatal(err)
	}
	var ret map[string]int
	if err := out.DecodeResult(&ret); err != nil || ret["by"] != 2 {
		t.Fatalf("result %v %v", ret, err)
	}
	if logs := out.Logs(); len(logs) != 1 || logs[0] != "called inc" {
		t.Fatalf("logs %q", logs)
	}
	if f.accepted[0].Transaction.Nonce != 1001 || f.accepted[0].Transaction.Actions[0].(FunctionCall).Gas != DefaultFunctionCallGas {
		t.Fatalf("sent %+v", f.accepted[0].Transaction)
	}

	// A panicking contract: typed error with NEAR's message, outcome still returned for logs.
	out, err = s.CallFunction(ctx, "counter.test.near", "panic", nil, 5*TGas, NewU128(1))
	var txErr *TxExecutionError
	if !errors.As(err, &txErr) || !strings.Contains(err.Error(), "Smart contract panicked: boom") || out == nil {
		t.Fatalf("panic: %v", err)
	}
	if len(out.ReceiptFailures()) != 1 {
		t.Fatal("receipt failure not listed")
	}

	// Someone else used the key: the node reports InvalidNonce, the signer
	// takes ak_nonce from the error and re-signs.
	f.mu.Lock()
	f.akNonce[kp.PublicKey()] = 5000
	f.mu.Unlock()
	if _, err := s.Transfer(ctx, "bob.test.near", OneNEAR); err != nil {
		t.Fatal(err)
	}
	last := f.accepted[len(f.accepted)-1]
	if last.Transaction.Nonce != 5001 {
		t.Fatalf("nonce after InvalidNonce = %d, want 5001", last.Transaction.Nonce)
	}
	if f.callCount("query") != 1 {
		t.Fatalf("nonce fetched %d times, want once", f.callCount("query"))
	}

	// The local counter ran ahead of the chain (a reset devchain): NonceTooLarge
	// makes the signer read the key's nonce again.
	f.mu.Lock()
	f.akNonce[kp.PublicKey()] = 10
	f.mu.Unlock()
	f.setOverride("send_tx", func(p json.RawMessage) (int, string) {
		f.setOverride("send_tx", nil) // once
		return 200, `"error":{"name":"HANDLER_ERROR","cause":{"name":"INVALID_TRANSACTION","info":{}},"code":-32000,"message":"Server error","data":{"TxExecutionError":{"InvalidTxError":{"NonceTooLarge":{"tx_nonce":5002,"upper_bound":3000}}}}}`
	})
	if _, err := s.Transfer(ctx, "bob.test.near", OneNEAR); err != nil {
		t.Fatal(err)
	}
	if last := f.accepted[len(f.accepted)-1]; last.Transaction.Nonce != 11 || f.callCount("query") != 2 {
		t.Fatalf("after NonceTooLarge: nonce %d, %d nonce reads", last.Transaction.Nonce, f.callCount("query"))
	}

	// Expired block hash: the cached hash is dropped and the tx re-signed.
	f.mu.Lock()
	f.blockHash = HashBytes([]byte("new head"))
	f.mu.Unlock()
	if _, err := s.CreateAccount(ctx, "new.alice.test.near", testKey(t, 3).PublicKey(), OneNEAR); err != nil {
		t.Fatal(err)
	}
	last = f.accepted[len(f.accepted)-1]
	if len(last.Transaction.Actions) != 3 || last.Transaction.BlockHash != f.blockHash {
		t.Fatalf("create account tx %+v", last.Transaction)
	}
}

func TestSignerConcurrentNonces(t *testing.T) {
	ctx := context.Background()
	f := newFakeNode(t)
	kp := testKey(t, 4)
	f.akNonce[kp.PublicKey()] = 7
	c := f.client()
	// The fake rejects every nonce not above the last accepted one, which is
	// stricter than nearcore (its pool orders a key's transactions by
	// nonce), so senders overtaking each other exercise the InvalidNonce
	// retry. Two signers for the same key on one client share the counter.
	s1, _ := NewSigner(c, "alice.test.near", kp)
	s2, _ := NewSigner(c, "alice.test.near", kp, WithWaitUntil(TxExecutedOptimistic))
	const n = 40
	var wg sync.WaitGroup
	var failures atomic.Int32
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := s1
			if i%2 == 1 {
				s = s2
			}
			if _, err := s.Transfer(ctx, "bob.test.near", NewU128(uint64(i))); err != nil {
				t.Error(err)
				failures.Add(1)
			}
		}()
	}
	wg.Wait()
	if failures.Load() != 0 {
		t.FailNow()
	}
	seen := map[uint64]bool{}
	for _, st := range f.accepted {
		if seen[st.Transaction.Nonce] {
			t.Fatalf("nonce %d used twice", st.Transaction.Nonce)
		}
		seen[st.Transaction.Nonce] = true
	}
	if len(f.accepted) != n {
		t.Fatalf("%d accepted, want %d", len(f.accepted), n)
	}
}

func TestClientTimeoutAndTransientRetries(t *testing.T) {
	ctx := context.Background()
	f := newFakeNode(t)
	kp := testKey(t, 5)
	f.akNonce[kp.PublicKey()] = 0
	s, _ := NewSigner(f.client(), "alice.test.near", kp)

	// 408 TIMEOUT_ERROR: not retried, surfaced with the tx hash.
	f.setOverride("send_tx", func(json.RawMessage) (int, string) {
		return 408, `"error":{"name":"HANDLER_ERROR","cause":{"name":"TIMEOUT_ERROR","info":{}},"code":-32000,"message":"Server error","data":"Timeout"}`
	})
	_, err := s.Transfer(ctx, "bob.test.near", NewU128(1))
	var se *SendError
	var rpcErr *RPCError
	if !errors.Is(err, ErrTimeout) || !errors.As(err, &se) || se.TxHash.IsZero() || !errors.As(err, &rpcErr) || rpcErr.HTTPStatus != 408 {
		t.Fatalf("timeout: %v", err)
	}
	if f.callCount("send_tx") != 1 {
		t.Fatalf("timeout retried: %d calls", f.callCount("send_tx"))
	}

	// A dropped connection and a proxy 503 are retried; the third attempt works.
	var attempts atomic.Int32
	flaky := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch attempts.Add(1) {
		case 1:
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
		case 2:
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, "<html>upstream unavailable</html>")
		default:
			io.WriteString(w, `{"jsonrpc":"2.0","id":1,"result":{"gas_price":"100000000"}}`)
		}
	}))
	defer flaky.Close()
	price, err := NewClient(flaky.URL, WithRetries(3, time.Millisecond)).GasPrice(ctx, nil)
	if err != nil || price != NewU128(100000000) || attempts.Load() != 3 {
		t.Fatalf("gas price %v err %v attempts %d", price, err, attempts.Load())
	}

	// A 500 with a JSON-RPC body is the node's answer: not retried.
	f.setOverride("gas_price", func(json.RawMessage) (int, string) {
		return 500, `"error":{"name":"INTERNAL_ERROR","cause":{"name":"INTERNAL_ERROR","info":{"error_message":"db"}},"code":-32000,"message":"Server error","data":"db"}`
	})
	if _, err := f.client().GasPrice(ctx, BlockHeight(3)); !errors.Is(err, ErrInternal) || f.callCount("gas_price") != 1 {
		t.Fatalf("internal error: %v (%d calls)", err, f.callCount("gas_price"))
	}

	// A cancelled context stops at once.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := f.client().Status(cctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}

func TestClientRequestShapes(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	var got []Request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req Request
		_ = json.NewDecoder(r.Body).Decode(&req)
		mu.Lock()
		got = append(got, req)
		mu.Unlock()
		result := `{}`
		switch req.Method {
		case "broadcast_tx_async":
			result = `"4GXvjMFN6wSxnU9jEVT8HbXP5Yk6yELX9faRSKp6n9fX"`
		case "send_tx", "tx", "EXPERIMENTAL_tx_status", "broadcast_tx_commit":
			result = `{"final_execution_status":"NONE"}`
		case "status":
			result = `{"chain_id":"localnet","sync_info":{"latest_block_height":9}}`
		}
		fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"result":%s}`, req.ID, result)
	}))
	defer srv.Close()
	c := NewClient(srv.URL)
	kp := testKey(t, 6)
	st := kp.SignTransaction(Transaction{SignerID: "a.near", PublicKey: kp.PublicKey(), Nonce: 1, ReceiverID: "b.near", Actions: []Action{CreateAccount{}}})
	h, err := c.BroadcastTxAsync(ctx, st)
	if err != nil || h.String() != "4GXvjMFN6wSxnU9jEVT8HbXP5Yk6yELX9faRSKp6n9fX" {
		t.Fatal(h, err)
	}
	if o, err := c.SendTx(ctx, st, TxNone); err != nil || o.FinalExecutionStatus != TxNone || o.Status != nil {
		t.Fatal(o, err)
	}
	if _, err := c.TxStatusWithReceipts(ctx, st.Hash(), "a.near", TxFinal); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Block(ctx, AtHeight(12)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ChunkByBlock(ctx, *BlockHash(st.Hash()), 0); err != nil {
		t.Fatal(err)
	}
	if s, err := c.Status(ctx); err != nil || s.SyncInfo.LatestBlockHeight != 9 {
		t.Fatal(s, err)
	}
	if err := c.SandboxFastForward(ctx, 200); err != nil {
		t.Fatal(err)
	}
	want := []string{
		`["` + base64.StdEncoding.EncodeToString(st.Bytes()) + `"]`,
		`{"signed_tx_base64":"` + base64.StdEncoding.EncodeToString(st.Bytes()) + `","wait_until":"NONE"}`,
		`{"sender_account_id":"a.near","tx_hash":"` + st.Hash().String() + `","wait_until":"FINAL"}`,
		`{"block_id":12}`,
		`{"block_id":"` + st.Hash().String() + `","shard_id":0}`,
		`[]`,
		`{"delta_height":200}`,
	}
	for i, w := range want {
		if string(got[i].Params) != w {
			t.Errorf("%s params = %s, want %s", got[i].Method, got[i].Params, w)
		}
		if got[i].JSONRPC != "2.0" || len(got[i].ID) == 0 {
			t.Errorf("bad envelope %+v", got[i])
		}
	}
}
