package devchain

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/outlayer/outlayer/contracts/near"
	"github.com/outlayer/outlayer/testnet/devchain/internal/vm"
)

const maxRequestBody = 16 << 20

// rpcError is contracts/near's RPC error, so the chain answers with exactly
// the shapes the client parses.
type rpcError = near.RPCError

func handlerError(cause string, info any, data string) *rpcError {
	if info == nil {
		info = map[string]any{}
	}
	return near.NewHandlerError(cause, info, data)
}

func parseError(format string, a ...any) *rpcError {
	return near.NewParseError(fmt.Sprintf(format, a...))
}

func unknownBlock(ref string, id any) *rpcError {
	return handlerError("UNKNOWN_BLOCK", map[string]any{"block_reference": map[string]any{"block_id": id}},
		fmt.Sprintf("DB Not Found Error: %s: %v", ref, id))
}

func (c *Chain) rpcHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodPost {
			http.Error(w, "POST a JSON-RPC 2.0 request", http.StatusMethodNotAllowed)
			return
		}
		body, err := io.ReadAll(io.LimitReader(req.Body, maxRequestBody))
		var r near.Request
		if err == nil {
			err = json.Unmarshal(body, &r)
		}
		var result any
		var rerr *rpcError
		if err != nil {
			rerr = parseError("invalid JSON-RPC request: %v", err)
		} else {
			result, rerr = c.dispatch(req.Context(), r.Method, r.Params)
		}
		resp := near.Response{JSONRPC: "2.0", ID: r.ID}
		if len(resp.ID) == 0 {
			resp.ID = json.RawMessage(`null`)
		}
		if rerr == nil {
			if resp.Result, err = json.Marshal(result); err != nil {
				rerr = near.NewInternalError(fmt.Sprintf("encoding the %s result: %v", r.Method, err))
			}
		}
		status := http.StatusOK
		if rerr != nil {
			resp.Result, resp.Error = nil, rerr
			status = rerr.HTTPStatus
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(resp)
	})
}

