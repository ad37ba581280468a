package contracts

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/outlayer/outlayer/attest"
	"github.com/outlayer/outlayer/contracts/near"
)

// ClaimRequest is what the OutLayer contract records about a request and
// binds into its result claim. Fill it from the execution_requested event
// or get_request (ExecutionRequest.ClaimRequest) plus the deployment's
// chain id and contract account.
type ClaimRequest struct {
	ChainID    string // the contract's configured chain id (get_agreement)
	Contract   string // the OutLayer contract account
	RequestID  uint64
	DataID     DataID
	Sender     string // sender_id
	CodeSource CodeSource
	InputData  string      // "" when the request had none
	SecretsRef *SecretsRef // nil when the request named no secrets
	// ProjectID is the project ("owner/name") a Project request runs: its
	// secrets are the project's, whatever the version, so the secrets
	// identity names the project instead of the code source. "" otherwise.
	ProjectID string
}

// ClaimRequest is the claim-relevant part of a get_request view.
func (r ExecutionRequest) ClaimRequest(chainID, contract string) ClaimRequest {
	in := ""
	if r.InputData != nil {
		in = *r.InputData
	}
	cr := ClaimRequest{ChainID: chainID, Contract: contract, RequestID: r.RequestID, DataID: r.DataID,
		Sender: r.SenderID, CodeSource: r.CodeSource, InputData: in, SecretsRef: r.SecretsRef}
	if r.ProjectID != nil {
		cr.ProjectID = *r.ProjectID
	}
	return cr
}

// Claim is the claim the contract recomputes when resp is submitted for
// this request by ResolveCallSigned: wasm is the sha256 of the module that
// ran (zero when none was obtained). resp is first fitted exactly as
// ResolveCallSigned fits it (long errors cut), so every executor that
// computes Claim from the same result gets the same bytes the contract
// hashes. Sign the claim with SignClaim.
func (r ClaimRequest) Claim(wasm [32]byte, resp ExecutionResponse) (attest.ResultClaim, error) {
	fitted, err := fitResponse(r.RequestID, resp)
	if err != nil {
		return attest.ResultClaim{}, err
	}
	kind, payload, err := claimOutcome(fitted.response())
	if err != nil {
		return attest.ResultClaim{}, fmt.Errorf("request %d: %w", r.RequestID, err)
	}
	return attest.ResultClaim{
		ChainID:      r.ChainID,
		Contract:     r.Contract,
		RequestID:    r.RequestID,
		DataID:       r.DataID,
		Sender:       r.Sender,
		WasmSHA256:   wasm,
		InputSHA256:  sha256.Sum256([]byte(r.InputData)),
		Success:      fitted.Success,
		OutputSHA256: attest.OutcomeSHA256(kind, payload),
		Instructions: fitted.ResourcesUsed.Instructions,
		SecretsID:    ClaimSecretsID(r.CodeSource, r.ProjectID, r.SecretsRef),
	}, nil
}

// ClaimSecretsID is the claim's secrets identity: all zeros without
// secrets; otherwise attest.SecretsIdentity(owner, profile, id...) with
// the identity the secrets are bound to: for a project's run "Project" and
// the project id (the keystore binds a project's secrets to the project,
// not to one version's code); else the code source's fields as the
// contract stores them: "GitHub", repo, commit — or "WasmUrl", hash
// (lowercase hex).
func ClaimSecretsID(code CodeSource, projectID string, ref *SecretsRef) [32]byte {
	if ref == nil {
		return [32]byte{}
	}
	var fields []string
	switch {
	case projectID != "":
		fields = []string{"Project", projectID}
	case code.GitHub != nil:
		fields = []string{"GitHub", code.GitHub.Repo, code.GitHub.Commit}
	case code.WasmURL != nil:
		fields = []string{"WasmUrl", strings.ToLower(code.WasmURL.Hash)}
	}
	return attest.SecretsIdentity(ref.AccountID, ref.Profile, fields...)
}

// claimOutcome is the outcome kind and payload the contract hashes for
// resp, computed from resp's wire JSON (so encoding/json's coercions —
// invalid UTF-8 becoming U+FFFD — are the ones the contract sees).
func claimOutcome(resp ExecutionResponse) (byte, []byte, error) {
	wire, err := json.Marshal(resp)
	if err != nil {
		return 0, nil, fmt.Errorf("encoding the response: %w", err)
	}
	var seen ExecutionResponse
	if err := json.Unmarshal(wire, &seen); err != nil {
		return 0, nil, fmt.Errorf("decoding the response: %w", err)
	}
	if !seen.Success {
		e := ""
		if seen.Error != nil {
			e = *seen.Error
		}
		return attest.OutcomeError, []byte(e), nil
	}
	o := seen.Output
	switch {
	case o == nil:
		return attest.OutcomeNone, nil, nil
	case o.Format == FormatBytes:
		return attest.OutcomeBytes, o.Bytes, nil
	case o.Format == FormatText:
		return attest.OutcomeText, []byte(o.Text), nil
	case o.Format == FormatJSON:
		c, err := ContractJSON(o.JSON)
		if err != nil {
			return 0, nil, fmt.Errorf("the Json output: %w", err)
		}
		return attest.OutcomeJSON, c, nil
	}
	return 0, nil, fmt.Errorf("output format %q is not Bytes, Text or Json", o.Format)
}

