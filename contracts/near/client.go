package near

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/outlayer/outlayer/internal/textcut"
)

// Client defaults.
const (
	// DefaultHTTPTimeout bounds one HTTP exchange. nearcore answers waiting
	// methods (send_tx, tx) within about 10 s, so a minute leaves room.
	DefaultHTTPTimeout = 60 * time.Second
	// DefaultRetries is how many times a request is retried after a
	// transient transport failure.
	DefaultRetries = 3
	// DefaultRetryBackoff is the first retry delay; it doubles each time.
	DefaultRetryBackoff = 200 * time.Millisecond
	// maxResponseBytes caps a response body (blocks and 4 MiB contracts in
	// base64 fit comfortably).
	maxResponseBytes = 64 << 20
)

// Client is a NEAR JSON-RPC client. It is safe for concurrent use and works
// the same against a real NEAR RPC endpoint and the devchain.
type Client struct {
	url     string
	http    *http.Client
	logger  *slog.Logger
	retries int
	backoff time.Duration
	nextID  atomic.Uint64

	// nonces is shared by every Signer of this client so that two signers
	// for the same key never reuse a nonce.
	noncesMu sync.Mutex
	nonces   map[nonceKey]*nonceState

	blockHashMu  sync.Mutex
	blockHash    CryptoHash
	blockHashAt  time.Time
	blockHashTTL time.Duration
}

// ClientOption configures a Client.
type ClientOption func(*Client)

// WithHTTPClient uses hc for requests (its Timeout bounds each attempt).
func WithHTTPClient(hc *http.Client) ClientOption { return func(c *Client) { c.http = hc } }

// WithLogger sets the logger for retries and diagnostics.
func WithLogger(l *slog.Logger) ClientOption { return func(c *Client) { c.logger = l } }

// WithRetries sets how often transient transport failures are retried and
// the first backoff (doubling).
func WithRetries(n int, backoff time.Duration) ClientOption {
	return func(c *Client) { c.retries, c.backoff = n, backoff }
}

// WithBlockHashTTL sets how long a fetched final block hash is reused for
// signing (default 10 s; NEAR accepts hashes up to a day old).
func WithBlockHashTTL(d time.Duration) ClientOption { return func(c *Client) { c.blockHashTTL = d } }

