package main

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/outlayer/outlayer/attest"
	"github.com/outlayer/outlayer/contracts"
	"github.com/outlayer/outlayer/contracts/near"
	"github.com/outlayer/outlayer/daemon"
	"github.com/outlayer/outlayer/store"
)

// What verify-result checks of a settled request's resolve on chain: the
// executor signatures the contract accepted, recomputed here from the
// resolve transaction's own arguments, and the attestation behind each
// signing key (the result its node reported, and that result's evidence).

// signatureVerdict is the on-chain part of verify-result's verdict.
type signatureVerdict struct {
	ResolveTx string `json:"resolve_tx"`
	// Required is the k the contract recorded for the request.
	Required  uint64 `json:"required"`
	ClaimHash string `json:"claim_hash"`
	// ChainClaimHash is the hash the contract logged (result_signed).
	ChainClaimHash string          `json:"chain_claim_hash,omitempty"`
	Signers        []signerVerdict `json:"signers"`
	Problems       []string        `json:"problems,omitempty"`
	Notice         string          `json:"notice,omitempty"`
}

// signerVerdict is one signature of the resolve.
type signerVerdict struct {
	Key   string `json:"key"`
	Node  string `json:"node,omitempty"`
	Valid bool   `json:"valid"`
	// Registered: the contract accepted the key as registered at the
	// resolve (its result_signed event names it), or it is registered now.
	Registered bool `json:"registered"`
	// Attestation is the verdict on the signing node's evidence for its
	// result: "tdx", "simulated", or why it failed.
	Attestation string `json:"attestation"`
	Attested    bool   `json:"attested"`
}

// ok reports whether the resolve carried at least Required valid
// signatures by registered keys, each backed by a verified attestation,
// and the claim is the one the contract logged.
//
// A request recorded with k = 0 (only a contract older than the k ≥ 1
// rule made them: its operator alone settled them) passes with none, and
// says so in Notice.
func (v *signatureVerdict) ok() bool {
	if v.Required == 0 && len(v.Signers) == 0 && len(v.Problems) == 0 {
		v.Notice = "the contract required no executor signatures for this request: its operator account alone settled it"
		return true
	}
	good := 0
	for _, s := range v.Signers {
		if s.Valid && s.Registered && s.Attested {
			good++
		}
	}
	return len(v.Problems) == 0 && uint64(good) >= max(v.Required, 1) && good == len(v.Signers)
}

