package contracts

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strconv"

	"github.com/outlayer/outlayer/contracts/near"
)

// Method names of the OutLayer contract.
const (
	MethodNew                             = "new"
	MethodRequestExecution                = "request_execution"
	MethodResolveExecution                = "resolve_execution"
	MethodSubmitExecutionOutput           = "submit_execution_output"
	MethodSubmitExecutionOutputAndResolve = "submit_execution_output_and_resolve"
	MethodOnExecutionResponse             = "on_execution_response"
	MethodCancelStaleExecution            = "cancel_stale_execution"
	MethodEmergencyCancelExecution        = "emergency_cancel_execution"
	MethodClearAllPendingRequests         = "clear_all_pending_requests"
	MethodSetOwner                        = "set_owner"
	MethodSetOperator                     = "set_operator"
	MethodSetPaused                       = "set_paused"
	MethodSetPricing                      = "set_pricing"
	MethodWithdrawFees                    = "withdraw_fees"
	MethodGetRequest                      = "get_request"
	MethodGetPendingRequests              = "get_pending_requests"
	MethodGetPendingRequestIDs            = "get_pending_request_ids"
	MethodGetRequestDataID                = "get_request_data_id"
	MethodGetStats                        = "get_stats"
	MethodGetFees                         = "get_fees"
	MethodGetPricing                      = "get_pricing"
	MethodGetConfig                       = "get_config"
	MethodEstimateExecutionCost           = "estimate_execution_cost"
	MethodGetMaxLimits                    = "get_max_limits"
	MethodIsPaused                        = "is_paused"
	MethodGetPendingOutput                = "get_pending_output"
	MethodHasPendingOutput                = "has_pending_output"
	MethodGetStorageVersion               = "get_storage_version"
	MethodStoreSecrets                    = "store_secrets"
	MethodUpdateAccess                    = "update_access"
	MethodDeleteSecrets                   = "delete_secrets"
	MethodGetSecrets                      = "get_secrets"
	MethodSecretsExist                    = "secrets_exist"
	MethodListUserSecrets                 = "list_user_secrets"
	MethodEstimateStorageCost             = "estimate_storage_cost"
	MethodListProfiles                    = "list_profiles"
)

// Limits and defaults the OutLayer contract enforces.
const (
	DefaultMaxInstructions     uint64 = 1_000_000_000
	DefaultMaxMemoryMB         uint32 = 128
	DefaultMaxExecutionSeconds uint64 = 60
	MaxInstructions            uint64 = 500_000_000_000
	MaxExecutionSeconds        uint64 = 180
	MaxCompilationSeconds      uint64 = 300
	MaxMemoryMB                uint32 = 4096
	MaxInputDataBytes                 = 10 * 1024
	MaxOutputBytes                    = 1024 * 1024
	// MaxYieldPayload is NEAR's limit on a yield-resume payload: a response
	// whose JSON is longer must go through submit_execution_output_and_resolve.
	MaxYieldPayload = 1024
	// YieldTimeoutBlocks is how long a request waits on chain before its
	// callback runs with a timeout.
	YieldTimeoutBlocks = 200
	// StoragePricePerByte is NEAR's storage staking price in yoctoNEAR.
	StoragePricePerByte uint64 = 10_000_000_000_000_000_000
)

// ---------------------------------------------------------------------------
// Tagged-enum helpers.

// decodeVariant splits an externally tagged enum value into its tag and body
// (nil body for a bare-string unit variant).
func decodeVariant(b []byte, what string) (string, json.RawMessage, error) {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return "", nil, fmt.Errorf("decoding %s: %w", what, err)
		}
		return s, nil, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return "", nil, fmt.Errorf("decoding %s: expected {\"Variant\": {...}}: %w", what, err)
	}
	if len(m) != 1 {
		return "", nil, fmt.Errorf("decoding %s: expected exactly one variant key, got %d", what, len(m))
	}
	for k, v := range m {
		return k, v, nil
	}
	return "", nil, errors.New("unreachable")
}

