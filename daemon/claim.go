package daemon

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"github.com/outlayer/outlayer/attest"
	"github.com/outlayer/outlayer/contracts"
	"github.com/outlayer/outlayer/contracts/near"
	"github.com/outlayer/outlayer/store"
)

// Result claims and executor signatures (see DESIGN.md, "Agreement"): each
// executor signs the claim the contract will recompute for its result
// (contracts.ClaimRequest.Claim), with its node's ed25519 key — the key the
// contract knows it by (add_executor_key). The resolver sends the
// majority's signatures with the result.

// ClaimRequestFor is what the contract recorded about j, as its claim
// binds it.
func ClaimRequestFor(chainID, contract string, j *store.Job) (contracts.ClaimRequest, error) {
	cr := contracts.ClaimRequest{ChainID: chainID, Contract: contract, RequestID: j.ID, Sender: j.Sender, InputData: j.Input,
		ProjectID: j.ProjectID}
	if j.DataID != "" {
		raw, err := hex.DecodeString(j.DataID)
		if err != nil || len(raw) != len(cr.DataID) {
			return cr, fmt.Errorf("request %d: data id %q is not 32 bytes of hex", j.ID, j.DataID)
		}
		copy(cr.DataID[:], raw)
	}
	switch {
	case j.Code.Git != nil:
		cr.CodeSource.GitHub = &contracts.GitHubSource{Repo: j.Code.Git.Repo, Commit: j.Code.Git.Commit}
	case j.Code.Wasm != nil:
		cr.CodeSource.WasmURL = &contracts.WasmURLSource{URL: j.Code.Wasm.URL, Hash: j.Code.Wasm.Hash}
	}
	if s := j.Secrets; s != nil {
		cr.SecretsRef = &contracts.SecretsRef{Profile: s.Profile, AccountID: s.AccountID}
	}
	return cr, nil
}

// wasmOf is the claim's WASM hash of res (zero when no module was
// obtained).
func wasmOf(id uint64, res *store.Result) ([32]byte, error) {
	var wasm [32]byte
	if res.WasmHash == "" {
		return wasm, nil
	}
	raw, err := hex.DecodeString(res.WasmHash)
	if err != nil || len(raw) != len(wasm) {
		return wasm, fmt.Errorf("request %d: wasm hash %q is not 32 bytes of hex", id, res.WasmHash)
	}
	copy(wasm[:], raw)
	return wasm, nil
}

// claimFor is the claim the contract recomputes when res is submitted as
// the result of j: exactly what each executor signs.
func claimFor(chainID, contract string, j *store.Job, res *store.Result) (attest.ResultClaim, error) {
	cr, err := ClaimRequestFor(chainID, contract, j)
	if err != nil {
		return attest.ResultClaim{}, err
	}
	wasm, err := wasmOf(j.ID, res)
	if err != nil {
		return attest.ResultClaim{}, err
	}
	return cr.Claim(wasm, responseFor(asCompleted(j, res)))
}

// asCompleted is j as if res were its accepted result.
func asCompleted(j *store.Job, res *store.Result) *store.Job {
	c := *j
	c.Status, c.Result, c.Error = store.StatusCompleted, res, ""
	return &c
}

// chainStatus reads the RPC node's status (its chain id). *near.Client
// implements it.
type chainStatus interface {
	Status(ctx context.Context) (*near.StatusResult, error)
}

// agreementView is the part of the contract's get_agreement view the
// cluster reads.
type agreementView struct {
	ChainID           string `json:"chain_id"`
	DefaultSignatures uint64 `json:"default_signatures"`
}

// claimChain is the chain id claims bind: the contract's configured one
// (get_agreement), read once; a contract without one (it needs no
// signatures) gets the RPC node's, read again after claimChainRecheck in
// case the contract gets one. Every result is signed, so reads are
// cached: one read at a time, never one per result (a read per result,
// serialised, once made 200 requests' leases run out).
type claimChain struct {
	chain    chainReader
	status   chainStatus
	contract string

	fetch sync.Mutex // one read of the chain at a time
	mu    sync.Mutex
	id    string
	final bool // id is the contract's own
	at    time.Time
}

