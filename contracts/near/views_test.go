package near

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

// roundTrip unmarshals sample into a fresh *T, marshals it back and requires
// the same JSON (compared as generic values, so key order does not matter).
func roundTrip[T any](t *testing.T, sample string) *T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(sample), &v); err != nil {
		t.Fatalf("unmarshal %T: %v", v, err)
	}
	out, err := json.Marshal(&v)
	if err != nil {
		t.Fatalf("marshal %T: %v", v, err)
	}
	var want, got any
	if err := json.Unmarshal([]byte(sample), &want); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(want, got) {
		t.Fatalf("%T does not round-trip:\n in: %s\nout: %s", v, sample, out)
	}
	return &v
}

const sampleKey = "ed25519:22skMptHjFWNyuEWY22ftn2AbLPSYpmYwGJRGwpNHbTV"

const sampleOutcome = `{
  "final_execution_status": "FINAL",
  "status": {"SuccessValue": "eyJvayI6dHJ1ZX0="},
  "transaction": {
    "signer_id": "alice.test.near", "public_key": "` + sampleKey + `", "nonce": 7, "receiver_id": "counter.test.near",
    "actions": ["CreateAccount",
      {"DeployContract": {"code": "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="}},
      {"FunctionCall": {"method_name": "inc", "args": "e30=", "gas": 30000000000000, "deposit": "0"}},
      {"Transfer": {"deposit": "1000000000000000000000000"}},
      {"AddKey": {"public_key": "` + sampleKey + `", "access_key": {"nonce": 0, "permission": {"FunctionCall": {"allowance": null, "receiver_id": "zzz", "method_names": ["www"]}}}}},
      {"AddKey": {"public_key": "` + sampleKey + `", "access_key": {"nonce": 0, "permission": "FullAccess"}}},
      {"DeleteKey": {"public_key": "` + sampleKey + `"}},
      {"DeleteAccount": {"beneficiary_id": "bob.near"}},
      {"Stake": {"stake": "5", "public_key": "` + sampleKey + `"}},
      {"DeployGlobalContract": {"code": "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="}},
      {"DeployGlobalContractByAccountId": {"code": "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="}},
      {"UseGlobalContract": {"code_hash": "4GXvjMFN6wSxnU9jEVT8HbXP5Yk6yELX9faRSKp6n9fX"}},
      {"UseGlobalContractByAccountId": {"account_id": "g.near"}},
      {"SomethingNew": {"x": 1}}],
    "priority_fee": 0,
    "signature": "ed25519:3s1dvZdQtcAjBksMHFrysqvF63wnyMHPA4owNQmCJZ2EBakZEKdtMsLqrHdKWQjJbSRN6kRknN2WdwSBLWGCokXj",
    "hash": "4GXvjMFN6wSxnU9jEVT8HbXP5Yk6yELX9faRSKp6n9fX"
  },
  "transaction_outcome": {
    "proof": [{"hash": "11111111111111111111111111111111", "direction": "Right"}],
    "block_hash": "4GXvjMFN6wSxnU9jEVT8HbXP5Yk6yELX9faRSKp6n9fX",
    "id": "4GXvjMFN6wSxnU9jEVT8HbXP5Yk6yELX9faRSKp6n9fX",
    "outcome": {"logs": [], "receipt_ids": ["11111111111111111111111111111111"], "gas_burnt": 223182562500,
      "tokens_burnt": "22318256250000000000", "executor_id": "alice.test.near",
      "status": {"SuccessReceiptId": "11111111111111111111111111111111"},
      "metadata": {"version": 1, "gas_profile": null}}
  },
  "receipts_outcome": [
    {"proof": [], "block_hash": "11111111111111111111111111111111", "id": "11111111111111111111111111111111",
     "outcome": {"logs": ["EVENT_JSON:{\"standard\":\"x\",\"version\":\"1\",\"event\":\"e\"}"], "receipt_ids": [],
      "gas_burnt": 5, "tokens_burnt": "0", "executor_id": "counter.test.near",
      "status": {"Failure": {"ActionError": {"index": 0, "kind": {"FunctionCallError": {"ExecutionError": "Smart contract panicked: boom"}}}}},
      "metadata": {"version": 3, "gas_profile": [{"cost_category": "WASM_HOST_COST", "cost": "BASE", "gas_used": "2647681110"}]}}},
    {"proof": [], "block_hash": "11111111111111111111111111111111", "id": "11111111111111111111111111111111",
     "outcome": {"logs": [], "receipt_ids": [], "gas_burnt": 0, "tokens_burnt": "0", "executor_id": "alice.test.near",
      "status": "Unknown", "metadata": {"version": 3, "gas_profile": []}}}
  ],
  "receipts": [
    {"predecessor_id": "alice.test.near", "receiver_id": "counter.test.near", "receipt_id": "11111111111111111111111111111111", "priority": 0,
     "receipt": {"Action": {"signer_id": "alice.test.near", "signer_public_key": "` + sampleKey + `", "gas_price": "100000000",
       "output_data_receivers": [{"data_id": "11111111111111111111111111111111", "receiver_id": "x.near"}], "input_data_ids": [],
       "actions": [{"FunctionCall": {"method_name": "inc", "args": "", "gas": 1, "deposit": "0"}}], "is_promise_yield": false}}},
    {"predecessor_id": "system", "receiver_id": "alice.test.near", "receipt_id": "11111111111111111111111111111111", "priority": 0,
     "receipt": {"Data": {"data_id": "11111111111111111111111111111111", "data": null, "is_promise_resume": true}}},
    {"predecessor_id": "system", "receiver_id": "alice.test.near", "receipt_id": "11111111111111111111111111111111", "priority": 0,
     "receipt": {"Data": {"data_id": "11111111111111111111111111111111", "data": "", "is_promise_resume": false}}}
  ]
}`

