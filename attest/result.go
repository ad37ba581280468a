package attest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
)

// PurposeResult is the report-data purpose of a result attestation: a
// node states that it ran a request and got this result. A join quote can
// never pass for a result quote, nor the reverse.
const PurposeResult = "result"

// ResultClaim is what a result attestation binds: which request, which
// program, which input, and what came out. Everything is a hash or a
// number, so the report data can be recomputed from what the node's API
// and the chain publish.
type ResultClaim struct {
	RequestID uint64
	// WasmSHA256 is the sha256 of the WASM module that ran; all zeros when
	// no module was obtained (the build or download failed, or the
	// request's secrets were refused before any code was fetched).
	WasmSHA256 [32]byte
	// InputSHA256 is sha256 of the request's input bytes exactly as the
	// program received them (sha256 of nothing for an empty input).
	InputSHA256 [32]byte
	// Success is the result's success flag.
	Success bool
	// OutputSHA256 is sha256 of the output bytes on success, and of the
	// error text (store.Result.Error, byte for byte) on failure: whatever
	// the caller receives is what is bound.
	OutputSHA256 [32]byte
	// Instructions is the metered instruction count.
	Instructions uint64
}

// NewResultClaim hashes input and outcome into a claim. outcome is the
// output on success and the error text on failure.
func NewResultClaim(requestID uint64, wasmSHA256 [32]byte, input []byte, success bool, outcome []byte, instructions uint64) ResultClaim {
	return ResultClaim{
		RequestID:    requestID,
		WasmSHA256:   wasmSHA256,
		InputSHA256:  sha256.Sum256(input),
		Success:      success,
		OutputSHA256: sha256.Sum256(outcome),
		Instructions: instructions,
	}
}

// ReportData is BindReportData(PurposeResult, u64be(request id), wasm
// sha256, input sha256, success byte (0 or 1), output sha256,
// u64be(instructions)): six length-prefixed fields.
func (c ResultClaim) ReportData() ReportData {
	var id, instr [8]byte
	binary.BigEndian.PutUint64(id[:], c.RequestID)
	binary.BigEndian.PutUint64(instr[:], c.Instructions)
	success := []byte{0}
	if c.Success {
		success[0] = 1
	}
	return BindReportData(PurposeResult, id[:], c.WasmSHA256[:], c.InputSHA256[:], success, c.OutputSHA256[:], instr[:])
}

// MarshalJSON shows the hashes in hex, as the API serves them.
func (c ResultClaim) MarshalJSON() ([]byte, error) {
	return json.Marshal(resultClaimJSON{
		RequestID:    c.RequestID,
		WasmSHA256:   hex.EncodeToString(c.WasmSHA256[:]),
		InputSHA256:  hex.EncodeToString(c.InputSHA256[:]),
		Success:      c.Success,
		OutputSHA256: hex.EncodeToString(c.OutputSHA256[:]),
		Instructions: c.Instructions,
	})
}

// UnmarshalJSON reads MarshalJSON's form.
func (c *ResultClaim) UnmarshalJSON(b []byte) error {
	var j resultClaimJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return fmt.Errorf("result claim: %w", err)
	}
	out := ResultClaim{RequestID: j.RequestID, Success: j.Success, Instructions: j.Instructions}
	for _, f := range []struct {
		name string
		hex  string
		dst  *[32]byte
	}{{"wasm_sha256", j.WasmSHA256, &out.WasmSHA256}, {"input_sha256", j.InputSHA256, &out.InputSHA256}, {"output_sha256", j.OutputSHA256, &out.OutputSHA256}} {
		raw, err := hex.DecodeString(f.hex)
		if err != nil || len(raw) != 32 {
			return fmt.Errorf("result claim: %s must be 64 hex characters, got %q", f.name, f.hex)
		}
		copy(f.dst[:], raw)
	}
	*c = out
	return nil
}

type resultClaimJSON struct {
	RequestID    uint64 `json:"request_id"`
	WasmSHA256   string `json:"wasm_sha256"`
	InputSHA256  string `json:"input_sha256"`
	Success      bool   `json:"success"`
	OutputSHA256 string `json:"output_sha256"`
	Instructions uint64 `json:"instructions"`
}

// AttestResult asks a to quote over the claim's report data.
func AttestResult(ctx context.Context, a Attester, c ResultClaim) (Evidence, error) {
	ev, err := a.Quote(ctx, c.ReportData())
	if err != nil {
		return Evidence{}, fmt.Errorf("attesting the result of request %d: %w", c.RequestID, err)
	}
	return ev, nil
}

// VerifyResult checks that ev is valid evidence (Verify: signature, TCB,
// policy) whose report data is exactly the claim's. Any changed field —
// request id, program, input, success, output, instruction count — is
// refused with ErrReportData.
func VerifyResult(ctx context.Context, v *Verifier, ev Evidence, c ResultClaim) (Report, error) {
	r, err := v.Verify(ctx, ev, c.ReportData())
	if err != nil {
		return Report{}, fmt.Errorf("the result attestation of request %d: %w", c.RequestID, err)
	}
	return r, nil
}