// NewClient returns a client for the JSON-RPC endpoint at rpcURL.
func NewClient(rpcURL string, opts ...ClientOption) *Client {
	c := &Client{
		url:          rpcURL,
		http:         &http.Client{Timeout: DefaultHTTPTimeout},
		logger:       slog.New(slog.DiscardHandler),
		retries:      DefaultRetries,
		backoff:      DefaultRetryBackoff,
		nonces:       map[nonceKey]*nonceState{},
		blockHashTTL: 10 * time.Second,
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

// URL is the endpoint.
func (c *Client) URL() string { return c.url }

// Call performs one JSON-RPC call and decodes the result into result (which
// may be nil to discard it). JSON-RPC errors come back as *RPCError; only
// transport failures that cannot have been answered by the node (connection
// refused/reset, EOF before a response, 502/503/504 from a proxy) are retried.
// Retrying is safe even for send_tx: a signed transaction has one hash and
// NEAR applies it once.
func (c *Client) Call(ctx context.Context, method string, params any, result any) error {
	if params == nil {
		params = []any{}
	}
	p, err := json.Marshal(params)
	if err != nil {
		return fmt.Errorf("near rpc %s: encoding params: %w", method, err)
	}
	id := c.nextID.Add(1)
	body, err := json.Marshal(Request{JSONRPC: "2.0", ID: json.RawMessage(fmt.Sprint(id)), Method: method, Params: p})
	if err != nil {
		return fmt.Errorf("near rpc %s: encoding request: %w", method, err)
	}
	// Transient failures are retried c.retries times, waiting c.backoff
	// and then twice as long each time; any other answer is final.
	var last error
	raw, err := backoff.Retry(ctx, func() (*rpcResponse, error) {
		raw, err := c.post(ctx, body)
		if err != nil && !isTransient(err) {
			return nil, backoff.Permanent(err)
		}
		last = err
		return raw, err
	}, backoff.WithBackOff(&backoff.ExponentialBackOff{InitialInterval: c.backoff, Multiplier: 2, MaxInterval: time.Minute}),
		backoff.WithMaxTries(uint(max(c.retries, 0))+1), backoff.WithMaxElapsedTime(0),
		backoff.WithNotify(func(err error, next time.Duration) {
			c.logger.Debug("near rpc: retrying after transient error", "method", method, "retry_in", next, "err", err)
		}))
	if err != nil {
		if ctx.Err() != nil && last != nil && !errors.Is(last, ctx.Err()) {
			return fmt.Errorf("near rpc %s: %w (after %v)", method, ctx.Err(), last)
		}
		return fmt.Errorf("near rpc %s: %w", method, err)
	}
	return decodeResult(method, raw, result)
}

// transientHTTPError is a proxy-level failure without a JSON-RPC body.
type transientHTTPError struct {
	status int
	body   string
}

func (e *transientHTTPError) Error() string {
	return fmt.Sprintf("HTTP %d from the RPC endpoint: %s", e.status, e.body)
}

type rpcResponse struct {
	status int
	resp   Response
}

func (c *Client) post(ctx context.Context, body []byte) (*rpcResponse, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("building request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, maxResponseBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading response: %w", err)
	}
	if len(data) > maxResponseBytes {
		return nil, fmt.Errorf("response larger than %d bytes", maxResponseBytes)
	}
	out := &rpcResponse{status: res.StatusCode}
	// nearcore sends JSON-RPC error bodies with 400/408/500, so parse the
	// body whatever the status.
	if err := json.Unmarshal(data, &out.resp); err != nil || (out.resp.Result == nil && out.resp.Error == nil) {
		snippet := string(data)
		if len(snippet) > 200 {
			snippet = snippet[:200] + "…"
		}
		switch res.StatusCode {
		case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout, http.StatusTooManyRequests:
			return nil, &transientHTTPError{status: res.StatusCode, body: snippet}
		}
		return nil, fmt.Errorf("HTTP %d: response is not JSON-RPC: %q", res.StatusCode, snippet)
	}
	return out, nil
}

func isTransient(err error) bool {
	var h *transientHTTPError
	if errors.As(err, &h) {
		return true
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func decodeResult(method string, r *rpcResponse, result any) error {
	if r.resp.Error != nil {
		e := r.resp.Error
		e.HTTPStatus = r.status
		return fmt.Errorf("near rpc %s: %w", method, e)
	}
	if result == nil {
		return nil
	}
	if err := json.Unmarshal(r.resp.Result, result); err != nil {
		return fmt.Errorf("near rpc %s: decoding result: %w", method, err)
	}
	return nil
}

// Status calls `status`.
func (c *Client) Status(ctx context.Context) (*StatusResult, error) {
	var r StatusResult
	if err := c.Call(ctx, "status", []any{}, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// Block calls `block` (the zero BlockReference means final).
func (c *Client) Block(ctx context.Context, ref BlockReference) (*BlockView, error) {
	var r BlockView
	if err := c.Call(ctx, "block", ref.orFinal(), &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// Chunk calls `chunk` by chunk hash.
func (c *Client) Chunk(ctx context.Context, chunkHash CryptoHash) (*ChunkView, error) {
	var r ChunkView
	if err := c.Call(ctx, "chunk", map[string]any{"chunk_id": chunkHash}, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// ChunkByBlock calls `chunk` for a shard of a block.
func (c *Client) ChunkByBlock(ctx context.Context, block BlockID, shardID uint64) (*ChunkView, error) {
	var r ChunkView
	if err := c.Call(ctx, "chunk", map[string]any{"block_id": block, "shard_id": shardID}, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// GasPrice calls `gas_price` (nil block = latest).
func (c *Client) GasPrice(ctx context.Context, block *BlockID) (U128, error) {
	var r GasPriceResult
	if err := c.Call(ctx, "gas_price", []any{block}, &r); err != nil {
		return U128{}, err
	}
	return r.GasPrice, nil
}

// Query calls `query` with request_type and the extra params, after the block
// reference (zero = final). It detects nearcore's legacy success-shaped
// errors ({"error": "..."} in the result) and returns them as *QueryError.
func (c *Client) Query(ctx context.Context, requestType string, ref BlockReference, params map[string]any, result any) error {
	p := map[string]any{"request_type": requestType}
	ref = ref.orFinal()
	if ref.Finality != "" {
		p["finality"] = ref.Finality
	}
	if ref.BlockID != nil {
		p["block_id"] = ref.BlockID
	}
	if ref.SyncCheckpoint != "" {
		p["sync_checkpoint"] = ref.SyncCheckpoint
	}
	for k, v := range params {
		p[k] = v
	}
	var raw json.RawMessage
	if err := c.Call(ctx, "query", p, &raw); err != nil {
		return err
	}
	var probe struct {
		Error *string `json:"error"`
	}
	if err := json.Unmarshal(raw, &probe); err == nil && probe.Error != nil {
		var qe QueryErrorResult
		_ = json.Unmarshal(raw, &qe)
		return fmt.Errorf("near rpc query: %w", &QueryError{RequestType: requestType, Message: qe.Error,
			Logs: qe.Logs, QueryResultHeader: qe.QueryResultHeader})
	}
	if err := json.Unmarshal(raw, result); err != nil {
		return fmt.Errorf("near rpc query %s: decoding result: %w", requestType, err)
	}
	return nil
}

// ViewAccount queries an account.
func (c *Client) ViewAccount(ctx context.Context, accountID string, ref BlockReference) (*AccountView, error) {
	var r AccountView
	if err := c.Query(ctx, "view_account", ref, map[string]any{"account_id": accountID}, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// ViewCode fetches an account's contract code.
func (c *Client) ViewCode(ctx context.Context, accountID string, ref BlockReference) (*ContractCodeView, error) {
	var r ContractCodeView
	if err := c.Query(ctx, "view_code", ref, map[string]any{"account_id": accountID}, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// ViewAccessKey queries one access key. A missing key is an error matching
// ErrUnknownAccessKey (whichever of NEAR's two shapes the node uses).
func (c *Client) ViewAccessKey(ctx context.Context, accountID string, pk PublicKey, ref BlockReference) (*AccessKeyView, error) {
	var r AccessKeyView
	if err := c.Query(ctx, "view_access_key", ref, map[string]any{"account_id": accountID, "public_key": pk}, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// ViewAccessKeyList lists an account's access keys.
func (c *Client) ViewAccessKeyList(ctx context.Context, accountID string, ref BlockReference) (*AccessKeyList, error) {
	var r AccessKeyList
	if err := c.Query(ctx, "view_access_key_list", ref, map[string]any{"account_id": accountID}, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// CallFunction runs a view method with raw args. A contract failure is a
// *QueryError matching ErrContractExecution (legacy shape) or an *RPCError
// with cause CONTRACT_EXECUTION_ERROR.
func (c *Client) CallFunction(ctx context.Context, accountID, method string, args []byte, ref BlockReference) (*CallResult, error) {
	var r CallResult
	p := map[string]any{"account_id": accountID, "method_name": method, "args_base64": base64.StdEncoding.EncodeToString(args)}
	if err := c.Query(ctx, "call_function", ref, p, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// ViewState reads an account's contract state under prefix.
func (c *Client) ViewState(ctx context.Context, accountID string, prefix []byte, ref BlockReference) (*ViewStateResult, error) {
	var r ViewStateResult
	p := map[string]any{"account_id": accountID, "prefix_base64": base64.StdEncoding.EncodeToString(prefix)}
	if err := c.Query(ctx, "view_state", ref, p, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// ViewFunction calls a JSON view method at the final block: args is
// marshalled to JSON ([]byte and json.RawMessage are sent as they are, nil
// as {}), and the result is unmarshalled into out (which may be nil).
func (c *Client) ViewFunction(ctx context.Context, contract, method string, args any, out any) error {
	return c.ViewFunctionAt(ctx, contract, method, args, out, Final())
}

// ViewFunctionAt is ViewFunction at a chosen block.
func (c *Client) ViewFunctionAt(ctx context.Context, contract, method string, args any, out any, ref BlockReference) error {
	argBytes, err := jsonArgs(args)
	if err != nil {
		return fmt.Errorf("view %s.%s: %w", contract, method, err)
	}
	r, err := c.CallFunction(ctx, contract, method, argBytes, ref)
	if err != nil {
		return fmt.Errorf("view %s.%s: %w", contract, method, err)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(r.Result, out); err != nil {
		return fmt.Errorf("view %s.%s: result %q is not the expected JSON: %w", contract, method, textcut.Head(string(r.Result), 200), err)
	}
	return nil
}

func jsonArgs(args any) ([]byte, error) {
	switch a := args.(type) {
	case nil:
		return []byte("{}"), nil
	case []byte:
		return a, nil
	case json.RawMessage:
		return a, nil
	case string:
		return []byte(a), nil
	}
	b, err := json.Marshal(args)
	if err != nil {
		return nil, fmt.Errorf("encoding args as JSON: %w", err)
	}
	return b, nil
}

// SendTx calls `send_tx` and waits until the given level ("" = the node's
// default, EXECUTED_OPTIMISTIC).
func (c *Client) SendTx(ctx context.Context, st *SignedTransaction, waitUntil TxExecutionStatus) (*FinalExecutionOutcome, error) {
	p := map[string]any{"signed_tx_base64": base64.StdEncoding.EncodeToString(st.Bytes())}
	if waitUntil != "" {
		p["wait_until"] = waitUntil
	}
	var r FinalExecutionOutcome
	if err := c.Call(ctx, "send_tx", p, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// BroadcastTxAsync calls `broadcast_tx_async` and returns the tx hash.
func (c *Client) BroadcastTxAsync(ctx context.Context, st *SignedTransaction) (CryptoHash, error) {
	var h CryptoHash
	if err := c.Call(ctx, "broadcast_tx_async", []string{base64.StdEncoding.EncodeToString(st.Bytes())}, &h); err != nil {
		return CryptoHash{}, err
	}
	return h, nil
}

// BroadcastTxCommit calls `broadcast_tx_commit` (waits until executed).
func (c *Client) BroadcastTxCommit(ctx context.Context, st *SignedTransaction) (*FinalExecutionOutcome, error) {
	var r FinalExecutionOutcome
	if err := c.Call(ctx, "broadcast_tx_commit", []string{base64.StdEncoding.EncodeToString(st.Bytes())}, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// TxStatus calls `tx` for a transaction hash and its signer.
func (c *Client) TxStatus(ctx context.Context, hash CryptoHash, senderID string, waitUntil TxExecutionStatus) (*FinalExecutionOutcome, error) {
	return c.txStatus(ctx, "tx", hash, senderID, waitUntil)
}

// TxStatusWithReceipts calls `EXPERIMENTAL_tx_status` (the result also lists
// the receipts).
func (c *Client) TxStatusWithReceipts(ctx context.Context, hash CryptoHash, senderID string, waitUntil TxExecutionStatus) (*FinalExecutionOutcome, error) {
	return c.txStatus(ctx, "EXPERIMENTAL_tx_status", hash, senderID, waitUntil)
}

func (c *Client) txStatus(ctx context.Context, method string, hash CryptoHash, senderID string, waitUntil TxExecutionStatus) (*FinalExecutionOutcome, error) {
	p := map[string]any{"tx_hash": hash}
	if senderID != "" { // real nodes require it; omitting beats sending an invalid ""
		p["sender_account_id"] = senderID
	}
	if waitUntil != "" {
		p["wait_until"] = waitUntil
	}
	var r FinalExecutionOutcome
	if err := c.Call(ctx, method, p, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// Receipt calls `EXPERIMENTAL_receipt`.
func (c *Client) Receipt(ctx context.Context, id CryptoHash) (*ReceiptView, error) {
	var r ReceiptView
	if err := c.Call(ctx, "EXPERIMENTAL_receipt", map[string]any{"receipt_id": id}, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// SandboxFastForward asks a near-sandbox-compatible node (the devchain) to
// produce deltaHeight blocks at once. Real networks answer METHOD_NOT_FOUND.
func (c *Client) SandboxFastForward(ctx context.Context, deltaHeight uint64) error {
	return c.Call(ctx, "sandbox_fast_forward", map[string]any{"delta_height": deltaHeight}, nil)
}

// RecentBlockHash returns the hash of a recent final block for signing,
// cached for the client's block-hash TTL.
func (c *Client) RecentBlockHash(ctx context.Context) (CryptoHash, error) {
	c.blockHashMu.Lock()
	defer c.blockHashMu.Unlock()
	if !c.blockHash.IsZero() && time.Since(c.blockHashAt) < c.blockHashTTL {
		return c.blockHash, nil
	}
	b, err := c.Block(ctx, Final())
	if err != nil {
		return CryptoHash{}, fmt.Errorf("fetching a recent block hash: %w", err)
	}
	c.blockHash, c.blockHashAt = b.Header.Hash, time.Now()
	return c.blockHash, nil
}

func (c *Client) forgetBlockHash() {
	c.blockHashMu.Lock()
	c.blockHash = CryptoHash{}
	c.blockHashMu.Unlock()
}