func encodeVariant(tag string, body any) ([]byte, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	k, _ := json.Marshal(tag)
	out := make([]byte, 0, len(k)+len(b)+3)
	out = append(out, '{')
	out = append(out, k...)
	out = append(out, ':')
	out = append(out, b...)
	return append(out, '}'), nil
}

// ---------------------------------------------------------------------------
// CodeSource.

// GitHubSource is code built from a repository at a commit or branch.
type GitHubSource struct {
	Repo        string  `json:"repo"`
	Commit      string  `json:"commit"`
	BuildTarget *string `json:"build_target"`
}

// WasmURLSource is a prebuilt module fetched from a URL and checked against
// its hex SHA-256.
type WasmURLSource struct {
	URL         string  `json:"url"`
	Hash        string  `json:"hash"`
	BuildTarget *string `json:"build_target"`
}

// CodeSource is the externally tagged enum {"GitHub":{..}} | {"WasmUrl":{..}}.
// Exactly one field is set.
type CodeSource struct {
	GitHub  *GitHubSource
	WasmURL *WasmURLSource
}

// MarshalJSON implements json.Marshaler.
func (c CodeSource) MarshalJSON() ([]byte, error) {
	switch {
	case c.GitHub != nil && c.WasmURL == nil:
		return encodeVariant("GitHub", c.GitHub)
	case c.WasmURL != nil && c.GitHub == nil:
		return encodeVariant("WasmUrl", c.WasmURL)
	default:
		return nil, errors.New("code source must set exactly one of GitHub and WasmURL")
	}
}

// UnmarshalJSON implements json.Unmarshaler.
func (c *CodeSource) UnmarshalJSON(b []byte) error {
	tag, body, err := decodeVariant(b, "code source")
	if err != nil {
		return err
	}
	*c = CodeSource{}
	switch tag {
	case "GitHub":
		c.GitHub = new(GitHubSource)
		return json.Unmarshal(body, c.GitHub)
	case "WasmUrl":
		c.WasmURL = new(WasmURLSource)
		return json.Unmarshal(body, c.WasmURL)
	default:
		return fmt.Errorf("decoding code source: unknown variant %q (want GitHub or WasmUrl)", tag)
	}
}

// ProjectSource runs a project's version: VersionKey names one (the wasm
// hash, or "<repo>@<commit>"), nil runs the active version.
type ProjectSource struct {
	ProjectID  string  `json:"project_id"`
	VersionKey *string `json:"version_key"`
}

// ExecutionSource is upstream HEAD's `source`: a CodeSource or
// {"Project":{project_id, version_key}}. Exactly one of Code and Project is
// set. The contract resolves a Project to one version's CodeSource.
type ExecutionSource struct {
	Code    *CodeSource
	Project *ProjectSource
}

// MarshalJSON implements json.Marshaler.
func (e ExecutionSource) MarshalJSON() ([]byte, error) {
	switch {
	case e.Code != nil && e.Project == nil:
		return e.Code.MarshalJSON()
	case e.Project != nil && e.Code == nil:
		return encodeVariant("Project", e.Project)
	default:
		return nil, errors.New("execution source must set exactly one of Code and Project")
	}
}

// UnmarshalJSON implements json.Unmarshaler.
func (e *ExecutionSource) UnmarshalJSON(b []byte) error {
	tag, body, err := decodeVariant(b, "execution source")
	if err != nil {
		return err
	}
	*e = ExecutionSource{}
	if tag == "Project" {
		e.Project = new(ProjectSource)
		return json.Unmarshal(body, e.Project)
	}
	e.Code = new(CodeSource)
	return e.Code.UnmarshalJSON(b)
}

// ---------------------------------------------------------------------------
// Request arguments.

// ResourceLimits are a request's limits. The contract fills missing fields
// with the defaults and always returns all three.
type ResourceLimits struct {
	MaxInstructions     uint64 `json:"max_instructions"`
	MaxMemoryMB         uint32 `json:"max_memory_mb"`
	MaxExecutionSeconds uint64 `json:"max_execution_seconds"`
}

