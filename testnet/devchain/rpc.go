package devchain

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/outlayer/outlayer/contracts/near"
	"github.com/outlayer/outlayer/testnet/devchain/internal/u128"
	"github.com/outlayer/outlayer/testnet/devchain/internal/vm"
)

const maxRequestBody = 16 << 20

type rpcRequest struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Method  string          `json:"method"`
	Params  json.RawMessage `json:"params"`
}

// rpcError is nearcore's structured error with the legacy code/message/data.
type rpcError struct {
	Name    string    `json:"name"`
	Cause   *rpcCause `json:"cause"`
	Code    int       `json:"code"`
	Message string    `json:"message"`
	Data    any       `json:"data"`
	status  int
}

type rpcCause struct {
	Name string `json:"name"`
	Info any    `json:"info"`
}

func handlerError(cause string, info any, data any) *rpcError {
	if info == nil {
		info = map[string]any{}
	}
	return &rpcError{Name: "HANDLER_ERROR", Cause: &rpcCause{Name: cause, Info: info}, Code: -32000, Message: "Server error", Data: data, status: http.StatusOK}
}

func parseError(format string, a ...any) *rpcError {
	msg := fmt.Sprintf(format, a...)
	return &rpcError{Name: "REQUEST_VALIDATION_ERROR", Cause: &rpcCause{Name: "PARSE_ERROR", Info: map[string]any{"error_message": msg}},
		Code: -32700, Message: "Parse error", Data: msg, status: http.StatusBadRequest}
}

func invalidTxError(e *txError) *rpcError {
	return handlerError("INVALID_TRANSACTION", map[string]any{}, map[string]any{"TxExecutionError": map[string]any{"InvalidTxError": e.JSON}})
}

func (c *Chain) rpcHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodPost {
			http.Error(w, "POST a JSON-RPC 2.0 request", http.StatusMethodNotAllowed)
			return
		}
		body, err := io.ReadAll(io.LimitReader(req.Body, maxRequestBody))
		var r rpcRequest
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
		id := r.ID
		if len(id) == 0 {
			id = json.RawMessage(`null`)
		}
		resp := map[string]any{"jsonrpc": "2.0", "id": id}
		status := http.StatusOK
		if rerr != nil {
			resp["error"] = rerr
			status = rerr.status
		} else {
			resp["result"] = result
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
		return map[string]string{"gas_price": strconv.Itoa(GasPrice)}, nil
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
		return receiptJSON(r), nil
	case "sandbox_fast_forward":
		var p struct {
			DeltaHeight uint64 `json:"delta_height"`
		}
		if err := json.Unmarshal(params, &p); err != nil {
			return nil, parseError("sandbox_fast_forward params: %v", err)
		}
		if err := c.FastForward(ctx, p.DeltaHeight); err != nil {
			return nil, handlerError("INTERNAL_ERROR", nil, err.Error())
		}
		return map[string]any{}, nil
	}
	return nil, &rpcError{Name: "REQUEST_VALIDATION_ERROR", Cause: &rpcCause{Name: "METHOD_NOT_FOUND", Info: map[string]any{"method_name": method}},
		Code: -32601, Message: "Method not found", Data: method, status: http.StatusBadRequest}
}

func firstString(params json.RawMessage) (string, *rpcError) {
	var arr []string
	if err := json.Unmarshal(params, &arr); err != nil || len(arr) == 0 {
		return "", parseError("expected params [\"<base64 signed transaction>\"]")
	}
	return arr[0], nil
}

