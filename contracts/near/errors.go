package near

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// TxExecutionError is why a transaction or receipt failed:
// {"ActionError":{"index":0,"kind":{…}}} or {"InvalidTxError":{…}}.
type TxExecutionError struct {
	ActionError    *ActionError `json:"ActionError,omitempty"`
	InvalidTxError *Variant     `json:"InvalidTxError,omitempty"`
}

// ActionError says which action failed (Index, nil when not tied to one) and how.
type ActionError struct {
	Index *uint64 `json:"index"`
	Kind  Variant `json:"kind"`
}

// NewActionError is an ActionError of action index with the given kind.
func NewActionError(index uint64, kind Variant) *TxExecutionError {
	return &TxExecutionError{ActionError: &ActionError{Index: &index, Kind: kind}}
}

// NewInvalidTxError wraps an InvalidTxError kind, e.g. UnitVariant("InvalidSignature").
func NewInvalidTxError(kind Variant) *TxExecutionError {
	return &TxExecutionError{InvalidTxError: &kind}
}

// FunctionCallExecutionError is the ActionError a failing contract call
// produces: {"FunctionCallError":{"ExecutionError":msg}}, e.g. msg
// "Smart contract panicked: boom".
func FunctionCallExecutionError(index uint64, msg string) *TxExecutionError {
	return NewActionError(index, NewVariant("FunctionCallError", NewVariant("ExecutionError", msg)))
}

// InvalidNonceError is InvalidTxError InvalidNonce{tx_nonce, ak_nonce}.
func InvalidNonceError(txNonce, akNonce uint64) *TxExecutionError {
	return NewInvalidTxError(NewVariant("InvalidNonce", struct {
		TxNonce uint64 `json:"tx_nonce"`
		AkNonce uint64 `json:"ak_nonce"`
	}{txNonce, akNonce}))
}

// InvalidNonce returns the nonces of an InvalidNonce error.
func (e *TxExecutionError) InvalidNonce() (txNonce, akNonce uint64, ok bool) {
	if e == nil || e.InvalidTxError == nil || e.InvalidTxError.Name != "InvalidNonce" {
		return 0, 0, false
	}
	var n struct {
		TxNonce uint64 `json:"tx_nonce"`
		AkNonce uint64 `json:"ak_nonce"`
	}
	if err := e.InvalidTxError.Decode(&n); err != nil {
		return 0, 0, false
	}
	return n.TxNonce, n.AkNonce, true
}

// Kind is the innermost variant name ("InvalidNonce", "AccountDoesNotExist",
// "ExecutionError", "MethodNotFound", …), handy for switches.
func (e *TxExecutionError) Kind() string {
	var v Variant
	switch {
	case e == nil:
		return ""
	case e.InvalidTxError != nil:
		v = *e.InvalidTxError
	case e.ActionError != nil:
		v = e.ActionError.Kind
	default:
		return ""
	}
	// Descend through nested enums; ExecutionError's body is a message, not
	// a variant name.
	for v.Name != "ExecutionError" {
		in, ok := v.Inner()
		if !ok || !isIdentifier(in.Name) {
			break
		}
		v = in
	}
	return v.Name
}

// ExecutionErrorMessage returns the text of a FunctionCallError
// ExecutionError ("Smart contract panicked: …", "Exceeded the prepaid gas.").
func (e *TxExecutionError) ExecutionErrorMessage() (string, bool) {
	if e == nil || e.ActionError == nil || e.ActionError.Kind.Name != "FunctionCallError" {
		return "", false
	}
	in, ok := e.ActionError.Kind.Inner()
	if !ok || in.Name != "ExecutionError" {
		return "", false
	}
	var msg string
	if err := in.Decode(&msg); err != nil {
		return "", false
	}
	return msg, true
}

// Error describes the failure, with NEAR's message for contract errors.
func (e *TxExecutionError) Error() string {
	switch {
	case e == nil:
		return "<nil>"
	case e.InvalidTxError != nil:
		return "invalid transaction: " + e.InvalidTxError.String()
	case e.ActionError != nil:
		where := "action"
		if e.ActionError.Index != nil {
			where = fmt.Sprintf("action #%d", *e.ActionError.Index)
		}
		if msg, ok := e.ExecutionErrorMessage(); ok {
			return where + " failed: " + msg
		}
		return where + " failed: " + e.ActionError.Kind.String()
	}
	return "empty transaction execution error"
}

