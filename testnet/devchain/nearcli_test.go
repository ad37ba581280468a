package devchain

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/outlayer/outlayer/contracts/near"
)

// These tests send the JSON requests near-cli-rs 0.30 makes through
// near-jsonrpc-client 0.22 (request shapes read from their sources:
// RpcQueryRequest flattens a BlockReference and a QueryRequest, send_tx and
// tx take wait_until, validators sends EpochReference::Latest as
// {"latest": null}, status sends null params, gas_price [block_id]) and
// decode the answers the way serde derives them: every field without a
// default must be present (near-primitives' views are strict). The
// near-cli-rs binary itself cannot be run here (its npm package downloads it
// from GitHub releases, and crates.io is unreachable).

// Decoding structs. A pointer field without ",omitempty" is one serde
// requires; requireFields reports it missing as serde would.

type cliQueryHeader struct {
	BlockHeight *uint64 `json:"block_height"`
	BlockHash   *string `json:"block_hash"`
}

type cliAccountView struct {
	Amount       *string `json:"amount"`
	Locked       *string `json:"locked"`
	CodeHash     *string `json:"code_hash"`
	StorageUsage *uint64 `json:"storage_usage"`
	cliQueryHeader
}

type cliAccessKey struct {
	Nonce      *uint64          `json:"nonce"`
	Permission *json.RawMessage `json:"permission"`
}

type cliAccessKeyView struct {
	cliAccessKey
	cliQueryHeader
}

type cliAccessKeyList struct {
	Keys *[]struct {
		PublicKey *string       `json:"public_key"`
		AccessKey *cliAccessKey `json:"access_key"`
	} `json:"keys"`
	cliQueryHeader
}

type cliCallResult struct {
	Result *[]uint8  `json:"result"`
	Logs   *[]string `json:"logs"`
	cliQueryHeader
}

type cliViewState struct {
	Values *[]struct {
		Key   *string `json:"key"`
		Value *string `json:"value"`
	} `json:"values"`
	cliQueryHeader
}

type cliCodeView struct {
	Code *string `json:"code_base64"`
	Hash *string `json:"hash"`
	cliQueryHeader
}

type cliChunkHeader struct {
	ChunkHash            *string          `json:"chunk_hash"`
	PrevBlockHash        *string          `json:"prev_block_hash"`
	OutcomeRoot          *string          `json:"outcome_root"`
	PrevStateRoot        *string          `json:"prev_state_root"`
	EncodedMerkleRoot    *string          `json:"encoded_merkle_root"`
	EncodedLength        *uint64          `json:"encoded_length"`
	HeightCreated        *uint64          `json:"height_created"`
	HeightIncluded       *uint64          `json:"height_included"`
	ShardID              *uint64          `json:"shard_id"`
	GasUsed              *uint64          `json:"gas_used"`
	GasLimit             *uint64          `json:"gas_limit"`
	ValidatorReward      *string          `json:"validator_reward"`
	BalanceBurnt         *string          `json:"balance_burnt"`
	OutgoingReceiptsRoot *string          `json:"outgoing_receipts_root"`
	TxRoot               *string          `json:"tx_root"`
	ValidatorProposals   *json.RawMessage `json:"validator_proposals"`
	Signature            *string          `json:"signature"`
}

type cliBlockView struct {
	Author *string `json:"author"`
	Header *struct {
		Height                *uint64          `json:"height"`
		EpochID               *string          `json:"epoch_id"`
		NextEpochID           *string          `json:"next_epoch_id"`
		Hash                  *string          `json:"hash"`
		PrevHash              *string          `json:"prev_hash"`
		PrevStateRoot         *string          `json:"prev_state_root"`
		ChunkReceiptsRoot     *string          `json:"chunk_receipts_root"`
		ChunkHeadersRoot      *string          `json:"chunk_headers_root"`
		ChunkTxRoot           *string          `json:"chunk_tx_root"`
		OutcomeRoot           *string          `json:"outcome_root"`
		ChunksIncluded        *uint64          `json:"chunks_included"`
		ChallengesRoot        *string          `json:"challenges_root"`
		Timestamp             *uint64          `json:"timestamp"`
		TimestampNanosec      *string          `json:"timestamp_nanosec"`
		RandomValue           *string          `json:"random_value"`
		ValidatorProposals    *json.RawMessage `json:"validator_proposals"`
		ChunkMask             *[]bool          `json:"chunk_mask"`
		GasPrice              *string          `json:"gas_price"`
		TotalSupply           *string          `json:"total_supply"`
		LastFinalBlock        *string          `json:"last_final_block"`
		LastDSFinalBlock      *string          `json:"last_ds_final_block"`
		NextBPHash            *string          `json:"next_bp_hash"`
		BlockMerkleRoot       *string          `json:"block_merkle_root"`
		Approvals             *[]*string       `json:"approvals"`
		Signature             *string          `json:"signature"`
		LatestProtocolVersion *uint32          `json:"latest_protocol_version"`
	} `json:"header"`
	Chunks *[]cliChunkHeader `json:"chunks"`
}