func (c *Chain) rpcStatus() any {
	c.mu.Lock()
	defer c.mu.Unlock()
	h, g := c.head(), c.blocks[0]
	return map[string]any{
		"version":                 map[string]any{"version": "devchain", "build": "outlayer", "rustc_version": ""},
		"chain_id":                c.cfg.ChainID,
		"protocol_version":        protocolVersion,
		"latest_protocol_version": protocolVersion,
		"rpc_addr":                c.cfg.RPCAddr,
		"validators":              []any{map[string]any{"account_id": c.cfg.RootAccount, "is_slashed": false}},
		"sync_info": map[string]any{
			"latest_block_hash": h.Hash.String(), "latest_block_height": h.Height, "latest_state_root": h.Hash.String(),
			"latest_block_time": time.Unix(0, int64(h.Timestamp)).UTC().Format(time.RFC3339Nano), "syncing": false,
			"earliest_block_hash": g.Hash.String(), "earliest_block_height": g.Height,
			"earliest_block_time": time.Unix(0, int64(g.Timestamp)).UTC().Format(time.RFC3339Nano),
			"epoch_id":            near.CryptoHash{}.String(), "epoch_start_height": genesisHeight,
		},
		"validator_account_id":  c.cfg.RootAccount,
		"validator_public_key":  c.rootKey.PublicKey().String(),
		"node_public_key":       c.rootKey.PublicKey().String(),
		"node_key":              nil,
		"uptime_sec":            int64(time.Since(c.started).Seconds()),
		"genesis_hash":          g.Hash.String(),
		"detailed_debug_status": nil,
	}
}

// blockRef is a block reference: finality, block_id (height or hash) or
// sync_checkpoint.
type blockRef struct {
	Finality       string          `json:"finality"`
	BlockID        json.RawMessage `json:"block_id"`
	SyncCheckpoint string          `json:"sync_checkpoint"`
}

func (c *Chain) resolveBlock(ref blockRef) (*block, *rpcError) {
	if len(ref.BlockID) > 0 && string(ref.BlockID) != "null" {
		var height uint64
		if err := json.Unmarshal(ref.BlockID, &height); err == nil {
			if b := c.blockAt(height); b != nil {
				return b, nil
			}
			return nil, handlerError("UNKNOWN_BLOCK", map[string]any{"block_reference": map[string]any{"block_id": height}}, fmt.Sprintf("DB Not Found Error: BLOCK HEIGHT: %d", height))
		}
		var s string
		if err := json.Unmarshal(ref.BlockID, &s); err != nil {
			return nil, parseError("block_id must be a height or a block hash")
		}
		h, err := near.ParseCryptoHash(s)
		if err != nil {
			return nil, parseError("block_id: %v", err)
		}
		if b := c.byHash[h]; b != nil {
			return b, nil
		}
		return nil, handlerError("UNKNOWN_BLOCK", map[string]any{"block_reference": map[string]any{"block_id": s}}, fmt.Sprintf("DB Not Found Error: BLOCK: %s", s))
	}
	if ref.SyncCheckpoint == "genesis" || ref.SyncCheckpoint == "earliest_available" {
		return c.blocks[0], nil
	}
	return c.head(), nil // every finality is the head on a single node
}

func chunkHash(b *block) near.CryptoHash { return deriveID(b.Hash, "chunk", 0) }

func (c *Chain) chunkHeader(b *block) map[string]any {
	return map[string]any{
		"chunk_hash": chunkHash(b).String(), "prev_block_hash": b.PrevHash.String(), "outcome_root": near.CryptoHash{}.String(),
		"prev_state_root": near.CryptoHash{}.String(), "encoded_merkle_root": near.CryptoHash{}.String(), "encoded_length": 0,
		"height_created": b.Height, "height_included": b.Height, "shard_id": 0, "gas_used": b.GasBurnt, "gas_limit": 1_000_000_000_000_000,
		"rent_paid": "0", "validator_reward": "0", "balance_burnt": u128.Mul64x64(b.GasBurnt, GasPrice).String(),
		"outgoing_receipts_root": near.CryptoHash{}.String(), "tx_root": near.CryptoHash{}.String(), "validator_proposals": []any{},
		"congestion_info": nil, "signature": "ed25519:1111111111111111111111111111111111111111111111111111111111111111",
	}
}