const claimChainRecheck = 30 * time.Second

func (c *claimChain) cached() (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.id, c.id != "" && (c.final || time.Since(c.at) < claimChainRecheck)
}

func (c *claimChain) chainID(ctx context.Context) (string, error) {
	if id, ok := c.cached(); ok {
		return id, nil
	}
	c.fetch.Lock()
	defer c.fetch.Unlock()
	if id, ok := c.cached(); ok {
		return id, nil // another caller read it meanwhile
	}
	id, final := "", false
	var v agreementView
	if err := c.chain.ViewFunctionAt(ctx, c.contract, "get_agreement", nil, &v, near.Final()); err == nil && v.ChainID != "" {
		id, final = v.ChainID, true
	} else {
		st, err := c.status.Status(ctx)
		if err != nil {
			return "", fmt.Errorf("reading the chain id that result claims bind: %w", err)
		}
		id = st.ChainID
	}
	c.mu.Lock()
	c.id, c.final, c.at = id, final, time.Now()
	c.mu.Unlock()
	return id, nil
}

// keySigner signs result claims with this node's ed25519 key.
type keySigner struct {
	key      ed25519.PrivateKey
	contract string
	chain    *claimChain
}

func (s *keySigner) signResult(ctx context.Context, j *store.Job, res *store.Result) error {
	id, err := s.chain.chainID(ctx)
	if err != nil {
		return err
	}
	claim, err := claimFor(id, s.contract, j, res)
	if err != nil {
		return fmt.Errorf("computing the result claim: %w", err)
	}
	sig := contracts.SignClaim(claim, s.key)
	res.Signature, res.SignerKey = sig.Signature.Bytes(), sig.PublicKey.String()
	return nil
}

// executorKey is the public key a node signs results with, as the contract
// registers it ("ed25519:<base58>").
func executorKey(priv ed25519.PrivateKey) near.PublicKey {
	return near.PublicKeyFromEd25519(priv.Public().(ed25519.PublicKey))
}

// signaturesFor are the signatures the resolver sends with j's result: the
// majority's executors' (for k = 1, the one executor's), each checked
// against the claim of the result being sent (the contract refuses the
// whole resolve for one bad signature), one per key. An executor whose
// signature does not verify is left out (and logged by the caller through
// the returned problems).
func signaturesFor(chainID, contract string, j *store.Job) (sigs []contracts.ExecutorSignature, wasm [32]byte, problems []error) {
	if j.Status != store.StatusCompleted || j.Result == nil {
		return nil, wasm, nil
	}
	wasm, err := wasmOf(j.ID, j.Result)
	if err != nil {
		return nil, wasm, []error{err}
	}
	claim, err := claimFor(chainID, contract, j, j.Result)
	if err != nil {
		return nil, wasm, []error{err}
	}
	results := []store.Result{*j.Result}
	if j.Agreement != nil {
		results = j.Agreement.Majority()
	}
	seen := map[string]bool{}
	for _, r := range results {
		if len(r.Signature) == 0 {
			problems = append(problems, fmt.Errorf("executor %s did not sign its result", shortPeer(r.Node)))
			continue
		}
		pk, err := near.ParsePublicKey(r.SignerKey)
		if err != nil {
			problems = append(problems, fmt.Errorf("executor %s: signer key: %w", shortPeer(r.Node), err))
			continue
		}
		sig, err := near.NewSignature(near.ED25519, r.Signature)
		if err != nil {
			problems = append(problems, fmt.Errorf("executor %s: signature: %w", shortPeer(r.Node), err))
			continue
		}
		s := contracts.ExecutorSignature{PublicKey: pk, Signature: sig}
		if err := contracts.VerifyClaimSignature(claim, s); err != nil {
			problems = append(problems, fmt.Errorf("executor %s: %w", shortPeer(r.Node), err))
			continue
		}
		if seen[r.SignerKey] {
			continue
		}
		seen[r.SignerKey] = true
		sigs = append(sigs, s)
	}
	return sigs, wasm, problems
}
