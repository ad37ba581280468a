package contracts

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/outlayer/outlayer/contracts/near"
	"github.com/outlayer/outlayer/internal/textcut"
)

// MaxErrorBytes is how long an error message may be in a failed response
// (upstream's worker truncates to 512 bytes as well).
const MaxErrorBytes = 512

// ResolveCall is ResolveCallSigned without a wasm hash or signatures: the
// method choice alone. The contract refuses every resolve that carries no
// executor signature (k is at least 1), so send ResolveCallSigned.
func ResolveCall(requestID uint64, resp ExecutionResponse) (method string, args any, err error) {
	return ResolveCallSigned(requestID, resp, [32]byte{}, nil)
}

// ResolveCallSigned chooses how the operator submits resp for requestID,
// the way upstream's worker does: resolve_execution when the response's
// JSON fits the 1024-byte yield payload; otherwise, for a successful
// response with an output, submit_execution_output_and_resolve (the output
// goes into contract state); otherwise the error and note are truncated
// until it fits. wasm (the module's sha256, zero when none was obtained)
// and sigs (the executors' SignClaim signatures of ClaimRequest.Claim(wasm,
// resp)) go with the arguments. It returns the method name and its
// arguments, ready to send with ResolveGas and no deposit.
func ResolveCallSigned(requestID uint64, resp ExecutionResponse, wasm [32]byte, sigs []ExecutorSignature) (method string, args any, err error) {
	f, err := fitResponse(requestID, resp)
	if err != nil {
		return "", nil, err
	}
	var wasmHex string
	if wasm != ([32]byte{}) || len(sigs) > 0 {
		wasmHex = WasmHashHex(wasm)
	}
	if f.method == MethodResolveExecution {
		return f.method, ResolveExecutionArgs{RequestID: requestID, Response: f.ExecutionResponse,
			WasmSHA256: wasmHex, Signatures: sigs}, nil
	}
	return f.method, SubmitExecutionOutputAndResolveArgs{
		RequestID: requestID, Output: *f.Output, Success: true, Error: f.Error,
		ResourcesUsed: f.ResourcesUsed, CompilationNote: f.CompilationNote,
		WasmSHA256: wasmHex, Signatures: sigs,
	}, nil
}

// fittedResponse is a response as the contract will see it, and the
// method that carries it.
type fittedResponse struct {
	method string
	ExecutionResponse
}

func (f fittedResponse) response() ExecutionResponse { return f.ExecutionResponse }

// fitResponse applies ResolveCallSigned's rules: the error cut to
// MaxErrorBytes; a response that does not fit the yield payload goes
// through submit_execution_output_and_resolve when it is a success with
// output (compilation note dropped if the rest does not fit), else its
// texts are shortened until it fits.
func fitResponse(requestID uint64, resp ExecutionResponse) (fittedResponse, error) {
	if resp.Error != nil && len(*resp.Error) > MaxErrorBytes {
		e := textcut.Head(*resp.Error, MaxErrorBytes)
		resp.Error = &e
	}
	fits, err := resp.FitsYieldPayload()
	if err != nil {
		return fittedResponse{}, fmt.Errorf("encoding the response of request %d: %w", requestID, err)
	}
	if fits {
		return fittedResponse{MethodResolveExecution, resp}, nil
	}
	if resp.Success && resp.Output != nil {
		out, err := json.Marshal(resp.Output)
		if err != nil {
			return fittedResponse{}, fmt.Errorf("encoding the output of request %d: %w", requestID, err)
		}
		if len(out) > MaxOutputBytes*4+64 {
			// The contract caps the payload at 1 MiB; a JSON byte array
			// takes up to 4 bytes per byte, so this is a cheap early refusal.
			return fittedResponse{}, fmt.Errorf("request %d: output too large for the contract (its limit is %d bytes)", requestID, MaxOutputBytes)
		}
		meta := resp
		meta.Output = nil
		if ok, _ := meta.FitsYieldPayload(); !ok && meta.CompilationNote != nil {
			resp.CompilationNote = nil
		}
		return fittedResponse{MethodSubmitExecutionOutputAndResolve, resp}, nil
	}
	// A failure (or an output-less success) that does not fit: shorten the
	// texts, which are the only unbounded parts left.
	resp.Output = nil
	resp.CompilationNote = nil
	for resp.Error != nil && *resp.Error != "" {
		if ok, _ := resp.FitsYieldPayload(); ok {
			break
		}
		e := textcut.Head(*resp.Error, len(*resp.Error)/2)
		resp.Error = &e
	}
	return fittedResponse{MethodResolveExecution, resp}, nil
}