func TestFinalExecutionOutcomeJSON(t *testing.T) {
	o := roundTrip[FinalExecutionOutcome](t, sampleOutcome)
	if string(o.Status.Value) != `{"ok":true}` {
		t.Fatalf("SuccessValue = %q", o.Status.Value)
	}
	fail := o.ReceiptsOutcome[0].Outcome.Status.Failure
	if msg, ok := fail.ExecutionErrorMessage(); !ok || msg != "Smart contract panicked: boom" {
		t.Fatalf("execution error message = %q %v", msg, ok)
	}
	if fail.Kind() != "ExecutionError" || fail.Error() != "action #0 failed: Smart contract panicked: boom" {
		t.Fatalf("kind %q error %q", fail.Kind(), fail.Error())
	}
	if fc, ok := o.Transaction.Actions[2].Action.(FunctionCall); !ok || string(fc.Args) != "{}" || fc.Gas != 30_000_000_000_000 {
		t.Fatalf("function call view decoded as %#v", o.Transaction.Actions[2].Action)
	}
	if d := o.Receipts[1].Receipt.Data; d.Data != nil {
		t.Fatal("null data must decode as nil (None)")
	}
	if d := o.Receipts[2].Receipt.Data; d.Data == nil {
		t.Fatal(`"" data must decode as empty Some`)
	}
}

func TestNoneOutcomeJSON(t *testing.T) {
	o := roundTrip[FinalExecutionOutcome](t, `{"final_execution_status":"NONE"}`)
	if o.Status != nil || o.FinalExecutionStatus != TxNone {
		t.Fatalf("%+v", o)
	}
	roundTrip[FinalExecutionOutcome](t, `{"final_execution_status":"EXECUTED","status":"Started"}`)
}