func (c *Chain) rpcBlock(params json.RawMessage) (any, *rpcError) {
	var ref blockRef
	if len(params) > 0 && string(params) != "null" {
		if err := json.Unmarshal(params, &ref); err != nil {
			var arr []json.RawMessage
			if json.Unmarshal(params, &arr) != nil || len(arr) != 1 {
				return nil, parseError("block params: %v", err)
			}
			ref.BlockID = arr[0]
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	b, rerr := c.resolveBlock(ref)
	if rerr != nil {
		return nil, rerr
	}
	prevHeight := any(nil)
	if b.Height > genesisHeight {
		prevHeight = b.Height - 1
	}
	zero := near.CryptoHash{}.String()
	return map[string]any{
		"author": c.cfg.RootAccount,
		"header": map[string]any{
			"height": b.Height, "prev_height": prevHeight, "epoch_id": zero, "next_epoch_id": zero, "hash": b.Hash.String(),
			"prev_hash": b.PrevHash.String(), "prev_state_root": zero, "block_body_hash": zero, "chunk_receipts_root": zero,
			"chunk_headers_root": zero, "chunk_tx_root": zero, "outcome_root": zero, "chunks_included": 1, "challenges_root": zero,
			"timestamp": b.Timestamp, "timestamp_nanosec": strconv.FormatUint(b.Timestamp, 10), "random_value": deriveID(b.Hash, "random", 0).String(),
			"validator_proposals": []any{}, "chunk_mask": []bool{true}, "gas_price": strconv.Itoa(GasPrice), "block_ordinal": b.Height,
			"rent_paid": "0", "validator_reward": "0", "total_supply": "0", "challenges_result": []any{},
			"last_final_block": b.Hash.String(), "last_ds_final_block": b.Hash.String(), "next_bp_hash": zero, "block_merkle_root": zero,
			"epoch_sync_data_hash": nil, "approvals": []any{}, "signature": "ed25519:1111111111111111111111111111111111111111111111111111111111111111",
			"latest_protocol_version": protocolVersion,
		},
		"chunks": []any{c.chunkHeader(b)},
	}, nil
}

func (c *Chain) rpcChunk(params json.RawMessage) (any, *rpcError) {
	var p struct {
		ChunkID string          `json:"chunk_id"`
		BlockID json.RawMessage `json:"block_id"`
		ShardID *uint64         `json:"shard_id"`
	}
	if err := json.Unmarshal(params, &p); err != nil {
		var arr []string
		if json.Unmarshal(params, &arr) != nil || len(arr) != 1 {
			return nil, parseError("chunk params: %v", err)
		}
		p.ChunkID = arr[0]
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var b *block
	if p.ChunkID != "" {
		h, err := near.ParseCryptoHash(p.ChunkID)
		if err != nil {
			return nil, parseError("chunk_id: %v", err)
		}
		// A chunk hash is derived from its block hash; scan recent blocks.
		for i := len(c.blocks) - 1; i >= 0 && b == nil; i-- {
			if chunkHash(c.blocks[i]) == h {
				b = c.blocks[i]
			}
		}
		if b == nil {
			return nil, handlerError("UNKNOWN_CHUNK", map[string]any{"chunk_hash": p.ChunkID}, fmt.Sprintf("Chunk Missing (unavailable on the node): ChunkHash(%s)", p.ChunkID))
		}
	} else {
		if p.ShardID != nil && *p.ShardID != 0 {
			return nil, handlerError("INVALID_SHARD_ID", map[string]any{"shard_id": *p.ShardID}, fmt.Sprintf("Shard id %d does not exist", *p.ShardID))
		}
		var rerr *rpcError
		if b, rerr = c.resolveBlock(blockRef{BlockID: p.BlockID}); rerr != nil {
			return nil, rerr
		}
	}
	txs := []any{}
	for _, tx := range b.Txs {
		txs = append(txs, c.signedTxJSON(tx))
	}
	receipts := []any{}
	for _, r := range b.Receipts {
		receipts = append(receipts, receiptJSON(r))
	}
	return map[string]any{"author": c.cfg.RootAccount, "header": c.chunkHeader(b), "transactions": txs, "receipts": receipts}, nil
}

func (c *Chain) signedTxJSON(tx *txRecord) signedTxView {
	t := &tx.signed.Transaction
	acts := []any{}
	for i := range tx.actions {
		acts = append(acts, actionView(&tx.actions[i]))
	}
	return signedTxView{SignerID: t.SignerID, PublicKey: t.PublicKey.String(), Nonce: t.Nonce, ReceiverID: t.ReceiverID,
		Actions: acts, Signature: tx.signed.Signature.String(), Hash: tx.hash.String()}
}

func receiptJSON(r *receipt) receiptView {
	v := receiptView{PredecessorID: r.Predecessor, ReceiverID: r.Receiver, ReceiptID: r.ID.String()}
	if r.IsData {
		var data any
		if !r.DataNone {
			data = b64(r.Data)
		}
		v.Receipt = map[string]any{"Data": map[string]any{"data_id": r.DataID.String(), "data": data, "is_promise_resume": r.IsResume}}
		return v
	}
	acts := []any{}
	for i := range r.Actions {
		acts = append(acts, actionView(&r.Actions[i]))
	}
	outs := []any{}
	for _, o := range r.OutputDataReceivers {
		outs = append(outs, map[string]any{"data_id": near.CryptoHash(o.DataID).String(), "receiver_id": o.Receiver})
	}
	ins := []string{}
	for _, id := range r.InputDataIDs {
		ins = append(ins, id.String())
	}
	gasPrice := strconv.FormatUint(r.GasPrice, 10)
	signerKey := pkString(r.SignerKey)
	if r.IsRefund {
		gasPrice = "0"
		if signerKey == "" {
			signerKey = "ed25519:11111111111111111111111111111111"
		}
	}
	v.Receipt = map[string]any{"Action": map[string]any{
		"signer_id": r.Signer, "signer_public_key": signerKey, "gas_price": gasPrice,
		"output_data_receivers": outs, "input_data_ids": ins, "actions": acts, "is_promise_yield": r.IsYield,
	}}
	return v
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
	case tx.included == nil:
		return levelNone
	case tx.pending > 0:
		return levelIncluded
	case tx.pendingRefunds > 0:
		return levelExecuted
	}
	return levelFinal
}

var levelNames = [...]string{"NONE", "INCLUDED_FINAL", "EXECUTED", "FINAL"}

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
		if _, terr := c.validateTx(st); terr != nil {
			c.mu.Unlock()
			return nil, invalidTxError(terr)
		}
		tx = &txRecord{signed: st, hash: hash}
		c.txs[hash] = tx
		c.pendingTxs = append(c.pendingTxs, tx)
	}
	c.mu.Unlock()
	if hashOnly {
		return hash.String(), nil
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
			return nil, invalidTxError(tx.invalid)
		}
		reached := txLevel(tx)
		if reached >= level {
			res := c.txResult(tx, reached, withReceipts)
			c.mu.Unlock()
			return res, nil
		}
		ch := c.changed
		c.mu.Unlock()
		select {
		case <-ch:
		case <-timer.C:
			return nil, &rpcError{Name: "HANDLER_ERROR", Cause: &rpcCause{Name: "TIMEOUT_ERROR", Info: map[string]any{}},
				Code: -32000, Message: "Server error", Data: "Timeout", status: http.StatusRequestTimeout}
		case <-ctx.Done():
			return nil, handlerError("TIMEOUT_ERROR", nil, "the request was cancelled")
		}
	}
}