// DefaultResourceLimits are the limits used when a request gives none.
func DefaultResourceLimits() ResourceLimits {
	return ResourceLimits{DefaultMaxInstructions, DefaultMaxMemoryMB, DefaultMaxExecutionSeconds}
}

// RequestParams are request_execution's optional flags.
type RequestParams struct {
	ForceRebuild  bool `json:"force_rebuild"`
	StoreOnFastFS bool `json:"store_on_fastfs"`
	CompileOnly   bool `json:"compile_only"`
}

// ResponseFormat says how the program's stdout is returned.
type ResponseFormat string

// The response formats.
const (
	FormatBytes ResponseFormat = "Bytes"
	FormatText  ResponseFormat = "Text"
	FormatJSON  ResponseFormat = "Json"
)

// SecretsRef names secrets owned by AccountID under Profile.
type SecretsRef struct {
	Profile   string `json:"profile"`
	AccountID string `json:"account_id"`
}

// RequestExecutionArgs are request_execution's arguments. A nil
// ResourceLimits makes the request compile-only (upstream's rule). Set
// exactly one of Source (upstream HEAD's name) and CodeSource (the older
// name, a CodeSource only); the contract reads both with one meaning.
type RequestExecutionArgs struct {
	Source         *ExecutionSource `json:"source,omitempty"`
	CodeSource     CodeSource       `json:"code_source,omitzero"`
	ResourceLimits *ResourceLimits  `json:"resource_limits,omitempty"`
	InputData      *string          `json:"input_data,omitempty"`
	SecretsRef     *SecretsRef      `json:"secrets_ref,omitempty"`
	ResponseFormat ResponseFormat   `json:"response_format,omitempty"`
	PayerAccountID string           `json:"payer_account_id,omitempty"`
	Params         *RequestParams   `json:"params,omitempty"`
	// RequiredSignatures is the request's k: how many registered executors
	// must sign its result (1..max_signatures); nil takes the contract's
	// default_signatures.
	RequiredSignatures *uint64 `json:"required_signatures,omitempty"`
}

// NewArgs are the OutLayer contract's init arguments.
//
// The embedded AgreementArgs (all optional) configure executor signatures:
// without them every request needs 1 (default_signatures 0 is refused), and
// requests are refused until ChainID is set (here or with set_agreement)
// and an executor key is registered.
type NewArgs struct {
	OwnerID    string `json:"owner_id"`
	OperatorID string `json:"operator_id,omitempty"`
	AgreementArgs
}

// ---------------------------------------------------------------------------
// Outputs and responses.

// ExecutionOutput is {"Bytes":[..]} | {"Text":".."} | {"Json":<any>}.
type ExecutionOutput struct {
	Format ResponseFormat
	Bytes  []byte          // Format == FormatBytes
	Text   string          // Format == FormatText
	JSON   json.RawMessage // Format == FormatJSON
}

// BytesOutput, TextOutput and JSONOutput build outputs.
func BytesOutput(b []byte) *ExecutionOutput { return &ExecutionOutput{Format: FormatBytes, Bytes: b} }

// TextOutput is a Text output.
func TextOutput(s string) *ExecutionOutput { return &ExecutionOutput{Format: FormatText, Text: s} }

// JSONOutput is a Json output; raw must be valid JSON.
func JSONOutput(raw json.RawMessage) *ExecutionOutput {
	return &ExecutionOutput{Format: FormatJSON, JSON: raw}
}