func TestNewViewsMarshalEmptyListsAsArrays(t *testing.T) {
	kp := testKey(t, 3)
	st := kp.SignTransaction(Transaction{SignerID: "a.near", PublicKey: kp.PublicKey(), Nonce: 1, ReceiverID: "b.near",
		Actions: []Action{DeployContract{Code: []byte("abc")}, FunctionCall{MethodName: "m", Gas: 1}}})
	o := ExecutionOutcomeWithIDView{Outcome: ExecutionOutcomeView{ExecutorID: "a.near", Status: SuccessValue(nil)}}
	b, err := json.Marshal(struct {
		T SignedTransactionView      `json:"t"`
		O ExecutionOutcomeWithIDView `json:"o"`
	}{NewSignedTransactionView(st), o})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"t":{"signer_id":"a.near","public_key":"` + kp.PublicKey().String() + `","nonce":1,"receiver_id":"b.near",` +
		`"actions":[{"DeployContract":{"code":"ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="}},` +
		`{"FunctionCall":{"method_name":"m","args":"","gas":1,"deposit":"0"}}],"priority_fee":0,"signature":"` + st.Signature.String() +
		`","hash":"` + st.Hash().String() + `"},"o":{"proof":[],"block_hash":"11111111111111111111111111111111",` +
		`"id":"11111111111111111111111111111111","outcome":{"logs":[],"receipt_ids":[],"gas_burnt":0,"tokens_burnt":"0",` +
		`"executor_id":"a.near","status":{"SuccessValue":""},"metadata":{"version":0,"gas_profile":null}}}}`
	if string(b) != want {
		t.Fatalf("got\n%s\nwant\n%s", b, want)
	}
}

func TestDelegateActionViewRoundTrip(t *testing.T) {
	kp := testKey(t, 4)
	d := kp.SignDelegateAction(DelegateAction{SenderID: "a.near", ReceiverID: "b.near", Nonce: 1, MaxBlockHeight: 9,
		PublicKey: kp.PublicKey(), Actions: []Action{Transfer{Deposit: NewU128(3)}}})
	b, err := json.Marshal(NewActionView(d))
	if err != nil {
		t.Fatal(err)
	}
	var back ActionView
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Action, d) {
		t.Fatalf("got %#v want %#v", back.Action, d)
	}
	roundTrip[ActionView](t, string(b))
}

const sampleBlock = `{"author":"test.near","header":{"height":17,"prev_height":16,"epoch_id":"11111111111111111111111111111111",
"next_epoch_id":"11111111111111111111111111111111","hash":"4GXvjMFN6wSxnU9jEVT8HbXP5Yk6yELX9faRSKp6n9fX",
"prev_hash":"11111111111111111111111111111111","prev_state_root":"11111111111111111111111111111111",
"block_body_hash":"11111111111111111111111111111111","chunk_receipts_root":"11111111111111111111111111111111",
"chunk_headers_root":"11111111111111111111111111111111","chunk_tx_root":"11111111111111111111111111111111",
"outcome_root":"11111111111111111111111111111111","chunks_included":1,"challenges_root":"11111111111111111111111111111111",
"timestamp":1700000000000000000,"timestamp_nanosec":"1700000000000000000","random_value":"11111111111111111111111111111111",
"validator_proposals":[],"chunk_mask":[true],"gas_price":"100000000","block_ordinal":17,"rent_paid":"0","validator_reward":"0",
"total_supply":"2000000000000000000000000000000000","challenges_result":[],"last_final_block":"11111111111111111111111111111111",
"last_ds_final_block":"11111111111111111111111111111111","next_bp_hash":"11111111111111111111111111111111",
"block_merkle_root":"11111111111111111111111111111111","epoch_sync_data_hash":null,"approvals":[null],
"signature":"ed25519:3s1dvZdQtcAjBksMHFrysqvF63wnyMHPA4owNQmCJZ2EBakZEKdtMsLqrHdKWQjJbSRN6kRknN2WdwSBLWGCokXj","latest_protocol_version":86},
"chunks":[{"chunk_hash":"11111111111111111111111111111111","prev_block_hash":"11111111111111111111111111111111",
"outcome_root":"11111111111111111111111111111111","prev_state_root":"11111111111111111111111111111111",
"encoded_merkle_root":"11111111111111111111111111111111","encoded_length":8,"height_created":17,"height_included":17,
"shard_id":0,"gas_used":0,"gas_limit":1000000000000000,"rent_paid":"0","validator_reward":"0","balance_burnt":"0",
"outgoing_receipts_root":"11111111111111111111111111111111","tx_root":"11111111111111111111111111111111",
"validator_proposals":[],"congestion_info":{"allowed_shard":0},"signature":"ed25519:3s1dvZdQtcAjBksMHFrysqvF63wnyMHPA4owNQmCJZ2EBakZEKdtMsLqrHdKWQjJbSRN6kRknN2WdwSBLWGCokXj"}]}`