// checkResolveSignatures reads job's resolve transaction (sent by
// operator) and checks its signatures; cfg verifies the attestations
// (simulated ones only with --dev, and then each signed by its node's
// key).
func checkResolveSignatures(ctx context.Context, rpcURL, contract, operator string, job *store.Job, cfg attest.VerifierConfig) (*signatureVerdict, error) {
	cl := near.NewClient(rpcURL)
	v := &signatureVerdict{ResolveTx: job.ResolveTx, Required: job.RequiredSignatures}
	h, err := near.ParseCryptoHash(job.ResolveTx)
	if err != nil {
		return nil, fmt.Errorf("the node's resolve transaction %q: %w", job.ResolveTx, err)
	}
	out, err := cl.TxStatus(ctx, h, operator, near.TxFinal)
	if err != nil {
		return nil, fmt.Errorf("reading resolve transaction %s of %s: %w", h, operator, err)
	}
	if out.Transaction == nil || out.Transaction.ReceiverID != contract || len(out.Transaction.Actions) != 1 {
		return nil, fmt.Errorf("transaction %s is not a call to %s", h, contract)
	}
	fc, ok := out.Transaction.Actions[0].Action.(near.FunctionCall)
	if !ok {
		return nil, fmt.Errorf("transaction %s is not a function call", h)
	}
	var resp contracts.ExecutionResponse
	var wasmHex string
	var sigs []contracts.ExecutorSignature
	var id uint64
	switch fc.MethodName {
	case contracts.MethodResolveExecution:
		var a contracts.ResolveExecutionArgs
		if err := json.Unmarshal(fc.Args, &a); err != nil {
			return nil, fmt.Errorf("the resolve's arguments: %w", err)
		}
		id, resp, wasmHex, sigs = a.RequestID, a.Response, a.WasmSHA256, a.Signatures
	case contracts.MethodSubmitExecutionOutputAndResolve:
		var a contracts.SubmitExecutionOutputAndResolveArgs
		if err := json.Unmarshal(fc.Args, &a); err != nil {
			return nil, fmt.Errorf("the resolve's arguments: %w", err)
		}
		id, wasmHex, sigs = a.RequestID, a.WasmSHA256, a.Signatures
		resp = contracts.ExecutionResponse{Success: a.Success, Output: &a.Output, Error: a.Error, ResourcesUsed: a.ResourcesUsed, CompilationNote: a.CompilationNote}
	default:
		return nil, fmt.Errorf("transaction %s calls %s, not a resolve method", h, fc.MethodName)
	}
	if id != job.ID {
		return nil, fmt.Errorf("transaction %s resolves request %d, not %d", h, id, job.ID)
	}
	if err := out.Err(); err != nil {
		v.Problems = append(v.Problems, fmt.Sprintf("the resolve transaction failed: %v", err))
	}
	var wasm [32]byte
	if wasmHex != "" {
		raw, err := hex.DecodeString(wasmHex)
		if err != nil || len(raw) != 32 {
			return nil, fmt.Errorf("the resolve's wasm_sha256 %q is not 32 bytes of hex", wasmHex)
		}
		copy(wasm[:], raw)
	}
	chainID, err := claimChainID(ctx, cl, contract)
	if err != nil {
		return nil, err
	}
	cr, err := daemon.ClaimRequestFor(chainID, contract, job)
	if err != nil {
		return nil, err
	}
	claim, err := cr.Claim(wasm, resp)
	if err != nil {
		return nil, fmt.Errorf("recomputing the claim: %w", err)
	}
	ch := claim.Hash()
	v.ClaimHash = hex.EncodeToString(ch[:])
	// The keys the contract logged as the resolve's signers were
	// registered when it accepted them; the cluster may have removed them
	// since (a restarted node's old identity), which does not make the
	// settled result any less checked.
	registered := map[string]bool{}
	if evs, err := contracts.OutLayerEvents(out.Logs()); err == nil {
		for _, ev := range evs {
			var rs contracts.ResultSigned
			if ev.Event == contracts.EventResultSigned && ev.Decode(ev.Event, &rs) == nil && rs.RequestID == job.ID {
				v.ChainClaimHash = rs.ClaimHash
				for _, k := range rs.Signers {
					registered[k] = true
				}
			}
		}
	}
	if v.Required > 0 && v.ChainClaimHash != v.ClaimHash {
		v.Problems = append(v.Problems, fmt.Sprintf("the contract logged claim %q, the resolve's arguments give %s", v.ChainClaimHash, v.ClaimHash))
	}
	var keys []contracts.ExecutorKey
	if err := cl.ViewFunction(ctx, contract, contracts.MethodListExecutorKeys, nil, &keys); err != nil {
		return nil, fmt.Errorf("reading the contract's executor keys: %w", err)
	}
	for _, k := range keys {
		registered[k.PublicKey] = true
	}
	results := map[string]*store.Result{}
	if job.Result != nil {
		results[job.Result.Node] = job.Result
	}
	if job.Agreement != nil {
		for i := range job.Agreement.Results {
			results[job.Agreement.Results[i].Node] = &job.Agreement.Results[i]
		}
	}
	for _, s := range sigs {
		sv := signerVerdict{Key: s.PublicKey.String(), Registered: registered[s.PublicKey.String()]}
		sv.Valid = contracts.VerifyClaimSignature(claim, s) == nil
		pid, err := peerOf(s.PublicKey)
		if err != nil {
			sv.Attestation = err.Error()
			v.Signers = append(v.Signers, sv)
			continue
		}
		sv.Node = pid.String()
		sv.Attestation, sv.Attested = attestationBehind(ctx, cfg, chainID, contract, job, results[sv.Node])
		v.Signers = append(v.Signers, sv)
	}
	return v, nil
}

// claimChainID is the chain id the contract's result claims bind: its
// configured one (get_agreement), or, for a contract without one (it
// requires no signatures), the RPC node's — as the cluster does.
func claimChainID(ctx context.Context, cl *near.Client, contract string) (string, error) {
	var agreement contracts.Agreement
	if err := cl.ViewFunction(ctx, contract, contracts.MethodGetAgreement, nil, &agreement); err != nil {
		return "", fmt.Errorf("reading the contract's agreement settings: %w", err)
	}
	if agreement.ChainID != "" {
		return agreement.ChainID, nil
	}
	st, err := cl.Status(ctx)
	if err != nil {
		return "", fmt.Errorf("reading the RPC node's chain id: %w", err)
	}
	return st.ChainID, nil
}

// peerOf is the libp2p peer id of an executor key (the node's identity).
func peerOf(k near.PublicKey) (peer.ID, error) {
	pub, err := crypto.UnmarshalEd25519PublicKey(k.Ed25519())
	if err != nil {
		return "", fmt.Errorf("key %s is not an ed25519 node key: %w", k, err)
	}
	return peer.IDFromPublicKey(pub)
}

// attestationBehind verifies the evidence of the result node res reported
// (nil: the node reported none the API shows).
func attestationBehind(ctx context.Context, cfg attest.VerifierConfig, chainID, contract string, job *store.Job, res *store.Result) (string, bool) {
	if res == nil {
		return "the signing node's result is not in the request's record", false
	}
	if len(res.Attestation) == 0 {
		return "the signing node's result carries no attestation", false
	}
	ev, err := attest.ParseEvidence(res.Attestation)
	if err != nil {
		return err.Error(), false
	}
	claim, err := daemon.ResultClaimFor(chainID, contract, job, res)
	if err != nil {
		return err.Error(), false
	}
	if ev.Kind == attest.KindSimulated && cfg.DevMode {
		pub, err := nodePublicKey(res.Node)
		if err != nil {
			return err.Error(), false
		}
		cfg.DevKeys = []ed25519.PublicKey{pub}
	}
	if _, err := attest.VerifyResult(ctx, attest.NewVerifier(cfg), ev, claim); err != nil {
		return err.Error(), false
	}
	return strings.ToLower(string(ev.Kind)), true
}