// MarshalJSON implements json.Marshaler. Bytes are an array of numbers, as
// serde writes Vec<u8>, not base64.
func (o ExecutionOutput) MarshalJSON() ([]byte, error) {
	switch o.Format {
	case FormatBytes:
		var buf bytes.Buffer
		buf.WriteString(`{"Bytes":[`)
		for i, c := range o.Bytes {
			if i > 0 {
				buf.WriteByte(',')
			}
			buf.WriteString(strconv.Itoa(int(c)))
		}
		buf.WriteString("]}")
		return buf.Bytes(), nil
	case FormatText:
		return encodeVariant("Text", o.Text)
	case FormatJSON:
		if !json.Valid(o.JSON) {
			return nil, errors.New("the Json output is not valid JSON")
		}
		return encodeVariant("Json", o.JSON)
	default:
		return nil, fmt.Errorf("output format %q is not Bytes, Text or Json", o.Format)
	}
}

// UnmarshalJSON implements json.Unmarshaler.
func (o *ExecutionOutput) UnmarshalJSON(b []byte) error {
	tag, body, err := decodeVariant(b, "execution output")
	if err != nil {
		return err
	}
	*o = ExecutionOutput{Format: ResponseFormat(tag)}
	switch o.Format {
	case FormatBytes:
		var nums []uint8
		// encoding/json decodes a JSON array of numbers into []uint8 only
		// through an explicit element type.
		var arr []uint16
		if err := json.Unmarshal(body, &arr); err != nil {
			return fmt.Errorf("decoding Bytes output: %w", err)
		}
		for _, v := range arr {
			if v > 255 {
				return fmt.Errorf("decoding Bytes output: %d is not a byte", v)
			}
			nums = append(nums, uint8(v))
		}
		o.Bytes = nums
		return nil
	case FormatText:
		return json.Unmarshal(body, &o.Text)
	case FormatJSON:
		o.JSON = append(json.RawMessage(nil), body...)
		return nil
	default:
		return fmt.Errorf("decoding execution output: unknown variant %q (want Bytes, Text or Json)", tag)
	}
}

// ResourceMetrics are what an execution used. CompileTimeMs is set only
// when a compilation happened.
type ResourceMetrics struct {
	Instructions  uint64  `json:"instructions"`
	TimeMs        uint64  `json:"time_ms"`
	CompileTimeMs *uint64 `json:"compile_time_ms"`
}

// ExecutionResponse is what the operator submits, and the yield payload.
type ExecutionResponse struct {
	Success         bool             `json:"success"`
	Output          *ExecutionOutput `json:"output"`
	Error           *string          `json:"error"`
	ResourcesUsed   ResourceMetrics  `json:"resources_used"`
	CompilationNote *string          `json:"compilation_note"`
}

// FitsYieldPayload reports whether r can be passed to resolve_execution;
// otherwise the output must go through submit_execution_output_and_resolve.
func (r ExecutionResponse) FitsYieldPayload() (bool, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return false, err
	}
	return len(b) <= MaxYieldPayload, nil
}

// ResolveExecutionArgs are resolve_execution's arguments.
//
// WasmSHA256 (hex) and Signatures are the agreement fields: the sha256 of
// the module that ran and the executors' signatures of the result claim
// (ClaimRequest.Claim). A request that needs k signatures is resolved only
// with k valid ones from distinct registered executor keys.
type ResolveExecutionArgs struct {
	RequestID  uint64              `json:"request_id"`
	Response   ExecutionResponse   `json:"response"`
	WasmSHA256 string              `json:"wasm_sha256,omitempty"`
	Signatures []ExecutorSignature `json:"signatures,omitempty"`
}

// SubmitExecutionOutputArgs are submit_execution_output's arguments.
type SubmitExecutionOutputArgs struct {
	RequestID uint64          `json:"request_id"`
	Output    ExecutionOutput `json:"output"`
}

// SubmitExecutionOutputAndResolveArgs are the large-output path's arguments.
type SubmitExecutionOutputAndResolveArgs struct {
	RequestID       uint64          `json:"request_id"`
	Output          ExecutionOutput `json:"output"`
	Success         bool            `json:"success"`
	Error           *string         `json:"error"`
	ResourcesUsed   ResourceMetrics `json:"resources_used"`
	CompilationNote *string         `json:"compilation_note"`
	// WasmSHA256 and Signatures: as in ResolveExecutionArgs.
	WasmSHA256 string              `json:"wasm_sha256,omitempty"`
	Signatures []ExecutorSignature `json:"signatures,omitempty"`
}