// OutputIn wraps a program's stdout in the response format the request
// asked for ("" is Text, the contract's default). Json output must parse
// (surrounding whitespace is dropped); a format other than Bytes, Text or
// Json is refused, never answered in another format.
func OutputIn(format ResponseFormat, out []byte) (*ExecutionOutput, error) {
	switch format {
	case FormatBytes:
		return BytesOutput(out), nil
	case FormatText, "":
		return TextOutput(string(out)), nil
	case FormatJSON:
		raw := bytes.TrimSpace(out)
		if !json.Valid(raw) {
			return nil, fmt.Errorf("the output is not valid JSON, which the Json response format needs")
		}
		return JSONOutput(json.RawMessage(raw)), nil
	}
	return nil, fmt.Errorf("response format %q is not Bytes, Text or Json", format)
}

// Resolve gas, measured on the devchain (nearcore's fee table) by
// TestResolveGasCoversMeasuredUse, which also proves every estimate
// suffices: a resolve burns about 3 Tgas before signatures, the first
// signature adds ~0.7 Tgas (the claim and its hash), each further one
// ~0.47 Tgas (base58, a storage lookup and ed25519_verify); argument bytes
// cost ~0.17 Ggas each for text, ~0.27 Ggas in a Bytes array and ~0.9 Ggas
// in Json (parsed, re-serialised and hashed).
const (
	resolveGasBase            = 4 * near.TGas
	resolveGasPerSignature    = near.TGas / 2
	resolveGasPerByte         = 200_000_000
	resolveGasPerBytesByte    = 300_000_000
	resolveGasPerJSONByte     = 1_000_000_000
	resolveGasMarginNumerator = 3 // ×1.5: headroom over the devchain's measure
	resolveGasMarginDivisor   = 2
	// MaxResolveGas is NEAR's per-transaction gas limit.
	MaxResolveGas = 300 * near.TGas
)

// ResolveGas is the gas to attach to a resolve made by ResolveCallSigned
// (args is its second result): what the method burns for this many bytes
// of this output kind and this many signatures, with 50% headroom. The
// yield callback's gas was reserved at request time and is not included.
// A payload whose estimate passes MaxResolveGas is an error: it cannot be
// resolved in one transaction (a Json output over ~190 KB, a Bytes output
// over ~600 KB).
func ResolveGas(args any) (uint64, error) {
	raw, err := json.Marshal(args)
	if err != nil {
		return 0, fmt.Errorf("encoding the resolve arguments: %w", err)
	}
	var sigs int
	var out *ExecutionOutput
	switch a := args.(type) {
	case ResolveExecutionArgs:
		sigs, out = len(a.Signatures), a.Response.Output
	case SubmitExecutionOutputAndResolveArgs:
		sigs, out = len(a.Signatures), &a.Output
	default:
		return 0, fmt.Errorf("ResolveGas takes ResolveExecutionArgs or SubmitExecutionOutputAndResolveArgs, not %T", args)
	}
	perByte := uint64(resolveGasPerByte)
	if out != nil {
		switch out.Format {
		case FormatBytes:
			perByte = resolveGasPerBytesByte
		case FormatJSON:
			perByte = resolveGasPerJSONByte
		}
	}
	gas := resolveGasBase + uint64(sigs)*resolveGasPerSignature + uint64(len(raw))*perByte
	gas = gas / resolveGasMarginDivisor * resolveGasMarginNumerator
	if gas > MaxResolveGas {
		return 0, fmt.Errorf("resolving needs about %d Tgas for a %d-byte payload, over NEAR's %d Tgas per transaction", gas/near.TGas, len(raw), MaxResolveGas/near.TGas)
	}
	return gas, nil
}
