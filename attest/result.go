package attest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
)

// PurposeResult is the report-data purpose of a result attestation: a
// node states that it ran a request and got this result. A join quote can
// never pass for a result quote, nor the reverse.
const PurposeResult = "result"

// ClaimDomain opens every encoded ResultClaim (version 2). A claim of
// another version, or any other signed message, can never be read as one.
const ClaimDomain = "outlayer-claim-v2"

// Outcome kinds: the first byte of the preimage of ResultClaim.OutputSHA256,
// so a failure's error text, a Text output and a Bytes output with the same
// bytes never hash alike.
const (
	OutcomeError byte = 0 // a failure: the error text (UTF-8; empty when none)
	OutcomeNone  byte = 1 // a success without output (compile-only)
	OutcomeBytes byte = 2 // a Bytes output: the raw bytes
	OutcomeText  byte = 3 // a Text output: its UTF-8
	OutcomeJSON  byte = 4 // a Json output: its compact JSON as the contract writes it
)

// ResultClaim is what an executor states about one request's result, and
// what the OutLayer contract recomputes — from its own record of the
// request and the submitted result — before it accepts executor
// signatures. Everything is a hash, a number or an account id, so anyone
// can recompute it from the chain.
//
// Encode gives the canonical bytes (layout in contracts/DESIGN.md, "The
// result claim"); Hash is their sha256; executors sign Hash with their
// node's ed25519 key (Sign, Verify); a TEE quote over the claim carries
// ReportData, which binds Hash. Build claims for OutLayer requests with
// contracts.ClaimRequest.Claim, which derives every hash exactly as the
// contract does.
type ResultClaim struct {
	// ChainID is the NEAR chain id the contract is configured with
	// (get_agreement's chain_id), e.g. "mainnet".
	ChainID string
	// Contract is the OutLayer contract's account id.
	Contract string
	// RequestID is the contract's request id.
	RequestID uint64
	// DataID is the request's yield data id (unique per yield).
	DataID [32]byte
	// Sender is the account that called request_execution.
	Sender string
	// WasmSHA256 is the sha256 of the WASM module that ran; all zeros when
	// no module was obtained (the build or download failed, or the
	// request's secrets were refused before any code was fetched).
	WasmSHA256 [32]byte
	// InputSHA256 is sha256 of the request's input bytes exactly as the
	// program received them (sha256 of nothing for an empty input).
	InputSHA256 [32]byte
	// Success is the result's success flag.
	Success bool
	// OutputSHA256 is OutcomeSHA256 of what the caller's side receives:
	// the error text on failure, the typed output on success.
	OutputSHA256 [32]byte
	// Instructions is the metered instruction count.
	Instructions uint64
	// SecretsID is SecretsIdentity of the secrets the request named, all
	// zeros when it named none. It identifies which secrets, never their
	// values.
	SecretsID [32]byte
}

// ClaimSignature is one executor's signature of a claim: an ed25519
// public key and its signature over ResultClaim.Hash().
type ClaimSignature struct {
	PublicKey ed25519.PublicKey
	Signature []byte
}

// ErrClaimSignature marks a signature that is not a valid ed25519
// signature of the claim by the key it names.
var ErrClaimSignature = errors.New("not a valid signature of this result claim")

// OutcomeSHA256 is sha256(kind || payload): the claim's output hash.
func OutcomeSHA256(kind byte, payload []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte{kind})
	h.Write(payload)
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// secretsDomain opens the preimage of a secrets identity.
const secretsDomain = "outlayer-secrets-id-v1"

// SecretsIdentity names the secrets a request asked for without their
// values: sha256 of secretsDomain followed by each field length-prefixed
// (u32 big-endian): the owner account, the profile, then the code fields
// that select the accessor (contracts.ClaimRequest passes the code
// source's tag and fields). contracts/DESIGN.md gives the exact fields.
func SecretsIdentity(owner, profile string, code ...string) [32]byte {
	h := sha256.New()
	h.Write([]byte(secretsDomain))
	for _, f := range append([]string{owner, profile}, code...) {
		writeBytes(h, []byte(f))
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}

type byteWriter interface{ Write([]byte) (int, error) }

func writeBytes(w byteWriter, b []byte) {
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(b)))
	w.Write(n[:])
	w.Write(b)
}

// Encode is the claim's canonical encoding:
//
//	"outlayer-claim-v2" || str(chain_id) || str(contract) || u64(request_id) ||
//	data_id[32] || str(sender) || wasm_sha256[32] || input_sha256[32] ||
//	u8(success) || output_sha256[32] || u64(instructions) || secrets_id[32]
//
// with str(s) = u32be(len) || s and u64 big-endian.
func (c ResultClaim) Encode() []byte {
	var b bytes.Buffer
	b.Grow(len(ClaimDomain) + 3*4 + len(c.ChainID) + len(c.Contract) + len(c.Sender) + 8*2 + 32*5 + 1)
	b.WriteString(ClaimDomain)
	writeBytes(&b, []byte(c.ChainID))
	writeBytes(&b, []byte(c.Contract))
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], c.RequestID)
	b.Write(n[:])
	b.Write(c.DataID[:])
	writeBytes(&b, []byte(c.Sender))
	b.Write(c.WasmSHA256[:])
	b.Write(c.InputSHA256[:])
	if c.Success {
		b.WriteByte(1)
	} else {
		b.WriteByte(0)
	}
	b.Write(c.OutputSHA256[:])
	binary.BigEndian.PutUint64(n[:], c.Instructions)
	b.Write(n[:])
	b.Write(c.SecretsID[:])
	return b.Bytes()
}