// ContractJSON rewrites a JSON document the way the contract's JSON writer
// prints it: compact, keys in their order, numbers as written, strings
// with only '"', '\\' and control characters escaped (as serde_json).
func ContractJSON(raw []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var out bytes.Buffer
	// One frame per open array or object: n values written so far (a comma
	// is due when n > 0); in an object, keyNext says the next string is a key.
	type frame struct {
		object, keyNext bool
		n               int
	}
	var stack []frame
	top := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("not valid JSON: %w", err)
		}
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			stack = stack[:len(stack)-1]
			out.WriteByte(byte(d))
			continue
		}
		if len(stack) == 0 {
			if top++; top > 1 {
				return nil, errors.New("not valid JSON: more than one value")
			}
		}
		if len(stack) > 0 {
			f := &stack[len(stack)-1]
			switch {
			case f.object && f.keyNext:
				if f.n > 0 {
					out.WriteByte(',')
				}
				f.n++
				f.keyNext = false
				writeContractString(&out, tok.(string))
				out.WriteByte(':')
				continue
			case f.object:
				f.keyNext = true
			default:
				if f.n > 0 {
					out.WriteByte(',')
				}
				f.n++
			}
		}
		switch v := tok.(type) {
		case json.Delim:
			out.WriteByte(byte(v))
			stack = append(stack, frame{object: v == '{', keyNext: v == '{'})
		case string:
			writeContractString(&out, v)
		case json.Number:
			out.WriteString(string(v))
		case bool:
			if v {
				out.WriteString("true")
			} else {
				out.WriteString("false")
			}
		case nil:
			out.WriteString("null")
		}
	}
	if len(stack) > 0 || top == 0 {
		return nil, errors.New("not valid JSON: unexpected end")
	}
	return out.Bytes(), nil
}

func writeContractString(out *bytes.Buffer, s string) {
	const hexDigits = "0123456789abcdef"
	out.WriteByte('"')
	for _, c := range s {
		switch c {
		case '"':
			out.WriteString(`\"`)
		case '\\':
			out.WriteString(`\\`)
		case '\n':
			out.WriteString(`\n`)
		case '\r':
			out.WriteString(`\r`)
		case '\t':
			out.WriteString(`\t`)
		case '\b':
			out.WriteString(`\b`)
		case '\f':
			out.WriteString(`\f`)
		default:
			if c < 0x20 {
				out.WriteString(`\u00`)
				out.WriteByte(hexDigits[c>>4])
				out.WriteByte(hexDigits[c&15])
			} else {
				var b [utf8.UTFMax]byte
				out.Write(b[:utf8.EncodeRune(b[:], c)])
			}
		}
	}
	out.WriteByte('"')
}

// ExecutorSignature is one executor's signature of a result claim, as the
// resolve methods take it: {"public_key":"ed25519:…","signature":"ed25519:…"}.
type ExecutorSignature struct {
	PublicKey near.PublicKey `json:"public_key"`
	Signature near.Signature `json:"signature"`
}

// SignClaim signs c with an executor's node key (its libp2p ed25519 key,
// registered on the contract with add_executor_key).
func SignClaim(c attest.ResultClaim, key ed25519.PrivateKey) ExecutorSignature {
	s := c.Sign(key)
	sig, _ := near.NewSignature(near.ED25519, s.Signature) // always 64 bytes
	return ExecutorSignature{PublicKey: near.PublicKeyFromEd25519(s.PublicKey), Signature: sig}
}

// VerifyClaimSignature checks s against c, as the contract does for each
// signature (registration and distinctness aside).
func VerifyClaimSignature(c attest.ResultClaim, s ExecutorSignature) error {
	if s.PublicKey.Type != near.ED25519 || s.Signature.Type != near.ED25519 {
		return fmt.Errorf("%w: executor keys and signatures are ed25519", attest.ErrClaimSignature)
	}
	return c.Verify(attest.ClaimSignature{PublicKey: s.PublicKey.Ed25519(), Signature: s.Signature.Bytes()})
}

// WasmHashHex is how the resolve methods take the claim's wasm hash.
func WasmHashHex(h [32]byte) string { return hex.EncodeToString(h[:]) }
