package contracts

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/outlayer/outlayer/internal/textcut"
)

// MaxErrorBytes is how long an error message may be in a failed response
// (upstream's worker truncates to 512 bytes as well).
const MaxErrorBytes = 512

// ResolveCall chooses how the operator submits resp for requestID, the way
// upstream's worker does: resolve_execution when the response's JSON fits
// the 1024-byte yield payload; otherwise, for a successful response with an
// output, submit_execution_output_and_resolve (the output goes into
// contract state); otherwise the error and note are truncated until it
// fits. It returns the method name and its arguments, ready to send with
// 300 Tgas and no deposit.
func ResolveCall(requestID uint64, resp ExecutionResponse) (method string, args any, err error) {
	if resp.Error != nil && len(*resp.Error) > MaxErrorBytes {
		e := textcut.Head(*resp.Error, MaxErrorBytes)
		resp.Error = &e
	}
	fits, err := resp.FitsYieldPayload()
	if err != nil {
		return "", nil, fmt.Errorf("encoding the response of request %d: %w", requestID, err)
	}
	if fits {
		return MethodResolveExecution, ResolveExecutionArgs{RequestID: requestID, Response: resp}, nil
	}
	if resp.Success && resp.Output != nil {
		out, err := json.Marshal(resp.Output)
		if err != nil {
			return "", nil, fmt.Errorf("encoding the output of request %d: %w", requestID, err)
		}
		if len(out) > MaxOutputBytes*4+64 {
			// The contract caps the payload at 1 MiB; a JSON byte array
			// takes up to 4 bytes per byte, so this is a cheap early refusal.
			return "", nil, fmt.Errorf("request %d: output too large for the contract (its limit is %d bytes)", requestID, MaxOutputBytes)
		}
		meta := resp
		meta.Output = nil
		if ok, _ := meta.FitsYieldPayload(); !ok && meta.CompilationNote != nil {
			meta.CompilationNote = nil
		}
		return MethodSubmitExecutionOutputAndResolve, SubmitExecutionOutputAndResolveArgs{
			RequestID: requestID, Output: *resp.Output, Success: true, Error: meta.Error,
			ResourcesUsed: meta.ResourcesUsed, CompilationNote: meta.CompilationNote,
		}, nil
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
	return MethodResolveExecution, ResolveExecutionArgs{RequestID: requestID, Response: resp}, nil
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