// Error names (RPCError.Name) of NEAR's JSON-RPC.
const (
	RequestValidationError = "REQUEST_VALIDATION_ERROR"
	HandlerError           = "HANDLER_ERROR"
	InternalError          = "INTERNAL_ERROR"
)

// Sentinel errors for errors.Is on client errors. An *RPCError matches the
// sentinel of its cause; a legacy success-shaped *QueryError matches
// ErrUnknownAccessKey or ErrContractExecution.
var (
	ErrUnknownAccount     = errors.New("UNKNOWN_ACCOUNT")
	ErrInvalidAccount     = errors.New("INVALID_ACCOUNT")
	ErrUnknownAccessKey   = errors.New("UNKNOWN_ACCESS_KEY")
	ErrNoContractCode     = errors.New("NO_CONTRACT_CODE")
	ErrContractExecution  = errors.New("CONTRACT_EXECUTION_ERROR")
	ErrUnknownBlock       = errors.New("UNKNOWN_BLOCK")
	ErrUnknownChunk       = errors.New("UNKNOWN_CHUNK")
	ErrUnknownTransaction = errors.New("UNKNOWN_TRANSACTION")
	ErrUnknownReceipt     = errors.New("UNKNOWN_RECEIPT")
	ErrInvalidTransaction = errors.New("INVALID_TRANSACTION")
	ErrTimeout            = errors.New("TIMEOUT_ERROR")
	ErrMethodNotFound     = errors.New("METHOD_NOT_FOUND")
	ErrParse              = errors.New("PARSE_ERROR")
	ErrInternal           = errors.New("INTERNAL_ERROR")
	ErrNotSyncedYet       = errors.New("NOT_SYNCED_YET")
	ErrGarbageCollected   = errors.New("GARBAGE_COLLECTED_BLOCK")
	ErrTooLargeState      = errors.New("TOO_LARGE_CONTRACT_STATE")
	ErrInvalidShardID     = errors.New("INVALID_SHARD_ID")
	ErrUnavailableShard   = errors.New("UNAVAILABLE_SHARD")
	ErrNoSyncedBlocks     = errors.New("NO_SYNCED_BLOCKS")
	ErrDoesNotTrackShard  = errors.New("DOES_NOT_TRACK_SHARD")
	ErrRequestRouted      = errors.New("REQUEST_ROUTED")
)

// causeSentinels maps an error cause name to its sentinel (read-only).
var causeSentinels = map[string]error{
	"UNKNOWN_ACCOUNT":          ErrUnknownAccount,
	"INVALID_ACCOUNT":          ErrInvalidAccount,
	"UNKNOWN_ACCESS_KEY":       ErrUnknownAccessKey,
	"NO_CONTRACT_CODE":         ErrNoContractCode,
	"CONTRACT_EXECUTION_ERROR": ErrContractExecution,
	"UNKNOWN_BLOCK":            ErrUnknownBlock,
	"UNKNOWN_CHUNK":            ErrUnknownChunk,
	"UNKNOWN_TRANSACTION":      ErrUnknownTransaction,
	"UNKNOWN_RECEIPT":          ErrUnknownReceipt,
	"INVALID_TRANSACTION":      ErrInvalidTransaction,
	"TIMEOUT_ERROR":            ErrTimeout,
	"METHOD_NOT_FOUND":         ErrMethodNotFound,
	"PARSE_ERROR":              ErrParse,
	"INTERNAL_ERROR":           ErrInternal,
	"NOT_SYNCED_YET":           ErrNotSyncedYet,
	"GARBAGE_COLLECTED_BLOCK":  ErrGarbageCollected,
	"TOO_LARGE_CONTRACT_STATE": ErrTooLargeState,
	"INVALID_SHARD_ID":         ErrInvalidShardID,
	"UNAVAILABLE_SHARD":        ErrUnavailableShard,
	"NO_SYNCED_BLOCKS":         ErrNoSyncedBlocks,
	"DOES_NOT_TRACK_SHARD":     ErrDoesNotTrackShard,
	"REQUEST_ROUTED":           ErrRequestRouted,
}