// RequestIDArgs are the arguments of methods that take only a request id.
type RequestIDArgs struct {
	RequestID uint64 `json:"request_id"`
}

// PageArgs page get_pending_requests / get_pending_request_ids: FromIndex
// is a request id (inclusive); Limit defaults to 50 and is capped at 100.
type PageArgs struct {
	FromIndex *uint64 `json:"from_index,omitempty"`
	Limit     *uint64 `json:"limit,omitempty"`
}

// SetPricingArgs updates the given prices (nil fields stay).
type SetPricingArgs struct {
	BaseFee                   *near.U128 `json:"base_fee,omitempty"`
	PerMillionInstructionsFee *near.U128 `json:"per_million_instructions_fee,omitempty"`
	PerMsFee                  *near.U128 `json:"per_ms_fee,omitempty"`
	PerCompileMsFee           *near.U128 `json:"per_compile_ms_fee,omitempty"`
}

// WithdrawFeesArgs withdraws collected fees (all by default) to ReceiverID
// (the owner by default).
type WithdrawFeesArgs struct {
	Amount     *near.U128 `json:"amount,omitempty"`
	ReceiverID string     `json:"receiver_id,omitempty"`
}

// EstimateArgs are estimate_execution_cost's arguments.
type EstimateArgs struct {
	ResourceLimits *ResourceLimits `json:"resource_limits,omitempty"`
}

// ---------------------------------------------------------------------------
// Views.

// U128Number is a u128 the contract writes as a bare JSON number (upstream's
// raw Balance fields, e.g. ExecutionRequest.payment).
type U128Number struct{ near.U128 }

// MarshalJSON implements json.Marshaler.
func (u U128Number) MarshalJSON() ([]byte, error) { return []byte(u.String()), nil }

// UnmarshalJSON accepts a bare number or a decimal string.
func (u *U128Number) UnmarshalJSON(b []byte) error { return u.U128.UnmarshalJSON(b) }

// DataID is a yield's 32-byte data id, a JSON array of 32 numbers.
type DataID [32]byte

// Hex is the lower-case hex form the cluster uses.
func (d DataID) Hex() string { return hex.EncodeToString(d[:]) }

// Pricing is get_pricing's [base_fee, per_million_instructions_fee,
// per_ms_fee, per_compile_ms_fee], each a U128 string.
type Pricing struct {
	BaseFee                   near.U128
	PerMillionInstructionsFee near.U128
	PerMsFee                  near.U128
	PerCompileMsFee           near.U128
}

// DefaultPricing is the contract's initial pricing (upstream's defaults).
func DefaultPricing() Pricing {
	must := func(s string) near.U128 {
		u, err := near.ParseU128(s)
		if err != nil {
			panic(err) // constant input
		}
		return u
	}
	return Pricing{
		BaseFee:                   must("1000000000000000000000"),
		PerMillionInstructionsFee: must("100000000000000"),
		PerMsFee:                  must("100000000000000000"),
		PerCompileMsFee:           must("100000000000000000"),
	}
}

// MarshalJSON implements json.Marshaler.
func (p Pricing) MarshalJSON() ([]byte, error) {
	return json.Marshal([4]near.U128{p.BaseFee, p.PerMillionInstructionsFee, p.PerMsFee, p.PerCompileMsFee})
}

// UnmarshalJSON implements json.Unmarshaler.
func (p *Pricing) UnmarshalJSON(b []byte) error {
	var a [4]near.U128
	if err := json.Unmarshal(b, &a); err != nil {
		return fmt.Errorf("decoding pricing: %w", err)
	}
	*p = Pricing{a[0], a[1], a[2], a[3]}
	return nil
}