func (c *Chain) dispatch(ctx context.Context, method string, params json.RawMessage) (any, *rpcError) {
	switch method {
	case "status":
		return c.rpcStatus(), nil
	case "block":
		return c.rpcBlock(params)
	case "chunk":
		return c.rpcChunk(params)
	case "gas_price":
		return c.rpcGasPrice(params)
	case "query":
		return c.rpcQuery(ctx, params, "")
	case "EXPERIMENTAL_view_account", "EXPERIMENTAL_view_code", "EXPERIMENTAL_view_state",
		"EXPERIMENTAL_view_access_key", "EXPERIMENTAL_view_access_key_list", "EXPERIMENTAL_call_function":
		return c.rpcQuery(ctx, params, strings.TrimPrefix(method, "EXPERIMENTAL_"))
	case "send_tx":
		var p struct {
			SignedTx  string `json:"signed_tx_base64"`
			WaitUntil string `json:"wait_until"`
		}
		if err := json.Unmarshal(params, &p); err != nil {
			return nil, parseError("send_tx params: %v", err)
		}
		return c.submit(ctx, p.SignedTx, p.WaitUntil, false)
	case "broadcast_tx_async":
		b64tx, rerr := firstString(params)
		if rerr != nil {
			return nil, rerr
		}
		return c.submit(ctx, b64tx, "NONE", true)
	case "broadcast_tx_commit":
		b64tx, rerr := firstString(params)
		if rerr != nil {
			return nil, rerr
		}
		return c.submit(ctx, b64tx, "EXECUTED_OPTIMISTIC", false)
	case "tx", "EXPERIMENTAL_tx_status":
		return c.rpcTxStatus(ctx, params, method == "EXPERIMENTAL_tx_status")
	case "EXPERIMENTAL_receipt":
		var p struct {
			ReceiptID near.CryptoHash `json:"receipt_id"`
		}
		if err := json.Unmarshal(params, &p); err != nil {
			return nil, parseError("receipt params: %v", err)
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		r := c.receipts[p.ReceiptID]
		if r == nil {
			return nil, handlerError("UNKNOWN_RECEIPT", map[string]any{"receipt_id": p.ReceiptID.String()}, fmt.Sprintf("Receipt with id %s has never been observed on this node", p.ReceiptID))
		}
		return receiptView(r), nil
	case "EXPERIMENTAL_changes", "changes":
		return c.rpcChanges(params)
	case "EXPERIMENTAL_changes_in_block", "block_effects":
		return c.rpcChangesInBlock(params)
	case "EXPERIMENTAL_congestion_level":
		c.mu.Lock()
		defer c.mu.Unlock()
		if _, rerr := c.chunkBlock(params); rerr != nil {
			return nil, rerr
		}
		// One shard that never fills: receipts never wait for a later block.
		return map[string]float64{"congestion_level": 0}, nil
	case "EXPERIMENTAL_protocol_config":
		return c.rpcProtocolConfig(params)
	case "EXPERIMENTAL_genesis_config", "genesis_config":
		return c.rpcGenesisConfig(), nil
	case "validators":
		return c.rpcValidators(params)
	case "EXPERIMENTAL_validators_ordered":
		return c.rpcValidatorsOrdered(params)
	case "light_client_proof", "EXPERIMENTAL_light_client_proof":
		return c.rpcLightClientProof(params)
	case "next_light_client_block", "EXPERIMENTAL_next_light_client_block":
		return c.rpcNextLightClientBlock(params)
	case "EXPERIMENTAL_light_client_block_proof":
		return c.rpcLightClientBlockProof(params)
	case "health":
		return nil, nil // nearcore answers a healthy node with a null result
	case "network_info":
		return c.rpcNetworkInfo(), nil
	case "sandbox_fast_forward":
		var p struct {
			DeltaHeight uint64 `json:"delta_height"`
		}
		if err := json.Unmarshal(params, &p); err != nil {
			return nil, parseError("sandbox_fast_forward params: %v", err)
		}
		if err := c.FastForward(ctx, p.DeltaHeight); err != nil {
			return nil, near.NewInternalError(err.Error())
		}
		return map[string]any{}, nil
	}
	return nil, near.NewMethodNotFoundError(method)
}

func firstString(params json.RawMessage) (string, *rpcError) {
	var arr []string
	if err := json.Unmarshal(params, &arr); err != nil || len(arr) == 0 {
		return "", parseError("expected params [\"<base64 signed transaction>\"]")
	}
	return arr[0], nil
}

func (c *Chain) rpcStatus() *near.StatusResult {
	c.mu.Lock()
	defer c.mu.Unlock()
	h, e := c.head(), c.earliest()
	s := &near.StatusResult{
		ChainID: c.cfg.ChainID, ProtocolVersion: protocolVersion, LatestProtocolVersion: protocolVersion,
		Validators: []near.ValidatorInfo{{AccountID: c.cfg.RootAccount}},
		SyncInfo: near.SyncInfo{
			LatestBlockHash: h.Hash, LatestBlockHeight: h.Height, LatestStateRoot: h.Hash,
			LatestBlockTime: time.Unix(0, int64(h.Timestamp)).UTC().Format(time.RFC3339Nano),
		},
		NodePublicKey: c.rootKey.PublicKey().String(),
		UptimeSec:     int64(time.Since(c.started).Seconds()),
		GenesisHash:   c.genesisHash,
	}
	s.Version.Version, s.Version.Build = "devchain", "outlayer"
	addr, validator, pk := c.cfg.RPCAddr, c.cfg.RootAccount, c.rootKey.PublicKey()
	s.RPCAddr, s.ValidatorAccountID, s.ValidatorPublicKey = &addr, &validator, &pk
	earliestTime := time.Unix(0, int64(e.Timestamp)).UTC().Format(time.RFC3339Nano)
	epochID, epochStart := near.CryptoHash{}, uint64(genesisHeight)
	s.SyncInfo.EarliestBlockHash, s.SyncInfo.EarliestBlockHeight, s.SyncInfo.EarliestBlockTime = &e.Hash, &e.Height, &earliestTime
	s.SyncInfo.EpochID, s.SyncInfo.EpochStartHeight = &epochID, &epochStart
	return s
}

// resolveBlock finds the block a reference names: finality (every finality
// is the head on a single node), block_id (height or hash) or
// sync_checkpoint.
func (c *Chain) resolveBlock(ref near.BlockReference) (*block, *rpcError) {
	if id := ref.BlockID; id != nil {
		if id.Hash != nil {
			if b := c.blockByHash(*id.Hash); b != nil {
				return b, nil
			}
			return nil, unknownBlock("BLOCK", id.Hash.String())
		}
		if b := c.blockAt(id.Height); b != nil {
			return b, nil
		}
		return nil, unknownBlock("BLOCK HEIGHT", id.Height)
	}
	if ref.SyncCheckpoint == "genesis" || ref.SyncCheckpoint == "earliest_available" {
		return c.earliest(), nil
	}
	return c.head(), nil
}

// parseBlockRef reads a block reference from object params, or the legacy
// [block_id] array form.
func parseBlockRef(params json.RawMessage, what string) (near.BlockReference, *rpcError) {
	var ref near.BlockReference
	if len(params) == 0 || string(params) == "null" {
		return ref, nil
	}
	if err := json.Unmarshal(params, &ref); err != nil {
		var arr []json.RawMessage
		if json.Unmarshal(params, &arr) != nil || len(arr) != 1 {
			return ref, parseError("%s params: %v", what, err)
		}
		var id near.BlockID
		if err := json.Unmarshal(arr[0], &id); err != nil {
			return ref, parseError("%s params: %v", what, err)
		}
		ref.BlockID = &id
	}
	return ref, nil
}

func (c *Chain) rpcBlock(params json.RawMessage) (any, *rpcError) {
	ref, rerr := parseBlockRef(params, "block")
	if rerr != nil {
		return nil, rerr
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	b, rerr := c.resolveBlock(ref)
	if rerr != nil {
		return nil, rerr
	}
	return c.blockView(b), nil
}

func (c *Chain) rpcChunk(params json.RawMessage) (any, *rpcError) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, rerr := c.chunkBlock(params)
	if rerr != nil {
		return nil, rerr
	}
	v := &near.ChunkView{Author: c.cfg.RootAccount, Header: c.chunkHeaderView(b),
		Transactions: make([]near.SignedTransactionView, 0, len(b.Txs)), Receipts: make([]near.ReceiptView, 0, len(b.Receipts))}
	for _, tx := range b.Txs {
		v.Transactions = append(v.Transactions, near.NewSignedTransactionView(tx.signed))
	}
	for _, r := range b.Receipts {
		v.Receipts = append(v.Receipts, receiptView(r))
	}
	return v, nil
}

// chunkBlock finds the block of a chunk reference (chunk and
// EXPERIMENTAL_congestion_level params). The caller holds c.mu.
func (c *Chain) chunkBlock(params json.RawMessage) (*block, *rpcError) {
	var p struct {
		ChunkID *near.CryptoHash `json:"chunk_id"`
		BlockID *near.BlockID    `json:"block_id"`
		ShardID *uint64          `json:"shard_id"`
	}
	if err := json.Unmarshal(params, &p); err != nil {
		if perr := parseChunkArray(params, &p.ChunkID, &p.BlockID, &p.ShardID); perr != nil {
			return nil, parseError("chunk params: %v (want {\"chunk_id\"}, {\"block_id\", \"shard_id\"}, [chunk_hash] or [[block_id, shard_id]])", err)
		}
	}
	var b *block
	if p.ChunkID != nil {
		if b = c.blockByChunk(*p.ChunkID); b == nil {
			return nil, handlerError("UNKNOWN_CHUNK", map[string]any{"chunk_hash": p.ChunkID.String()},
				fmt.Sprintf("Chunk Missing (unavailable on the node): ChunkHash(%s)", p.ChunkID))
		}
	} else {
		if p.ShardID != nil && *p.ShardID != 0 {
			return nil, handlerError("INVALID_SHARD_ID", map[string]any{"shard_id": *p.ShardID}, fmt.Sprintf("Shard id %d does not exist", *p.ShardID))
		}
		if p.BlockID == nil {
			return nil, parseError("chunk params: give chunk_id, or block_id and shard_id")
		}
		var rerr *rpcError
		if b, rerr = c.resolveBlock(near.BlockReference{BlockID: p.BlockID}); rerr != nil {
			return nil, rerr
		}
	}
	return b, nil
}

// --- transactions ---

// Execution levels of send_tx/tx wait_until.
const (
	levelNone = iota
	levelIncluded
	levelExecuted
	levelFinal
)

func waitLevel(s string) (int, *rpcError) {
	switch s {
	case "NONE":
		return levelNone, nil
	case "INCLUDED", "INCLUDED_FINAL":
		return levelIncluded, nil
	case "", "EXECUTED_OPTIMISTIC", "EXECUTED":
		return levelExecuted, nil
	case "FINAL":
		return levelFinal, nil
	}
	return 0, parseError("unknown wait_until %q (want NONE, INCLUDED, EXECUTED_OPTIMISTIC, INCLUDED_FINAL, EXECUTED or FINAL)", s)
}

func txLevel(tx *txRecord) int {
	switch {
	case !tx.included:
		return levelNone
	case tx.pending > 0:
		return levelIncluded
	case tx.pendingRefunds > 0:
		return levelExecuted
	}
	return levelFinal
}

var levelNames = [...]near.TxExecutionStatus{near.TxNone, near.TxIncludedFinal, near.TxExecuted, near.TxFinal}

// submit accepts a base64 signed transaction and waits for wait_until.
func (c *Chain) submit(ctx context.Context, b64tx, waitUntil string, hashOnly bool) (any, *rpcError) {
	level, rerr := waitLevel(waitUntil)
	if rerr != nil {
		return nil, rerr
	}
	raw, err := base64.StdEncoding.DecodeString(b64tx)
	if err != nil {
		return nil, parseError("Failed to decode transaction: the signed transaction is not base64: %v", err)
	}
	st, err := near.DecodeSignedTransaction(raw)
	if err != nil {
		return nil, parseError("Failed to decode transaction: %v", err)
	}
	hash := st.Hash()
	c.mu.Lock()
	tx := c.txs[hash]
	if tx == nil { // a transaction seen before is answered with its known result
		if _, terr := c.validateTx(st, true); terr != nil {
			c.mu.Unlock()
			return nil, terr.rpcError()
		}
		tx = &txRecord{signed: st, hash: hash}
		c.txs[hash] = tx
		c.pendingTxs = append(c.pendingTxs, tx)
	}
	c.mu.Unlock()
	if hashOnly {
		return hash, nil
	}
	return c.waitTx(ctx, tx, level, false)
}

func (c *Chain) waitTx(ctx context.Context, tx *txRecord, level int, withReceipts bool) (any, *rpcError) {
	timer := time.NewTimer(c.cfg.TxTimeout)
	defer timer.Stop()
	for {
		c.mu.Lock()
		if tx.invalid != nil {
			c.mu.Unlock()
			return nil, tx.invalid.rpcError()
		}
		reached := txLevel(tx)
		if reached >= level {
			res := c.txResult(tx, reached, withReceipts)
			c.mu.Unlock()
			if res.Transaction == nil {
				return res, nil // not in a block yet: only final_execution_status
			}
			v := &includedTxView{FinalExecutionOutcome: res, ReceiptsOutcome: res.ReceiptsOutcome}
			if withReceipts {
				v.Receipts = &res.Receipts
			}
			return v, nil
		}
		ch := c.changed
		c.mu.Unlock()
		select {
		case <-ch:
		case <-timer.C:
			return nil, near.NewTimeoutError()
		case <-ctx.Done():
			return nil, handlerError("TIMEOUT_ERROR", nil, "the request was cancelled")
		}
	}
}

// includedTxView is the result for an included transaction: nearcore sends
// receipts_outcome (and, for EXPERIMENTAL_tx_status, receipts) even when
// still empty, which contracts/near's type leaves out.
type includedTxView struct {
	*near.FinalExecutionOutcome
	ReceiptsOutcome []near.ExecutionOutcomeWithIDView `json:"receipts_outcome"`
	Receipts        *[]near.ReceiptView               `json:"receipts,omitempty"`
}

// txResult is the FinalExecutionOutcome (flattened with final_execution_status).
func (c *Chain) txResult(tx *txRecord, reached int, withReceipts bool) *near.FinalExecutionOutcome {
	res := &near.FinalExecutionOutcome{FinalExecutionStatus: levelNames[reached]}
	if !tx.included {
		return res
	}
	tv := near.NewSignedTransactionView(tx.signed)
	res.Transaction = &tv
	res.TransactionOutcome = tx.outcome
	res.ReceiptsOutcome = make([]near.ExecutionOutcomeWithIDView, 0, len(tx.receiptIDs))
	for _, id := range tx.receiptIDs {
		if o := c.outcomes[id]; o != nil {
			res.ReceiptsOutcome = append(res.ReceiptsOutcome, *o)
		}
	}
	status := c.finalStatus(tx)
	res.Status = &status
	if withReceipts {
		res.Receipts = []near.ReceiptView{}
		for _, id := range tx.allReceipts {
			if r := c.receipts[id]; r != nil && !r.IsData {
				res.Receipts = append(res.Receipts, receiptView(r))
			}
		}
	}
	return res
}

// finalStatus follows SuccessReceiptId links from the transaction outcome to
// the first SuccessValue or Failure.
func (c *Chain) finalStatus(tx *txRecord) near.ExecutionStatus {
	status := tx.outcome.Outcome.Status
	for range 10_000 {
		if status.Kind != near.StatusSuccessReceiptID {
			return status
		}
		o := c.outcomes[status.ReceiptID]
		if o == nil {
			break
		}
		status = o.Outcome.Status
	}
	return near.ExecutionStatus{Kind: near.StatusStarted}
}

func (c *Chain) rpcTxStatus(ctx context.Context, params json.RawMessage, withReceipts bool) (any, *rpcError) {
	var p struct {
		TxHash    string `json:"tx_hash"`
		Sender    string `json:"sender_account_id"`
		SignedTx  string `json:"signed_tx_base64"`
		WaitUntil string `json:"wait_until"`
	}
	if err := json.Unmarshal(params, &p); err != nil {
		var arr []string
		if json.Unmarshal(params, &arr) != nil || len(arr) == 0 {
			return nil, parseError("tx params: %v", err)
		}
		p.TxHash = arr[0]
		if len(arr) > 1 {
			p.Sender = arr[1]
		}
	}
	level, rerr := waitLevel(p.WaitUntil)
	if rerr != nil {
		return nil, rerr
	}
	var hash near.CryptoHash
	if p.SignedTx != "" {
		raw, err := base64.StdEncoding.DecodeString(p.SignedTx)
		if err != nil {
			return nil, parseError("signed_tx_base64: %v", err)
		}
		st, err := near.DecodeSignedTransaction(raw)
		if err != nil {
			return nil, parseError("Failed to decode transaction: %v", err)
		}
		hash = st.Hash()
	} else {
		h, err := near.ParseCryptoHash(p.TxHash)
		if err != nil {
			return nil, parseError("tx_hash: %v", err)
		}
		hash = h
	}
	c.mu.Lock()
	tx := c.txs[hash]
	c.mu.Unlock()
	if tx == nil || (p.Sender != "" && tx.signed.Transaction.SignerID != p.Sender) {
		return nil, handlerError("UNKNOWN_TRANSACTION", map[string]any{"requested_transaction_hash": hash.String()},
			fmt.Sprintf("Transaction %s doesn't exist", hash))
	}
	return c.waitTx(ctx, tx, level, withReceipts)
}

// --- queries ---

func (c *Chain) rpcQuery(ctx context.Context, params json.RawMessage, requestType string) (any, *rpcError) {
	var p struct {
		near.BlockReference
		RequestType string `json:"request_type"`
		AccountID   string `json:"account_id"`
		PublicKey   string `json:"public_key"`
		MethodName  string `json:"method_name"`
		ArgsBase64  string `json:"args_base64"`
		Prefix      string `json:"prefix_base64"`
		CodeHash    string `json:"code_hash"`
	}
	if err := json.Unmarshal(params, &p); err != nil {
		return nil, parseError("query params: %v", err)
	}
	if requestType != "" {
		p.RequestType = requestType
	}
	switch p.RequestType {
	case "view_account", "view_code", "view_state", "view_access_key", "view_access_key_list", "call_function",
		"view_gas_key_nonces", "view_global_contract_code", "view_global_contract_code_by_account_id":
	default:
		// nearcore fails to parse the request before looking at any state.
		return nil, parseError("unknown query request_type %q", p.RequestType)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	b, rerr := c.resolveBlock(p.BlockReference)
	if rerr != nil {
		return nil, rerr
	}
	if b.Height < c.historyFrom {
		// The state changes of blocks before a restart are not persisted.
		return nil, handlerError("GARBAGE_COLLECTED_BLOCK", map[string]any{"block_height": b.Height, "block_hash": b.Hash.String()},
			fmt.Sprintf("The data for block #%d is garbage collected on this node, use an archival node to fetch historical data", b.Height))
	}
	at := near.QueryResultHeader{BlockHeight: b.Height, BlockHash: b.Hash}
	if p.RequestType == "view_global_contract_code" || p.RequestType == "view_global_contract_code_by_account_id" {
		// Global contracts (NEP-591) cannot be deployed here, so none exists.
		ident, shown := any(map[string]string{"CodeHash": p.CodeHash}), "CodeHash("+p.CodeHash+")"
		if p.RequestType == "view_global_contract_code_by_account_id" {
			ident, shown = map[string]string{"AccountId": p.AccountID}, fmt.Sprintf("AccountId(AccountId(%q))", p.AccountID)
		}
		return nil, handlerError("NO_GLOBAL_CONTRACT_CODE", map[string]any{"identifier": ident, "block_height": b.Height, "block_hash": b.Hash.String()},
			fmt.Sprintf("Global contract code with identifier %s has never been observed on the node", shown))
	}
	accountInfo := map[string]any{"requested_account_id": p.AccountID, "block_height": b.Height, "block_hash": b.Hash.String()}
	if near.ValidateAccountID(p.AccountID) != nil {
		return nil, handlerError("INVALID_ACCOUNT", accountInfo, fmt.Sprintf("Account ID %q is invalid", p.AccountID))
	}
	acc := c.accountAt(p.AccountID, b)
	if acc == nil {
		return nil, handlerError("UNKNOWN_ACCOUNT", accountInfo, fmt.Sprintf("account %s does not exist while viewing", p.AccountID))
	}
	switch p.RequestType {
	case "view_account":
		return &near.AccountView{Amount: acc.Amount, Locked: acc.Locked, CodeHash: acc.CodeHash,
			StorageUsage: acc.StorageUsage, QueryResultHeader: at}, nil
	case "view_code":
		code := c.st.codeOf(acc)
		if code == nil {
			return nil, handlerError("NO_CONTRACT_CODE", map[string]any{"contract_account_id": p.AccountID, "block_height": b.Height, "block_hash": b.Hash.String()},
				fmt.Sprintf("Contract code for contract ID %s has never been observed on the node", p.AccountID))
		}
		return &near.ContractCodeView{Code: code, Hash: acc.CodeHash, QueryResultHeader: at}, nil
	case "view_access_key":
		pk, err := near.ParsePublicKey(p.PublicKey)
		if err != nil {
			return nil, parseError("public_key: %v", err)
		}
		k, ok := acc.Keys[pk]
		if !ok {
			return &near.QueryErrorResult{Error: fmt.Sprintf("access key %s does not exist while viewing", pk), Logs: []string{}, QueryResultHeader: at}, nil
		}
		return &near.AccessKeyView{AccessKey: accessKeyView(k), QueryResultHeader: at}, nil
	case "view_access_key_list":
		list := &near.AccessKeyList{Keys: make([]near.AccessKeyInfoView, 0, len(acc.Keys)), QueryResultHeader: at}
		for pk, k := range acc.Keys {
			list.Keys = append(list.Keys, near.AccessKeyInfoView{PublicKey: pk, AccessKey: accessKeyView(k)})
		}
		sort.Slice(list.Keys, func(i, j int) bool { return list.Keys[i].PublicKey.String() < list.Keys[j].PublicKey.String() })
		return list, nil
	case "view_gas_key_nonces":
		// Gas keys cannot be added here (the action is refused), so none exists.
		pk, err := near.ParsePublicKey(p.PublicKey)
		if err != nil {
			return nil, parseError("public_key: %v", err)
		}
		return nil, handlerError("UNKNOWN_GAS_KEY", map[string]any{"public_key": pk.String(), "block_height": b.Height, "block_hash": b.Hash.String()},
			fmt.Sprintf("Gas key for public key %s has never been observed on the node", pk))
	case "view_state":
		prefix, err := base64.StdEncoding.DecodeString(p.Prefix)
		if err != nil {
			return nil, parseError("prefix_base64: %v", err)
		}
		names := make([]string, 0, len(acc.Data))
		for k := range acc.Data {
			if strings.HasPrefix(k, string(prefix)) {
				names = append(names, k)
			}
		}
		sort.Strings(names)
		res := &near.ViewStateResult{Values: make([]near.StateItem, 0, len(names)), QueryResultHeader: at}
		for _, k := range names {
			res.Values = append(res.Values, near.StateItem{Key: []byte(k), Value: acc.Data[k]})
		}
		return res, nil
	case "call_function":
		args, err := base64.StdEncoding.DecodeString(p.ArgsBase64)
		if err != nil {
			return nil, parseError("args_base64: %v", err)
		}
		out := c.viewCall(ctx, b, p.AccountID, acc, p.MethodName, args)
		logs := out.Logs
		if logs == nil {
			logs = []string{}
		}
		if out.Err != nil {
			return &near.QueryErrorResult{Error: "wasm execution failed with error: " + out.Err.DebugText(), Logs: logs, QueryResultHeader: at}, nil
		}
		result := out.ReturnData
		if result == nil {
			result = []byte{}
		}
		return &near.CallResult{Result: result, Logs: logs, QueryResultHeader: at}, nil
	}
	return nil, near.NewInternalError("unhandled query request_type " + p.RequestType)
}

// viewCall runs a method read-only (state writes and promises fail with
// ProhibitedInView).
func (c *Chain) viewCall(ctx context.Context, b *block, id string, acc *account, method string, args []byte) *vm.Outcome {
	code := c.st.codeOf(acc)
	if code == nil {
		return &vm.Outcome{Err: vm.CodeDoesNotExist(id)}
	}
	vctx := &vm.Context{
		CurrentAccount: id, Input: args, BlockHeight: b.Height, BlockTimestamp: b.Timestamp, EpochHeight: b.Height / epochLength,
		ChainID: c.cfg.ChainID, RandomSeed: make([]byte, 32), AccountBalance: acc.Amount, AccountLocked: acc.Locked,
		StorageUsage: acc.StorageUsage, PrepaidGas: c.cfg.MaxPrepaidGas, View: true,
	}
	return c.engine.Run(ctx, code, method, vctx, &accountStorage{s: c.st, a: acc, account: id, chain: c, parent: b.Hash, view: true})
}

// parseChunkArray reads the positional chunk params: [chunk_hash],
// [[block_id, shard_id]] (near-api-js's ChunkId) or [block_id, shard_id].
func parseChunkArray(params json.RawMessage, chunk **near.CryptoHash, blockID **near.BlockID, shard **uint64) error {
	var arr []json.RawMessage
	if err := json.Unmarshal(params, &arr); err != nil {
		return err
	}
	if len(arr) == 1 {
		var h near.CryptoHash
		if json.Unmarshal(arr[0], &h) == nil {
			*chunk = &h
			return nil
		}
		if err := json.Unmarshal(arr[0], &arr); err != nil {
			return err
		}
	}
	if len(arr) != 2 {
		return fmt.Errorf("%d positional params", len(arr))
	}
	var id near.BlockID
	var sh uint64
	if err := json.Unmarshal(arr[0], &id); err != nil {
		return err
	}
	if err := json.Unmarshal(arr[1], &sh); err != nil {
		return err
	}
	*blockID, *shard = &id, &sh
	return nil
}