// RPCError is a JSON-RPC error object as nearcore sends it: the structured
// name/cause plus the legacy code/message/data. HTTPStatus is filled by the
// client (200, 400, 408 or 500 on nearcore ≥ 2.3) and is not part of the JSON.
type RPCError struct {
	Name       string          `json:"name,omitempty"`
	Cause      *ErrorCause     `json:"cause,omitempty"`
	Code       int             `json:"code"`
	Message    string          `json:"message"`
	Data       json.RawMessage `json:"data,omitempty"`
	HTTPStatus int             `json:"-"`
}

// ErrorCause is RPCError.Cause: {"name": "UNKNOWN_ACCOUNT", "info": {...}}.
type ErrorCause struct {
	Name string          `json:"name"`
	Info json.RawMessage `json:"info,omitempty"`
}

// NewHandlerError builds a HANDLER_ERROR (code -32000) with a cause, its info
// object and the display string nearcore puts in data.
func NewHandlerError(cause string, info any, data string) *RPCError {
	return &RPCError{Name: HandlerError, Cause: &ErrorCause{Name: cause, Info: mustJSON(info)},
		Code: -32000, Message: "Server error", Data: mustJSON(data), HTTPStatus: HTTPStatusFor(HandlerError, cause)}
}

// NewInvalidTransactionError builds INVALID_TRANSACTION: an empty info and
// the details only in data, {"TxExecutionError": …}, exactly as nearcore.
func NewInvalidTransactionError(e *TxExecutionError) *RPCError {
	return &RPCError{Name: HandlerError, Cause: &ErrorCause{Name: "INVALID_TRANSACTION", Info: json.RawMessage(`{}`)},
		Code: -32000, Message: "Server error",
		Data: mustJSON(map[string]*TxExecutionError{"TxExecutionError": e}), HTTPStatus: http.StatusOK}
}

// NewTimeoutError builds TIMEOUT_ERROR (the transaction may still execute).
func NewTimeoutError() *RPCError {
	return &RPCError{Name: HandlerError, Cause: &ErrorCause{Name: "TIMEOUT_ERROR", Info: json.RawMessage(`{}`)},
		Code: -32000, Message: "Server error", Data: mustJSON("Timeout"), HTTPStatus: http.StatusRequestTimeout}
}

// NewParseError builds REQUEST_VALIDATION_ERROR / PARSE_ERROR (code -32700).
func NewParseError(msg string) *RPCError {
	return &RPCError{Name: RequestValidationError,
		Cause: &ErrorCause{Name: "PARSE_ERROR", Info: mustJSON(map[string]string{"error_message": msg})},
		Code:  -32700, Message: "Parse error", Data: mustJSON(msg), HTTPStatus: http.StatusBadRequest}
}

// NewMethodNotFoundError builds REQUEST_VALIDATION_ERROR / METHOD_NOT_FOUND (code -32601).
func NewMethodNotFoundError(method string) *RPCError {
	return &RPCError{Name: RequestValidationError,
		Cause: &ErrorCause{Name: "METHOD_NOT_FOUND", Info: mustJSON(map[string]string{"method_name": method})},
		Code:  -32601, Message: "Method not found", Data: mustJSON(method), HTTPStatus: http.StatusBadRequest}
}

// NewInternalError builds INTERNAL_ERROR.
func NewInternalError(msg string) *RPCError {
	return &RPCError{Name: InternalError,
		Cause: &ErrorCause{Name: "INTERNAL_ERROR", Info: mustJSON(map[string]string{"error_message": msg})},
		Code:  -32000, Message: "Server error", Data: mustJSON(msg), HTTPStatus: http.StatusInternalServerError}
}