// RequestStorageAllowance is the request storage (bytes) that Estimate and
// estimate_execution_cost include: enough for any request without a large
// input (a typical one stores about 1.4 KB). A request that stores more
// needs a larger deposit; the refusal says exactly how much.
const RequestStorageAllowance = 4096

// Estimate is the deposit to attach for a request with these limits whose
// storage fits RequestStorageAllowance — what estimate_execution_cost
// returns: ExecutionEstimate + RequestStorageAllowance × StoragePricePerByte.
// The storage share is refunded at settlement.
func (p Pricing) Estimate(l ResourceLimits) near.U128 {
	sum := new(bigAcc).add(p.ExecutionEstimate(l))
	sum.addMul(near.NewU128(StoragePricePerByte), RequestStorageAllowance)
	return sum.u128()
}

// ExecutionEstimate is the execution part of the deposit, exactly as the
// contract computes it: base + floor(instructions/1M) × per_million +
// seconds × 1000 × per_ms. request_execution requires it plus the
// request's measured storage (ExecutionRequest.StorageBytes ×
// StoragePricePerByte).
func (p Pricing) ExecutionEstimate(l ResourceLimits) near.U128 {
	sum := new(bigAcc).add(p.BaseFee)
	sum.addMul(p.PerMillionInstructionsFee, l.MaxInstructions/1_000_000)
	sum.addMul(p.PerMsFee, l.MaxExecutionSeconds*1000)
	return sum.u128()
}

// Cost is what the callback charges for a successful execution before
// capping at the deposit: each metric is clamped to the request's limits
// (compile time to 300 s), then base + floor(instructions/1M) × per_million
// + time_ms × per_ms + compile_ms × per_compile_ms.
func (p Pricing) Cost(m ResourceMetrics, l ResourceLimits) near.U128 {
	instr := min(m.Instructions, l.MaxInstructions)
	timeMs := min(m.TimeMs, l.MaxExecutionSeconds*1000)
	var compileMs uint64
	if m.CompileTimeMs != nil {
		compileMs = min(*m.CompileTimeMs, MaxCompilationSeconds*1000)
	}
	sum := new(bigAcc).add(p.BaseFee)
	sum.addMul(p.PerMillionInstructionsFee, instr/1_000_000)
	sum.addMul(p.PerMsFee, timeMs)
	sum.addMul(p.PerCompileMsFee, compileMs)
	return sum.u128()
}

// Charge is what the callback actually keeps from payment: min(Cost,
// payment) on success, min(base fee, payment) on failure or timeout. The
// contract never charges a request's storage share: pass the deposit minus
// StorageBytes × StoragePricePerByte as payment.
func (p Pricing) Charge(success bool, m ResourceMetrics, l ResourceLimits, payment near.U128) near.U128 {
	c := p.BaseFee
	if success {
		c = p.Cost(m, l)
	}
	if c.Cmp(payment) > 0 {
		return payment
	}
	return c
}