type cliOutcomeWithID struct {
	Proof     *[]json.RawMessage `json:"proof"`
	BlockHash *string            `json:"block_hash"`
	ID        *string            `json:"id"`
	Outcome   *struct {
		Logs        *[]string        `json:"logs"`
		ReceiptIDs  *[]string        `json:"receipt_ids"`
		GasBurnt    *uint64          `json:"gas_burnt"`
		TokensBurnt *string          `json:"tokens_burnt"`
		ExecutorID  *string          `json:"executor_id"`
		Status      *json.RawMessage `json:"status"`
		Metadata    *struct {
			Version *uint32 `json:"version"`
		} `json:"metadata"`
	} `json:"outcome"`
}

// cliTxResponse is RpcTransactionResponse: final_execution_status plus an
// optional flattened FinalExecutionOutcomeView(WithReceipts), which serde
// fills only if all of status, transaction, transaction_outcome and
// receipts_outcome are there.
type cliTxResponse struct {
	FinalExecutionStatus *string          `json:"final_execution_status"`
	Status               *json.RawMessage `json:"status,omitempty"`
	Transaction          *struct {
		SignerID   *string            `json:"signer_id"`
		PublicKey  *string            `json:"public_key"`
		Nonce      *uint64            `json:"nonce"`
		ReceiverID *string            `json:"receiver_id"`
		Actions    *[]json.RawMessage `json:"actions"`
		// Required (no serde default) in some near-primitives releases;
		// nearcore always sends it.
		PriorityFee *uint64 `json:"priority_fee"`
		Signature   *string `json:"signature"`
		Hash        *string `json:"hash"`
	} `json:"transaction,omitempty"`
	TransactionOutcome *cliOutcomeWithID   `json:"transaction_outcome,omitempty"`
	ReceiptsOutcome    *[]cliOutcomeWithID `json:"receipts_outcome,omitempty"`
	Receipts           *[]json.RawMessage  `json:"receipts,omitempty"`
}

type cliValidators struct {
	CurrentValidators *[]struct {
		AccountID         *string `json:"account_id"`
		PublicKey         *string `json:"public_key"`
		IsSlashed         *bool   `json:"is_slashed"`
		Stake             *string `json:"stake"`
		NumProducedBlocks *uint64 `json:"num_produced_blocks"`
		NumExpectedBlocks *uint64 `json:"num_expected_blocks"`
	} `json:"current_validators"`
	NextValidators *[]struct {
		AccountID *string `json:"account_id"`
		PublicKey *string `json:"public_key"`
		Stake     *string `json:"stake"`
	} `json:"next_validators"`
	CurrentFishermen *[]json.RawMessage `json:"current_fishermen"`
	NextFishermen    *[]json.RawMessage `json:"next_fishermen"`
	CurrentProposals *[]json.RawMessage `json:"current_proposals"`
	PrevEpochKickout *[]json.RawMessage `json:"prev_epoch_kickout"`
	EpochStartHeight *uint64            `json:"epoch_start_height"`
	EpochHeight      *uint64            `json:"epoch_height"`
}

type cliStatus struct {
	Version *struct {
		Version *string `json:"version"`
		Build   *string `json:"build"`
	} `json:"version"`
	ChainID               *string `json:"chain_id"`
	ProtocolVersion       *uint32 `json:"protocol_version"`
	LatestProtocolVersion *uint32 `json:"latest_protocol_version"`
	Validators            *[]struct {
		AccountID *string `json:"account_id"`
	} `json:"validators"`
	SyncInfo *struct {
		LatestBlockHash   *string `json:"latest_block_hash"`
		LatestBlockHeight *uint64 `json:"latest_block_height"`
		LatestStateRoot   *string `json:"latest_state_root"`
		LatestBlockTime   *string `json:"latest_block_time"`
		Syncing           *bool   `json:"syncing"`
	} `json:"sync_info"`
	NodePublicKey *string `json:"node_public_key"`
	UptimeSec     *int64  `json:"uptime_sec"`
	GenesisHash   *string `json:"genesis_hash"`
}

// requireFields fails for every nil pointer field without ",omitempty",
// walking nested structs and slices, with serde's wording.
func requireFields(v reflect.Value, path string) error {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return nil
		}
		return requireFields(v.Elem(), path)
	case reflect.Slice:
		for i := range v.Len() {
			if err := requireFields(v.Index(i), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			if f.Anonymous {
				if err := requireFields(v.Field(i), path); err != nil {
					return err
				}
				continue
			}
			name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "" || name == "-" {
				continue
			}
			fv := v.Field(i)
			if fv.Kind() == reflect.Pointer && fv.IsNil() && !strings.Contains(opts, "omitempty") {
				return fmt.Errorf("missing field `%s` at %s", name, path)
			}
			if err := requireFields(fv, path+"."+name); err != nil {
				return err
			}
		}
	}
	return nil
}