// HTTPStatusFor is the HTTP status nearcore ≥ 2.3 sends with an error.
func HTTPStatusFor(name, cause string) int {
	switch {
	case cause == "TIMEOUT_ERROR":
		return http.StatusRequestTimeout
	case name == RequestValidationError:
		return http.StatusBadRequest
	case name == InternalError:
		return http.StatusInternalServerError
	}
	return http.StatusOK
}

func mustJSON(v any) json.RawMessage {
	if v == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		b, _ = json.Marshal(fmt.Sprintf("unencodable: %v", err))
	}
	return b
}

// CauseName is Cause.Name, or "" if there is none.
func (e *RPCError) CauseName() string {
	if e.Cause == nil {
		return ""
	}
	return e.Cause.Name
}

// DataString is data when it is a JSON string (nearcore's display text).
func (e *RPCError) DataString() string {
	var s string
	if json.Unmarshal(e.Data, &s) == nil {
		return s
	}
	return ""
}

// TxExecutionError extracts the {"TxExecutionError": …} that
// INVALID_TRANSACTION carries only in data.
func (e *RPCError) TxExecutionError() (*TxExecutionError, bool) {
	var d struct {
		TxExecutionError *TxExecutionError `json:"TxExecutionError"`
	}
	if json.Unmarshal(e.Data, &d) != nil || d.TxExecutionError == nil {
		return nil, false
	}
	return d.TxExecutionError, true
}

// IsTimeout reports a server-side timeout: the transaction may still land.
func (e *RPCError) IsTimeout() bool {
	return e.CauseName() == "TIMEOUT_ERROR" || e.HTTPStatus == http.StatusRequestTimeout
}

// IsRequestValidation reports a malformed request (our bug, not the chain's).
func (e *RPCError) IsRequestValidation() bool { return e.Name == RequestValidationError }

// Is matches the sentinel of the error's cause (errors.Is(err, ErrUnknownAccount)).
func (e *RPCError) Is(target error) bool {
	s, ok := causeSentinels[e.CauseName()]
	if ok && s == target {
		return true
	}
	return target == ErrTimeout && e.IsTimeout()
}

// Unwrap exposes the TxExecutionError of INVALID_TRANSACTION, so
// errors.As(err, &txErr) works on client errors.
func (e *RPCError) Unwrap() error {
	if t, ok := e.TxExecutionError(); ok {
		return t
	}
	return nil
}

// Error is a readable one-line description.
func (e *RPCError) Error() string {
	var sb strings.Builder
	switch {
	case e.Cause != nil:
		sb.WriteString(e.Cause.Name)
	case e.Name != "":
		sb.WriteString(e.Name)
	default:
		fmt.Fprintf(&sb, "error %d %s", e.Code, e.Message)
	}
	if t, ok := e.TxExecutionError(); ok {
		sb.WriteString(": ")
		sb.WriteString(t.Error())
	} else if s := e.DataString(); s != "" {
		sb.WriteString(": ")
		sb.WriteString(s)
	} else if len(e.Data) > 0 {
		sb.WriteString(": ")
		sb.Write(e.Data)
	}
	return sb.String()
}

// QueryError is nearcore's legacy success-shaped query failure: a result
// {"error": "...", "logs": [...]} instead of a JSON-RPC error, returned for
// failing call_function and for view_access_key of a missing key.
type QueryError struct {
	RequestType string
	Message     string
	Logs        []string
	QueryResultHeader
}

// Error is the node's message.
func (e *QueryError) Error() string { return e.RequestType + ": " + e.Message }

// Is matches ErrUnknownAccessKey (missing key) or ErrContractExecution.
func (e *QueryError) Is(target error) bool {
	if strings.Contains(e.Message, "access key") && strings.Contains(e.Message, "does not exist") {
		return target == ErrUnknownAccessKey
	}
	return target == ErrContractExecution
}

// Request is a JSON-RPC request.
type Request struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Method  string          `json:"method"`
	Params  json.RawMessage `json:"params"`
}

// Response is a JSON-RPC response: exactly one of Result and Error.
type Response struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Result  json.RawMessage `json:"result,omitempty"`
	Error   *RPCError       `json:"error,omitempty"`
}

func isIdentifier(s string) bool {
	if s == "" || s[0] < 'A' || s[0] > 'Z' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}