// ExecutionRequest is get_request's result: upstream's fields in upstream's
// order (payment a bare number), then fields this contract adds.
type ExecutionRequest struct {
	RequestID       uint64           `json:"request_id"`
	DataID          DataID           `json:"data_id"`
	SenderID        string           `json:"sender_id"`
	CodeSource      CodeSource       `json:"code_source"`
	ResourceLimits  ResourceLimits   `json:"resource_limits"`
	Payment         U128Number       `json:"payment"`
	Timestamp       uint64           `json:"timestamp"`
	SecretsRef      *SecretsRef      `json:"secrets_ref"`
	ResponseFormat  ResponseFormat   `json:"response_format"`
	InputData       *string          `json:"input_data"`
	PayerAccountID  string           `json:"payer_account_id"`
	PendingOutput   *ExecutionOutput `json:"pending_output"`
	OutputSubmitted bool             `json:"output_submitted"`
	// Added by this contract.
	CompileOnly   bool    `json:"compile_only"`
	ForceRebuild  bool    `json:"force_rebuild"`
	StoreOnFastFS bool    `json:"store_on_fastfs"`
	BlockHeight   uint64  `json:"block_height"`
	Resolved      bool    `json:"resolved"`
	Pricing       Pricing `json:"pricing"`
	// SignerID signed the transaction (upstream HEAD's event sender_id);
	// SenderID above is the immediate caller.
	SignerID string `json:"signer_id"`
	// ExecutionSource is what the caller sent; ResolvedSource (equal to
	// CodeSource) is what runs.
	ExecutionSource ExecutionSource `json:"execution_source"`
	ResolvedSource  CodeSource      `json:"resolved_source"`
	// ProjectID and ProjectUUID are set for a Project source only.
	ProjectID   *string `json:"project_id"`
	ProjectUUID *string `json:"project_uuid"`
	// RequiredSignatures is the k the resolve must carry (at least 1).
	RequiredSignatures uint64 `json:"required_signatures"`
	// StorageBytes is the contract storage the request holds until it
	// settles (measured at request time); its cost, StorageBytes ×
	// StoragePricePerByte, is part of the deposit and always refunded.
	StorageBytes uint64 `json:"storage_bytes"`
}

// Stats is get_stats's [total_executions, total_fees_collected].
type Stats struct {
	TotalExecutions    uint64
	TotalFeesCollected near.U128
}

// MarshalJSON implements json.Marshaler.
func (s Stats) MarshalJSON() ([]byte, error) {
	return json.Marshal([]any{s.TotalExecutions, s.TotalFeesCollected})
}

// UnmarshalJSON implements json.Unmarshaler.
func (s *Stats) UnmarshalJSON(b []byte) error {
	var a []json.RawMessage
	if err := json.Unmarshal(b, &a); err != nil || len(a) != 2 {
		return fmt.Errorf("decoding stats: want [executions, \"fees\"]: %s", b)
	}
	if err := json.Unmarshal(a[0], &s.TotalExecutions); err != nil {
		return fmt.Errorf("decoding stats executions: %w", err)
	}
	return json.Unmarshal(a[1], &s.TotalFeesCollected)
}

// Fees is get_fees's result.
type Fees struct {
	TotalFeesCollected near.U128 `json:"total_fees_collected"`
	TotalFeesWithdrawn near.U128 `json:"total_fees_withdrawn"`
	Available          near.U128 `json:"available"`
}

// Config is get_config's [owner_id, operator_id].
type Config struct {
	OwnerID    string
	OperatorID string
}

// MarshalJSON implements json.Marshaler.
func (c Config) MarshalJSON() ([]byte, error) {
	return json.Marshal([2]string{c.OwnerID, c.OperatorID})
}

// UnmarshalJSON implements json.Unmarshaler.
func (c *Config) UnmarshalJSON(b []byte) error {
	var a [2]string
	if err := json.Unmarshal(b, &a); err != nil {
		return fmt.Errorf("decoding config: want [owner, operator]: %w", err)
	}
	c.OwnerID, c.OperatorID = a[0], a[1]
	return nil
}

// MaxLimits is get_max_limits's [max_instructions, max_execution_seconds,
// max_compilation_seconds].
type MaxLimits [3]uint64

// bigAcc sums u128 products exactly; the contract saturates at 2^128-1,
// which only absurd owner prices reach, and so does u128().
type bigAcc struct{ v big.Int }

func (a *bigAcc) add(u near.U128) *bigAcc { a.v.Add(&a.v, u.Big()); return a }

func (a *bigAcc) addMul(u near.U128, n uint64) {
	var p big.Int
	p.Mul(u.Big(), new(big.Int).SetUint64(n))
	a.v.Add(&a.v, &p)
}

func (a *bigAcc) u128() near.U128 {
	u, err := near.U128FromBig(&a.v)
	if err != nil {
		return near.U128{Hi: ^uint64(0), Lo: ^uint64(0)}
	}
	return u
}