func TestBlockAndQueryJSON(t *testing.T) {
	b := roundTrip[BlockView](t, sampleBlock)
	if b.Header.Height != 17 || b.Header.TotalSupply.String() != "2000000000000000000000000000000000" {
		t.Fatalf("%+v", b.Header)
	}
	roundTrip[AccountView](t, `{"amount":"399992611103597728750000000","locked":"0","code_hash":"11111111111111111111111111111111","storage_usage":182,"storage_paid_at":0,"block_height":17,"block_hash":"11111111111111111111111111111111"}`)
	ak := roundTrip[AccessKeyView](t, `{"nonce":85,"permission":{"FunctionCall":{"allowance":"18501534631167209000000000","receiver_id":"client.chainlink.testnet","method_names":["get_token_price"]}},"block_height":19884918,"block_hash":"GGJQ8yjmo7aEoj8ZpAhGehnq9BSWFx4xswHYzDwwAP2n"}`)
	if ak.Permission.FunctionCall.Allowance.String() != "18501534631167209000000000" || ak.Nonce != 85 {
		t.Fatalf("%+v", ak)
	}
	l := roundTrip[AccessKeyList](t, `{"keys":[{"public_key":"`+sampleKey+`","access_key":{"nonce":1,"permission":"FullAccess"}}],"block_height":1,"block_hash":"11111111111111111111111111111111"}`)
	if !l.Keys[0].AccessKey.Permission.IsFullAccess() {
		t.Fatal("FullAccess lost")
	}
	c := roundTrip[CallResult](t, `{"result":[123,34,99,34,58,49,125],"logs":["hi"],"block_height":1,"block_hash":"11111111111111111111111111111111"}`)
	if string(c.Result) != `{"c":1}` {
		t.Fatalf("result %q", c.Result)
	}
	roundTrip[ViewStateResult](t, `{"values":[{"key":"U1RBVEU=","value":"AQ=="}],"block_height":1,"block_hash":"11111111111111111111111111111111"}`)
	roundTrip[ContractCodeView](t, `{"code_base64":"AGFzbQ==","hash":"11111111111111111111111111111111","block_height":1,"block_hash":"11111111111111111111111111111111"}`)
	roundTrip[GasPriceResult](t, `{"gas_price":"100000000"}`)
	roundTrip[StatusResult](t, `{"version":{"version":"2.13.0","build":"devchain"},"chain_id":"localnet","protocol_version":86,"latest_protocol_version":86,"rpc_addr":"127.0.0.1:3030","validators":[{"account_id":"test.near","is_slashed":false}],"sync_info":{"latest_block_hash":"11111111111111111111111111111111","latest_block_height":5,"latest_state_root":"11111111111111111111111111111111","latest_block_time":"2026-01-01T00:00:00Z","syncing":false},"validator_account_id":null,"validator_public_key":null,"node_public_key":"`+sampleKey+`","node_key":null,"uptime_sec":3,"genesis_hash":"11111111111111111111111111111111"}`)
	roundTrip[ChunkView](t, `{"author":"test.near","header":`+mustField(t, sampleBlock)+`,"transactions":[],"receipts":[]}`)
}

func mustField(t *testing.T, block string) string {
	var b struct {
		Chunks []json.RawMessage `json:"chunks"`
	}
	if err := json.Unmarshal([]byte(block), &b); err != nil {
		t.Fatal(err)
	}
	return string(b.Chunks[0])
}