// Hash is sha256(Encode()): what executors sign and the contract verifies.
func (c ResultClaim) Hash() [32]byte { return sha256.Sum256(c.Encode()) }

// Sign signs the claim's Hash with an executor's node key.
func (c ResultClaim) Sign(key ed25519.PrivateKey) ClaimSignature {
	h := c.Hash()
	return ClaimSignature{PublicKey: key.Public().(ed25519.PublicKey), Signature: ed25519.Sign(key, h[:])}
}

// Verify checks that s is s.PublicKey's signature of this claim; anything
// else is ErrClaimSignature. Which keys count (registered, distinct, how
// many) is the contract's decision, not this one's.
func (c ResultClaim) Verify(s ClaimSignature) error {
	if len(s.PublicKey) != ed25519.PublicKeySize || len(s.Signature) != ed25519.SignatureSize {
		return fmt.Errorf("%w: want a %d-byte key and a %d-byte signature, got %d and %d",
			ErrClaimSignature, ed25519.PublicKeySize, ed25519.SignatureSize, len(s.PublicKey), len(s.Signature))
	}
	h := c.Hash()
	if !ed25519.Verify(s.PublicKey, h[:], s.Signature) {
		return fmt.Errorf("%w (request %d, key %x…)", ErrClaimSignature, c.RequestID, []byte(s.PublicKey[:6]))
	}
	return nil
}

// ReportData is BindReportData(PurposeResult, Hash()): a TEE quote over
// the claim binds exactly the bytes the executors sign.
func (c ResultClaim) ReportData() ReportData {
	h := c.Hash()
	return BindReportData(PurposeResult, h[:])
}

// MarshalJSON shows the hashes in hex, as the API serves them.
func (c ResultClaim) MarshalJSON() ([]byte, error) {
	return json.Marshal(resultClaimJSON{
		Version:      ClaimDomain,
		ChainID:      c.ChainID,
		Contract:     c.Contract,
		RequestID:    c.RequestID,
		DataID:       hex.EncodeToString(c.DataID[:]),
		Sender:       c.Sender,
		WasmSHA256:   hex.EncodeToString(c.WasmSHA256[:]),
		InputSHA256:  hex.EncodeToString(c.InputSHA256[:]),
		Success:      c.Success,
		OutputSHA256: hex.EncodeToString(c.OutputSHA256[:]),
		Instructions: c.Instructions,
		SecretsID:    hex.EncodeToString(c.SecretsID[:]),
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
	if j.Version != ClaimDomain {
		return fmt.Errorf("result claim: version %q, this build reads %q", j.Version, ClaimDomain)
	}
	out := ResultClaim{ChainID: j.ChainID, Contract: j.Contract, RequestID: j.RequestID, Sender: j.Sender,
		Success: j.Success, Instructions: j.Instructions}
	for _, f := range []struct {
		name string
		hex  string
		dst  *[32]byte
	}{
		{"data_id", j.DataID, &out.DataID},
		{"wasm_sha256", j.WasmSHA256, &out.WasmSHA256},
		{"input_sha256", j.InputSHA256, &out.InputSHA256},
		{"output_sha256", j.OutputSHA256, &out.OutputSHA256},
		{"secrets_id", j.SecretsID, &out.SecretsID},
	} {
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
	Version      string `json:"version"`
	ChainID      string `json:"chain_id"`
	Contract     string `json:"contract"`
	RequestID    uint64 `json:"request_id"`
	DataID       string `json:"data_id"`
	Sender       string `json:"sender"`
	WasmSHA256   string `json:"wasm_sha256"`
	InputSHA256  string `json:"input_sha256"`
	Success      bool   `json:"success"`
	OutputSHA256 string `json:"output_sha256"`
	Instructions uint64 `json:"instructions"`
	SecretsID    string `json:"secrets_id"`
}

// AttestResult asks a to quote over the claim's report data.
func AttestResult(ctx context.Context, a Attester, c ResultClaim) (Evidence, error) {
	ev, err := a.Quote(ctx, c.ReportData())
	if err != nil {
		return Evidence{}, fmt.Errorf("attesting the result of request %d: %w", c.RequestID, err)
	}
	return ev, nil
}

// ErrUnboundClaim marks a result claim that names no deployment (chain id
// or contract empty): evidence over it would verify for any deployment
// running the same program on the same input.
var ErrUnboundClaim = errors.New("the result claim binds no deployment (chain id and contract are required)")

// VerifyResult checks that ev is valid evidence (Verify: signature, TCB,
// policy) whose report data is exactly the claim's. Any changed field is
// refused with ErrReportData; a claim without a chain id or contract with
// ErrUnboundClaim.
func VerifyResult(ctx context.Context, v *Verifier, ev Evidence, c ResultClaim) (Report, error) {
	if c.ChainID == "" || c.Contract == "" {
		return Report{}, fmt.Errorf("the result attestation of request %d: %w", c.RequestID, ErrUnboundClaim)
	}
	r, err := v.Verify(ctx, ev, c.ReportData())
	if err != nil {
		return Report{}, fmt.Errorf("the result attestation of request %d: %w", c.RequestID, err)
	}
	return r, nil
}