// txResult is the FinalExecutionOutcome (flattened with final_execution_status).
func (c *Chain) txResult(tx *txRecord, reached int, withReceipts bool) any {
	res := map[string]any{"final_execution_status": levelNames[reached]}
	if tx.included == nil {
		return res
	}
	res["transaction"] = c.signedTxJSON(tx)
	res["transaction_outcome"] = tx.outcome
	outs := []*outcomeWithID{}
	for _, id := range tx.receiptIDs {
		if o := c.outcomes[id]; o != nil {
			outs = append(outs, o)
		}
	}
	res["receipts_outcome"] = outs
	res["status"] = c.finalStatus(tx)
	if withReceipts {
		rs := []receiptView{}
		for _, id := range tx.allReceipts {
			if r := c.receipts[id]; r != nil && !r.IsData {
				rs = append(rs, receiptJSON(r))
			}
		}
		res["receipts"] = rs
	}
	return res
}

// finalStatus follows SuccessReceiptId links from the transaction outcome to
// the first SuccessValue or Failure.
func (c *Chain) finalStatus(tx *txRecord) json.RawMessage {
	status := tx.outcome.Outcome.Status
	for range 10_000 {
		var s map[string]json.RawMessage
		if json.Unmarshal(status, &s) != nil {
			return status
		}
		next, ok := s["SuccessReceiptId"]
		if !ok {
			return status
		}
		var id near.CryptoHash
		if json.Unmarshal(next, &id) != nil {
			return status
		}
		o := c.outcomes[id]
		if o == nil {
			return json.RawMessage(`"Started"`)
		}
		status = o.Outcome.Status
	}
	return json.RawMessage(`"Started"`)
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
		blockRef
		RequestType string `json:"request_type"`
		AccountID   string `json:"account_id"`
		PublicKey   string `json:"public_key"`
		MethodName  string `json:"method_name"`
		ArgsBase64  string `json:"args_base64"`
		Prefix      string `json:"prefix_base64"`
	}
	if err := json.Unmarshal(params, &p); err != nil {
		return nil, parseError("query params: %v", err)
	}
	if requestType != "" {
		p.RequestType = requestType
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, rerr := c.resolveBlock(p.blockRef); rerr != nil {
		return nil, rerr
	}
	// The devchain keeps only the latest state; every query reads it.
	b := c.head()
	withBlock := func(m map[string]any) map[string]any {
		m["block_height"] = b.Height
		m["block_hash"] = b.Hash.String()
		return m
	}
	if near.ValidateAccountID(p.AccountID) != nil {
		return nil, handlerError("INVALID_ACCOUNT", map[string]any{"requested_account_id": p.AccountID, "block_height": b.Height, "block_hash": b.Hash.String()},
			fmt.Sprintf("Account ID %q is invalid", p.AccountID))
	}
	acc := c.st.accounts[p.AccountID]
	if acc == nil {
		return nil, handlerError("UNKNOWN_ACCOUNT", map[string]any{"requested_account_id": p.AccountID, "block_height": b.Height, "block_hash": b.Hash.String()},
			fmt.Sprintf("account %s does not exist while viewing", p.AccountID))
	}
	switch p.RequestType {
	case "view_account":
		return withBlock(map[string]any{"amount": acc.Amount.String(), "locked": acc.Locked.String(), "code_hash": acc.CodeHash.String(),
			"storage_usage": acc.StorageUsage, "storage_paid_at": 0}), nil
	case "view_code":
		code := c.st.codeOf(acc)
		if code == nil {
			return nil, handlerError("NO_CONTRACT_CODE", map[string]any{"contract_account_id": p.AccountID, "block_height": b.Height, "block_hash": b.Hash.String()},
				fmt.Sprintf("Contract code for contract ID %s has never been observed on the node", p.AccountID))
		}
		return withBlock(map[string]any{"code_base64": b64(code), "hash": acc.CodeHash.String()}), nil
	case "view_access_key":
		pk, err := near.ParsePublicKey(p.PublicKey)
		if err != nil {
			return nil, parseError("public_key: %v", err)
		}
		k, ok := acc.Keys[pk]
		if !ok {
			return withBlock(map[string]any{"error": fmt.Sprintf("access key %s does not exist while viewing", pk), "logs": []string{}}), nil
		}
		v := accessKeyJSON(k)
		return withBlock(map[string]any{"nonce": v.Nonce, "permission": v.Permission}), nil
	case "view_access_key_list":
		keys := []any{}
		for pk, k := range acc.Keys {
			keys = append(keys, map[string]any{"public_key": pk.String(), "access_key": accessKeyJSON(k)})
		}
		sort.Slice(keys, func(i, j int) bool {
			return keys[i].(map[string]any)["public_key"].(string) < keys[j].(map[string]any)["public_key"].(string)
		})
		return withBlock(map[string]any{"keys": keys}), nil
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
		values := []any{}
		for _, k := range names {
			values = append(values, map[string]any{"key": b64([]byte(k)), "value": b64(acc.Data[k])})
		}
		return withBlock(map[string]any{"values": values}), nil
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
			return withBlock(map[string]any{"error": "wasm execution failed with error: " + out.Err.Text, "logs": logs}), nil
		}
		result := make([]int, len(out.ReturnData))
		for i, x := range out.ReturnData {
			result[i] = int(x)
		}
		return withBlock(map[string]any{"result": result, "logs": logs}), nil
	}
	return nil, parseError("unknown query request_type %q", p.RequestType)
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