func TestErrorEnvelopes(t *testing.T) {
	e := roundTrip[RPCError](t, `{"name":"HANDLER_ERROR","cause":{"name":"UNKNOWN_ACCOUNT","info":{"requested_account_id":"a.near","block_height":1,"block_hash":"11111111111111111111111111111111"}},"code":-32000,"message":"Server error","data":"account a.near does not exist while viewing"}`)
	if !errors.Is(e, ErrUnknownAccount) || errors.Is(e, ErrUnknownAccessKey) {
		t.Fatal("UNKNOWN_ACCOUNT sentinel")
	}
	if e.Error() != "UNKNOWN_ACCOUNT: account a.near does not exist while viewing" {
		t.Fatal(e.Error())
	}
	inv := roundTrip[RPCError](t, `{"name":"HANDLER_ERROR","cause":{"name":"INVALID_TRANSACTION","info":{}},"code":-32000,"message":"Server error","data":{"TxExecutionError":{"InvalidTxError":{"InvalidNonce":{"tx_nonce":5,"ak_nonce":7}}}}}`)
	var txErr *TxExecutionError
	if !errors.As(inv, &txErr) {
		t.Fatal("INVALID_TRANSACTION does not unwrap to a TxExecutionError")
	}
	if tn, an, ok := txErr.InvalidNonce(); !ok || tn != 5 || an != 7 {
		t.Fatalf("InvalidNonce = %d %d %v", tn, an, ok)
	}
	// The constructor the devchain uses produces the same JSON.
	got, _ := json.Marshal(NewInvalidTransactionError(InvalidNonceError(5, 7)))
	want, _ := json.Marshal(inv)
	if string(got) != string(want) {
		t.Fatalf("constructor JSON\n%s\nwant\n%s", got, want)
	}
	for _, s := range []string{
		`{"name":"REQUEST_VALIDATION_ERROR","cause":{"name":"PARSE_ERROR","info":{"error_message":"bad"}},"code":-32700,"message":"Parse error","data":"bad"}`,
		`{"name":"REQUEST_VALIDATION_ERROR","cause":{"name":"METHOD_NOT_FOUND","info":{"method_name":"nope"}},"code":-32601,"message":"Method not found","data":"nope"}`,
		`{"name":"HANDLER_ERROR","cause":{"name":"TIMEOUT_ERROR","info":{}},"code":-32000,"message":"Server error","data":"Timeout"}`,
		`{"code":-32000,"message":"Server error","data":"legacy only"}`,
		`{"name":"HANDLER_ERROR","cause":{"name":"INVALID_TRANSACTION","info":{}},"code":-32000,"message":"Server error","data":{"TxExecutionError":{"InvalidTxError":"InvalidSignature"}}}`,
		`{"name":"HANDLER_ERROR","cause":{"name":"INVALID_TRANSACTION","info":{}},"code":-32000,"message":"Server error","data":{"TxExecutionError":{"InvalidTxError":{"InvalidAccessKeyError":{"AccessKeyNotFound":{"account_id":"a.near","public_key":"` + sampleKey + `"}}}}}}`,
		`{"name":"HANDLER_ERROR","cause":{"name":"INVALID_TRANSACTION","info":{}},"code":-32000,"message":"Server error","data":{"TxExecutionError":{"ActionError":{"index":null,"kind":{"LackBalanceForState":{"account_id":"a.near","amount":"1"}}}}}}`,
	} {
		roundTrip[RPCError](t, s)
	}
	timeout := NewTimeoutError()
	if !errors.Is(timeout, ErrTimeout) || !timeout.IsTimeout() || timeout.HTTPStatus != 408 {
		t.Fatal("timeout error")
	}
	qe := &QueryError{RequestType: "view_access_key", Message: "access key " + sampleKey + " does not exist while viewing"}
	if !errors.Is(qe, ErrUnknownAccessKey) {
		t.Fatal("legacy missing-key error is not ErrUnknownAccessKey")
	}
	roundTrip[QueryErrorResult](t, `{"error":"wasm execution failed with error: FunctionCallError(MethodResolveError(MethodNotFound))","logs":[],"block_height":1,"block_hash":"11111111111111111111111111111111"}`)
}