// cliRPC posts one JSON-RPC request as near-jsonrpc-client builds it
// ({"jsonrpc":"2.0","id":"dontcare","method",…,"params":…}) and returns the
// HTTP status, the result and the error object.
type cliRPC struct {
	t   *testing.T
	url string
}

type cliError struct {
	Name  string `json:"name"`
	Cause struct {
		Name string          `json:"name"`
		Info json.RawMessage `json:"info"`
	} `json:"cause"`
	Code int             `json:"code"`
	Data json.RawMessage `json:"data"`
}

func (r cliRPC) post(method, params string) (int, json.RawMessage, *cliError) {
	r.t.Helper()
	body := `{"jsonrpc":"2.0","id":"dontcare","method":"` + method + `","params":` + params + `}`
	resp, err := http.Post(r.url, "application/json", strings.NewReader(body))
	if err != nil {
		r.t.Fatalf("%s: %v", method, err)
	}
	defer resp.Body.Close()
	var msg struct {
		Result json.RawMessage `json:"result"`
		Error  *cliError       `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&msg); err != nil {
		r.t.Fatalf("%s: decoding the answer: %v", method, err)
	}
	return resp.StatusCode, msg.Result, msg.Error
}

// ok posts and decodes a successful result into out, serde-strictly.
func (r cliRPC) ok(method, params string, out any) {
	r.t.Helper()
	status, res, e := r.post(method, params)
	if e != nil || status != http.StatusOK {
		r.t.Fatalf("%s %s: HTTP %d, error %+v", method, params, status, e)
	}
	if err := json.Unmarshal(res, out); err != nil {
		r.t.Fatalf("%s %s: %v in %s", method, params, err, res)
	}
	if err := requireFields(reflect.ValueOf(out), method); err != nil {
		r.t.Fatalf("%s %s: %v in %s", method, params, err, res)
	}
}

// handlerErr posts and expects a HANDLER_ERROR with the given cause whose
// info has the given fields (what near-jsonrpc-client's error enums need).
func (r cliRPC) handlerErr(method, params, cause string, status int, infoFields ...string) *cliError {
	r.t.Helper()
	got, res, e := r.post(method, params)
	if e == nil || got != status || e.Cause.Name != cause {
		r.t.Fatalf("%s %s: HTTP %d, result %s, error %+v; want HTTP %d and %s", method, params, got, res, e, status, cause)
	}
	var info map[string]json.RawMessage
	if err := json.Unmarshal(e.Cause.Info, &info); err != nil {
		r.t.Fatalf("%s: cause.info %s: %v", method, e.Cause.Info, err)
	}
	for _, f := range infoFields {
		if _, ok := info[f]; !ok {
			r.t.Fatalf("%s: %s info %s lacks %q", method, cause, e.Cause.Info, f)
		}
	}
	return e
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// cliSend signs and sends actions the way near-cli-rs does: view_access_key
// at BlockReference::latest() ("finality": "optimistic") for the nonce and
// the block hash, then send_tx with wait_until FINAL (its default).
func cliSend(r cliRPC, signer string, kp *near.KeyPair, receiver string, actions ...near.Action) (*cliTxResponse, string) {
	r.t.Helper()
	var ak cliAccessKeyView
	r.ok("query", jsonOf(map[string]any{"finality": "optimistic", "request_type": "view_access_key",
		"account_id": signer, "public_key": kp.PublicKey().String()}), &ak)
	bh, err := near.ParseCryptoHash(*ak.BlockHash)
	if err != nil {
		r.t.Fatal(err)
	}
	st := kp.SignTransaction(near.Transaction{SignerID: signer, PublicKey: kp.PublicKey(), Nonce: *ak.Nonce + 1,
		ReceiverID: receiver, BlockHash: bh, Actions: actions})
	var tx cliTxResponse
	r.ok("send_tx", jsonOf(map[string]any{"signed_tx_base64": base64.StdEncoding.EncodeToString(st.Bytes()), "wait_until": "FINAL"}), &tx)
	if *tx.FinalExecutionStatus != "FINAL" || tx.Status == nil || tx.Transaction == nil || tx.TransactionOutcome == nil || tx.ReceiptsOutcome == nil {
		r.t.Fatalf("send_tx FINAL: an outcome lacks fields serde needs to fill FinalExecutionOutcomeView: %+v", tx)
	}
	return &tx, st.Hash().String()
}

// TestNearCLIRequests walks near-cli-rs's common commands request by
// request against the devchain.
func TestNearCLIRequests(t *testing.T) {
	c, _, root := startChain(t, Config{})
	r := cliRPC{t: t, url: c.RPCURL()}
	_, rootKP, err := near.LoadKeyFile(c.RootKeyFile())
	if err != nil {
		t.Fatal(err)
	}
	rootID := root.AccountID()
	final := func(extra map[string]any) string {
		extra["finality"] = "final"
		return jsonOf(extra)
	}

	// account create-account fund-myself … sign-with-plaintext-private-key send
	kp, err := near.GenerateKeyPair(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	alice := "alice." + rootID
	ten, _ := near.OneNEAR.Mul64(10)
	cliSend(r, rootID, rootKP, alice, near.CreateAccount{}, near.Transfer{Deposit: ten},
		near.AddKey{PublicKey: kp.PublicKey(), AccessKey: near.AccessKey{}})

	// account view-account-summary alice network-config … now: view_account
	// and view_access_key_list (a custom network has no fastnear or
	// staking-pool factory, so no pools are asked).
	var acc cliAccountView
	r.ok("query", final(map[string]any{"request_type": "view_account", "account_id": alice}), &acc)
	if *acc.Amount != ten.String() {
		t.Fatalf("view_account amount %s, want %s", *acc.Amount, ten)
	}
	var keys cliAccessKeyList
	r.ok("query", final(map[string]any{"request_type": "view_access_key_list", "account_id": alice}), &keys)
	if len(*keys.Keys) != 1 || *(*keys.Keys)[0].PublicKey != kp.PublicKey().String() || string(*(*keys.Keys)[0].AccessKey.Permission) != `"FullAccess"` {
		t.Fatalf("view_access_key_list = %+v", keys)
	}
	var vals cliValidators
	r.ok("validators", `{"latest":null}`, &vals)
	if len(*vals.CurrentValidators) != 1 || *(*vals.CurrentValidators)[0].AccountID != rootID {
		t.Fatalf("validators = %+v", vals)
	}
	r.ok("validators", `[null]`, &vals)
	// staking validator-list then asks each validator's pool for
	// get_reward_fee_fraction and get_number_of_accounts and takes a
	// ContractExecutionError (any legacy {"error"} result other than a
	// missing access key) as "not a pool": the root has no code.
	for _, m := range []string{"get_reward_fee_fraction", "get_number_of_accounts"} {
		_, res, e := r.post("query", final(map[string]any{"request_type": "call_function", "account_id": rootID, "method_name": m, "args_base64": ""}))
		var lerr struct {
			Error       *string `json:"error"`
			BlockHeight *uint64 `json:"block_height"`
			BlockHash   *string `json:"block_hash"`
		}
		if e != nil || json.Unmarshal(res, &lerr) != nil || requireFields(reflect.ValueOf(&lerr), "query") != nil ||
			!strings.HasPrefix(*lerr.Error, "wasm execution failed with error: CompilationError(CodeDoesNotExist") {
			t.Fatalf("%s on the root (no code): %s %+v", m, res, e)
		}
	}
	r.handlerErr("validators", `{"epoch_id":"`+near.HashBytes([]byte("x")).String()+`"}`, "UNKNOWN_EPOCH", 200)

	// The same summary at a block height and at a block hash
	// (network_view_at_block's at-block-height / at-block-hash).
	var blk cliBlockView
	r.ok("block", `{"finality":"final"}`, &blk)
	h, hash := *blk.Header.Height, *blk.Header.Hash
	r.ok("block", jsonOf(map[string]any{"block_id": h}), &blk)
	r.ok("block", jsonOf(map[string]any{"block_id": hash}), &blk)
	if *blk.Header.Height != h || len(*blk.Chunks) != 1 {
		t.Fatalf("block by hash = %+v", blk)
	}
	var old cliAccountView
	r.ok("query", jsonOf(map[string]any{"block_id": h, "request_type": "view_account", "account_id": alice}), &old)
	r.ok("query", jsonOf(map[string]any{"block_id": hash, "request_type": "view_account", "account_id": alice}), &old)
	if *old.BlockHeight != h || *old.BlockHash != hash {
		t.Fatalf("view_account at block %d: answered for %d %s", h, *old.BlockHeight, *old.BlockHash)
	}
	r.ok("query", jsonOf(map[string]any{"sync_checkpoint": "earliest_available", "request_type": "view_account", "account_id": rootID}), &old)
	r.handlerErr("query", jsonOf(map[string]any{"block_id": h + 1_000_000, "request_type": "view_account", "account_id": alice}),
		"UNKNOWN_BLOCK", 200, "block_reference")
	r.handlerErr("block", jsonOf(map[string]any{"block_id": h + 1_000_000}), "UNKNOWN_BLOCK", 200)
	r.handlerErr("query", final(map[string]any{"request_type": "view_account", "account_id": "nobody." + rootID}),
		"UNKNOWN_ACCOUNT", 200, "requested_account_id", "block_height", "block_hash")

	// tokens alice view-near-balance: view_account; tokens send-near, add
	// and delete a key (account add-key / delete-keys).
	bob := "bob." + rootID
	cliSend(r, rootID, rootKP, bob, near.CreateAccount{}, near.Transfer{Deposit: ten},
		near.AddKey{PublicKey: kp.PublicKey(), AccessKey: near.AccessKey{}})
	tx, txHash := cliSend(r, alice, kp, bob, near.Transfer{Deposit: near.OneNEAR})
	if !strings.Contains(string(*tx.Status), "SuccessValue") {
		t.Fatalf("send-near status %s", *tx.Status)
	}
	fcKP, _ := near.GenerateKeyPair(rand.Reader)
	cliSend(r, alice, kp, alice, near.AddKey{PublicKey: fcKP.PublicKey(), AccessKey: near.AccessKey{
		Permission: near.AccessKeyPermission{FunctionCall: &near.FunctionCallPermission{ReceiverID: bob, MethodNames: []string{}}}}})
	var ak cliAccessKeyView
	r.ok("query", final(map[string]any{"request_type": "view_access_key", "account_id": alice, "public_key": fcKP.PublicKey().String()}), &ak)
	if !strings.Contains(string(*ak.Permission), `"FunctionCall"`) || !strings.Contains(string(*ak.Permission), `"allowance":null`) {
		t.Fatalf("function-call key permission %s", *ak.Permission)
	}
	cliSend(r, alice, kp, alice, near.DeleteKey{PublicKey: fcKP.PublicKey()})
	// A deleted key: the legacy result near-jsonrpc-client turns into
	// RpcQueryError::UnknownAccessKey by matching "access key <pk> does not
	// exist while viewing" and reading block_height and block_hash.
	_, res, e := r.post("query", final(map[string]any{"request_type": "view_access_key", "account_id": alice, "public_key": fcKP.PublicKey().String()}))
	var legacy struct {
		Error       *string `json:"error"`
		BlockHeight *uint64 `json:"block_height"`
		BlockHash   *string `json:"block_hash"`
	}
	if e != nil || json.Unmarshal(res, &legacy) != nil || requireFields(reflect.ValueOf(&legacy), "query") != nil ||
		*legacy.Error != "access key "+fcKP.PublicKey().String()+" does not exist while viewing" {
		t.Fatalf("deleted key view: %s %+v", res, e)
	}

	// contract deploy … with-init-call / without-init-call, then
	// call-function as-read-only and as-transaction, view-storage and
	// download-wasm (block, then view_code at that block).
	code := wasm(t, "counter")
	cliSend(r, bob, kp, bob, near.DeployContract{Code: code})
	tx, _ = cliSend(r, alice, kp, bob, near.FunctionCall{MethodName: "increment", Args: []byte(`{}`), Gas: 30_000_000_000_000})
	if len(*tx.ReceiptsOutcome) == 0 || *(*tx.ReceiptsOutcome)[0].Outcome.ExecutorID != bob {
		t.Fatalf("call-function as-transaction receipts_outcome = %+v", *tx.ReceiptsOutcome)
	}
	// A call that panics: near-primitives parses the Failure only in
	// nearcore's shape, ActionError {index, kind: FunctionCallError
	// {ExecutionError: msg}}.
	cliSend(r, rootID, rootKP, "panicker."+rootID, near.CreateAccount{}, near.Transfer{Deposit: ten},
		near.AddKey{PublicKey: kp.PublicKey(), AccessKey: near.AccessKey{}}, near.DeployContract{Code: wasm(t, "panicker")})
	ptx, _ := cliSend(r, alice, kp, "panicker."+rootID, near.FunctionCall{MethodName: "panic_msg", Args: []byte(`{"message":"no"}`), Gas: 30_000_000_000_000})
	var failure struct {
		Failure *struct {
			ActionError *struct {
				Index *uint64 `json:"index"`
				Kind  *struct {
					FunctionCallError *struct {
						ExecutionError *string `json:"ExecutionError"`
					} `json:"FunctionCallError"`
				} `json:"kind"`
			} `json:"ActionError"`
		} `json:"Failure"`
	}
	if err := json.Unmarshal(*ptx.Status, &failure); err != nil || requireFields(reflect.ValueOf(&failure), "status") != nil ||
		*failure.Failure.ActionError.Kind.FunctionCallError.ExecutionError != "Smart contract panicked: no" {
		t.Fatalf("a panicking call's status %s (%v)", *ptx.Status, err)
	}
	var cr cliCallResult
	r.ok("query", final(map[string]any{"request_type": "call_function", "account_id": bob, "method_name": "get_num", "args_base64": ""}), &cr)
	if string(*cr.Result) != "1" {
		t.Fatalf("get_num = %q", *cr.Result)
	}
	_, res, e = r.post("query", final(map[string]any{"request_type": "call_function", "account_id": bob, "method_name": "no_such", "args_base64": ""}))
	legacy.Error = nil
	if e != nil || json.Unmarshal(res, &legacy) != nil || legacy.Error == nil || !strings.Contains(*legacy.Error, "MethodResolveError(MethodNotFound)") {
		t.Fatalf("view of a missing method: %s %+v", res, e)
	}
	var state cliViewState
	r.ok("query", final(map[string]any{"request_type": "view_state", "account_id": bob, "prefix_base64": ""}), &state)
	if len(*state.Values) == 0 {
		t.Fatalf("view_state of the counter = %+v", state)
	}
	r.ok("block", `{"finality":"final"}`, &blk)
	var cv cliCodeView
	r.ok("query", jsonOf(map[string]any{"block_id": *blk.Header.Hash, "request_type": "view_code", "account_id": bob}), &cv)
	if got, _ := base64.StdEncoding.DecodeString(*cv.Code); !bytes.Equal(got, code) {
		t.Fatalf("download-wasm: %d bytes, want %d", len(got), len(code))
	}
	r.handlerErr("query", final(map[string]any{"request_type": "view_code", "account_id": alice}),
		"NO_CONTRACT_CODE", 200, "contract_account_id", "block_height", "block_hash")
	// Global contracts and gas keys cannot exist here: nearcore's "never
	// observed" errors, which near-cli-rs matches by name.
	r.handlerErr("query", final(map[string]any{"request_type": "view_global_contract_code", "code_hash": near.HashBytes(code).String()}),
		"NO_GLOBAL_CONTRACT_CODE", 200, "identifier", "block_height", "block_hash")
	r.handlerErr("query", final(map[string]any{"request_type": "view_global_contract_code_by_account_id", "account_id": bob}),
		"NO_GLOBAL_CONTRACT_CODE", 200, "identifier", "block_height", "block_hash")
	r.handlerErr("query", final(map[string]any{"request_type": "view_gas_key_nonces", "account_id": alice, "public_key": kp.PublicKey().String()}),
		"UNKNOWN_GAS_KEY", 200, "public_key", "block_height", "block_hash")

	// transaction view-status <hash> <sender>: tx with wait_until.
	var st cliTxResponse
	r.ok("tx", jsonOf(map[string]any{"tx_hash": txHash, "sender_account_id": alice, "wait_until": "FINAL"}), &st)
	if st.Transaction == nil || *st.Transaction.Hash != txHash {
		t.Fatalf("tx status = %+v", st)
	}
	r.ok("EXPERIMENTAL_tx_status", jsonOf(map[string]any{"tx_hash": txHash, "sender_account_id": alice, "wait_until": "NONE"}), &st)
	if st.Receipts == nil || len(*st.Receipts) == 0 {
		t.Fatalf("EXPERIMENTAL_tx_status has no receipts: %+v", st)
	}
	r.handlerErr("tx", jsonOf(map[string]any{"tx_hash": near.HashBytes([]byte("none")).String(), "sender_account_id": alice, "wait_until": "NONE"}),
		"UNKNOWN_TRANSACTION", 200, "requested_transaction_hash")
	var rv struct {
		PredecessorID *string          `json:"predecessor_id"`
		ReceiverID    *string          `json:"receiver_id"`
		ReceiptID     *string          `json:"receipt_id"`
		Receipt       *json.RawMessage `json:"receipt"`
	}
	rid := (*tx.ReceiptsOutcome)[0].ID
	r.ok("EXPERIMENTAL_receipt", jsonOf(map[string]any{"receipt_id": *rid}), &rv)
	if *rv.ReceiverID != bob || !strings.HasPrefix(string(*rv.Receipt), `{"Action":`) {
		t.Fatalf("EXPERIMENTAL_receipt = %+v", rv)
	}
	r.handlerErr("EXPERIMENTAL_receipt", jsonOf(map[string]any{"receipt_id": near.HashBytes([]byte("none")).String()}), "UNKNOWN_RECEIPT", 200, "receipt_id")

	// A transaction nearcore refuses: INVALID_TRANSACTION with the details
	// only in data, which near-jsonrpc-client parses as the legacy
	// {"TxExecutionError": {"InvalidTxError": …}}.
	r.ok("query", jsonOf(map[string]any{"finality": "optimistic", "request_type": "view_access_key", "account_id": alice, "public_key": kp.PublicKey().String()}), &ak)
	bh, _ := near.ParseCryptoHash(*ak.BlockHash)
	stale := kp.SignTransaction(near.Transaction{SignerID: alice, PublicKey: kp.PublicKey(), Nonce: *ak.Nonce, ReceiverID: bob, BlockHash: bh,
		Actions: []near.Action{near.Transfer{Deposit: near.NewU128(1)}}})
	e = r.handlerErr("send_tx", jsonOf(map[string]any{"signed_tx_base64": base64.StdEncoding.EncodeToString(stale.Bytes()), "wait_until": "FINAL"}), "INVALID_TRANSACTION", 200)
	var data struct {
		TxExecutionError struct {
			InvalidTxError struct {
				InvalidNonce *struct {
					TxNonce *uint64 `json:"tx_nonce"`
					AkNonce *uint64 `json:"ak_nonce"`
				} `json:"InvalidNonce"`
			} `json:"InvalidTxError"`
		} `json:"TxExecutionError"`
	}
	if json.Unmarshal(e.Data, &data) != nil || data.TxExecutionError.InvalidTxError.InvalidNonce == nil ||
		requireFields(reflect.ValueOf(&data), "data") != nil || *data.TxExecutionError.InvalidTxError.InvalidNonce.TxNonce != *ak.Nonce {
		t.Fatalf("INVALID_TRANSACTION data %s", e.Data)
	}

	// get_partial_protocol_config: runtime_config.storage_amount_per_byte as
	// a NearToken (a decimal yocto string).
	var pc struct {
		RuntimeConfig *struct {
			StorageAmountPerByte *string `json:"storage_amount_per_byte"`
		} `json:"runtime_config"`
	}
	r.ok("EXPERIMENTAL_protocol_config", `{"finality":"final"}`, &pc)
	r.ok("EXPERIMENTAL_protocol_config", jsonOf(map[string]any{"block_id": h}), &pc)
	if _, err := near.ParseU128(*pc.RuntimeConfig.StorageAmountPerByte); err != nil {
		t.Fatalf("storage_amount_per_byte %q: %v", *pc.RuntimeConfig.StorageAmountPerByte, err)
	}

	// The rest of near-jsonrpc-client's methods.
	var status cliStatus
	r.ok("status", `null`, &status)
	if *status.ChainID != "localnet" || *status.SyncInfo.LatestBlockHeight < h {
		t.Fatalf("status = %+v", status)
	}
	var gp struct {
		GasPrice *string `json:"gas_price"`
	}
	r.ok("gas_price", `[null]`, &gp)
	r.ok("gas_price", jsonOf([]any{h}), &gp)
	r.ok("gas_price", jsonOf([]any{hash}), &gp)
	if *gp.GasPrice != "100000000" {
		t.Fatalf("gas_price = %s", *gp.GasPrice)
	}
	r.handlerErr("gas_price", jsonOf([]any{h + 1_000_000}), "UNKNOWN_BLOCK", 200)
	var ordered []struct {
		Version   *string `json:"validator_stake_struct_version"`
		AccountID *string `json:"account_id"`
		PublicKey *string `json:"public_key"`
		Stake     *string `json:"stake"`
	}
	r.ok("EXPERIMENTAL_validators_ordered", `[null]`, &ordered)
	r.ok("EXPERIMENTAL_validators_ordered", jsonOf([]any{h}), &ordered)
	if len(ordered) != 1 || *ordered[0].AccountID != rootID || *ordered[0].Version != "V1" {
		t.Fatalf("EXPERIMENTAL_validators_ordered = %+v", ordered)
	}
	var chunk struct {
		Author       *string            `json:"author"`
		Header       *cliChunkHeader    `json:"header"`
		Transactions *[]json.RawMessage `json:"transactions"`
		Receipts     *[]json.RawMessage `json:"receipts"`
	}
	r.ok("chunk", jsonOf(map[string]any{"block_id": h, "shard_id": 0}), &chunk)
	r.ok("chunk", jsonOf(map[string]any{"chunk_id": *chunk.Header.ChunkHash}), &chunk)

	var cl struct {
		CongestionLevel *float64 `json:"congestion_level"`
	}
	r.ok("EXPERIMENTAL_congestion_level", jsonOf(map[string]any{"block_id": h, "shard_id": 0}), &cl)
	r.ok("EXPERIMENTAL_congestion_level", jsonOf(map[string]any{"chunk_id": *chunk.Header.ChunkHash}), &cl)
	r.handlerErr("EXPERIMENTAL_congestion_level", jsonOf(map[string]any{"block_id": h, "shard_id": 1}), "INVALID_SHARD_ID", 200, "shard_id")
	// The non-EXPERIMENTAL names newer nearcore serves answer as their twins.
	for _, pair := range [][3]string{
		{"EXPERIMENTAL_genesis_config", "genesis_config", `null`},
		{"EXPERIMENTAL_changes", "changes", jsonOf(map[string]any{"block_id": h, "changes_type": "account_changes", "account_ids": []string{alice}})},
		{"EXPERIMENTAL_changes_in_block", "block_effects", jsonOf(map[string]any{"block_id": h})},
	} {
		_, a, ea := r.post(pair[0], pair[2])
		_, b, eb := r.post(pair[1], pair[2])
		if ea != nil || eb != nil || !bytes.Equal(a, b) || len(a) < 3 {
			t.Fatalf("%s answered %s %+v, %s answered %s %+v", pair[0], a, ea, pair[1], b, eb)
		}
	}

	// Light-client methods: nearcore's errors for an unknown head, an unknown
	// transaction, and INTERNAL_ERROR (HTTP 500) for what the devchain cannot prove.
	lc := func(head string, id map[string]any) string {
		id["light_client_head"] = head
		return jsonOf(id)
	}
	txID := map[string]any{"type": "transaction", "transaction_hash": txHash, "sender_id": alice}
	for _, m := range []string{"light_client_proof", "EXPERIMENTAL_light_client_proof"} {
		r.handlerErr(m, lc(near.HashBytes([]byte("x")).String(), txID), "UNKNOWN_BLOCK", 200)
		r.handlerErr(m, lc(hash, map[string]any{"type": "transaction", "transaction_hash": txHash, "sender_id": bob}),
			"UNKNOWN_TRANSACTION_OR_RECEIPT", 200, "transaction_or_receipt_id")
		r.handlerErr(m, lc(hash, map[string]any{"type": "receipt", "receipt_id": *rid, "receiver_id": alice}),
			"UNKNOWN_TRANSACTION_OR_RECEIPT", 200, "transaction_or_receipt_id")
		for _, id := range []map[string]any{txID, {"type": "receipt", "receipt_id": *rid, "receiver_id": bob}} {
			if status, _, e := r.post(m, lc(hash, id)); status != 500 || e == nil || e.Name != "INTERNAL_ERROR" || e.Cause.Name != "INTERNAL_ERROR" {
				t.Fatalf("%s of a known %v: HTTP %d %+v, want INTERNAL_ERROR", m, id["type"], status, e)
			}
		}
	}
	r.handlerErr("EXPERIMENTAL_light_client_block_proof", jsonOf(map[string]any{"block_hash": hash, "light_client_head": near.HashBytes([]byte("x")).String()}), "UNKNOWN_BLOCK", 200)
	if status, _, e := r.post("EXPERIMENTAL_light_client_block_proof", jsonOf(map[string]any{"block_hash": hash, "light_client_head": hash})); status != 500 || e == nil || e.Cause.Name != "INTERNAL_ERROR" {
		t.Fatalf("EXPERIMENTAL_light_client_block_proof: HTTP %d %+v, want INTERNAL_ERROR", status, e)
	}
	r.handlerErr("next_light_client_block", jsonOf(map[string]any{"last_block_hash": near.HashBytes([]byte("x")).String()}), "UNKNOWN_BLOCK", 200)
	if status, _, e := r.post("next_light_client_block", jsonOf(map[string]any{"last_block_hash": hash})); status != 500 || e == nil || e.Cause.Name != "INTERNAL_ERROR" {
		t.Fatalf("next_light_client_block: HTTP %d %+v, want INTERNAL_ERROR", status, e)
	}

	// Request validation: an unknown method and bad params are 400s with
	// REQUEST_VALIDATION_ERROR, which near-jsonrpc-client reports as such.
	for _, q := range [][2]string{{"no_such_method", `[]`}, {"query", `{"finality":"final","request_type":"view_nothing","account_id":"a.near"}`}, {"gas_price", `{"block_id":[1]}`}} {
		if status, _, e := r.post(q[0], q[1]); status != 400 || e == nil || e.Name != "REQUEST_VALIDATION_ERROR" {
			t.Fatalf("%s %s: HTTP %d %+v, want a 400 REQUEST_VALIDATION_ERROR", q[0], q[1], status, e)
		}
	}
}

// requireFields itself: a missing required field, nested in a slice, is
// reported; an omitempty one is not.
func TestRequireFieldsReportsMissingFields(t *testing.T) {
	var v cliTxResponse
	if err := json.Unmarshal([]byte(`{"final_execution_status":"NONE"}`), &v); err != nil {
		t.Fatal(err)
	}
	if err := requireFields(reflect.ValueOf(&v), "tx"); err != nil {
		t.Fatalf("optional outcome fields: %v", err)
	}
	if err := json.Unmarshal([]byte(`{"final_execution_status":"FINAL","receipts_outcome":[{"proof":[],"block_hash":"x","id":"y"}]}`), &v); err != nil {
		t.Fatal(err)
	}
	if err := requireFields(reflect.ValueOf(&v), "tx"); err == nil || !strings.Contains(err.Error(), "missing field `outcome` at tx.receipts_outcome[0]") {
		t.Fatalf("a receipt outcome without outcome: %v", err)
	}
}