func TestU128(t *testing.T) {
	for _, c := range []struct{ in, yocto, back string }{
		{"1", "1000000000000000000000000", "1"},
		{"1.5", "1500000000000000000000000", "1.5"},
		{"0.000000000000000000000001", "1", "0.000000000000000000000001"},
		{".25", "250000000000000000000000", "0.25"},
		{"340282366920938.463463374607431768211455", MaxU128.String(), "340282366920938.463463374607431768211455"},
	} {
		u, err := ParseNEAR(c.in)
		if err != nil {
			t.Fatal(err)
		}
		if u.String() != c.yocto || FormatNEAR(u) != c.back {
			t.Fatalf("%s: yocto %s format %s", c.in, u, FormatNEAR(u))
		}
		if b, _ := U128FromBig(u.Big()); b != u {
			t.Fatal("big round trip")
		}
	}
	if MaxU128.String() != "340282366920938463463374607431768211455" {
		t.Fatal(MaxU128.String())
	}
	for _, bad := range []string{"", "x", "1.2.3", "-1", "340282366920938.463463374607431768211456", "1.0000000000000000000000001"} {
		if _, err := ParseNEAR(bad); err == nil {
			t.Fatalf("ParseNEAR(%q) accepted", bad)
		}
	}
	if _, ok := MaxU128.Add(NewU128(1)); ok {
		t.Fatal("overflow not reported")
	}
	if _, ok := NewU128(1).Sub(NewU128(2)); ok {
		t.Fatal("underflow not reported")
	}
	v, ok := OneNEAR.Mul64(1000)
	if !ok || FormatNEAR(v) != "1000" {
		t.Fatal("mul")
	}
}

func TestAccountIDs(t *testing.T) {
	for _, ok := range []string{"ab", "test.near", "a-b_c.d", "0x" + "ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12", "98793cd91a3f870fb126f66285808c7e094afcfc4eda8a970f6648cdf0dbd6de"} {
		if err := ValidateAccountID(ok); err != nil {
			t.Fatalf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "a", "A.near", "a..b", "a-_b", ".a", "a.", "-a", "a b", "a@b", "ab" + string(make([]byte, 63))} {
		if err := ValidateAccountID(bad); err == nil {
			t.Fatalf("%q accepted", bad)
		}
	}
	if AccountIDKind("98793cd91a3f870fb126f66285808c7e094afcfc4eda8a970f6648cdf0dbd6de") != NearImplicitAccount ||
		AccountIDKind("test.near") != NamedAccount {
		t.Fatal("kinds")
	}
	if !IsSubAccountOf("a.test.near", "test.near") || IsSubAccountOf("a.b.test.near", "test.near") || IsSubAccountOf("xtest.near", "test.near") {
		t.Fatal("sub-account rule")
	}
}

func TestKeyFiles(t *testing.T) {
	kp := testKey(t, 9)
	path := CredentialsPath(t.TempDir(), "localnet", "alice.test.near")
	if err := SaveKeyFile(path, "alice.test.near", kp); err != nil {
		t.Fatal(err)
	}
	acct, back, err := LoadKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if acct != "alice.test.near" || back.PublicKey() != kp.PublicKey() || back.SecretString() != kp.SecretString() {
		t.Fatal("key file round trip")
	}
	if _, err := ParseKeyPair("ed25519:abc"); err == nil {
		t.Fatal("short secret accepted")
	}
	sig := kp.Sign([]byte("m"))
	if kp.PublicKey().Verify([]byte("m"), sig) != nil || kp.PublicKey().Verify([]byte("n"), sig) == nil {
		t.Fatal("verify")
	}
	s2, err := ParseSignature(sig.String())
	if err != nil || s2 != sig {
		t.Fatal("signature text round trip")
	}
}

func TestEvents(t *testing.T) {
	for _, bad := range []string{"hello", "EVENT_JSON:", "EVENT_JSON:{", `EVENT_JSON:{"standard":"x","version":"1"}`, `event_json:{"standard":"x","version":"1","event":"e"}`} {
		if _, ok := ParseEvent(bad); ok {
			t.Fatalf("%q parsed as an event", bad)
		}
	}
	e, ok := ParseEvent(`EVENT_JSON: {"standard":"nep171","version":"1.0.0","event":"nft_mint","data":[{"owner_id":"a.near"}]}`)
	if !ok || e.Standard != "nep171" || e.Event != "nft_mint" || string(e.Data) != `[{"owner_id":"a.near"}]` {
		t.Fatalf("%+v %v", e, ok)
	}
	var o FinalExecutionOutcome
	if err := json.Unmarshal([]byte(sampleOutcome), &o); err != nil {
		t.Fatal(err)
	}
	evs := o.Events()
	if len(evs) != 1 || evs[0].Standard != "x" || evs[0].ExecutorID != "counter.test.near" || evs[0].Succeeded {
		t.Fatalf("%+v", evs)
	}
}
