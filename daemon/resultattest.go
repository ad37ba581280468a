package daemon

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/outlayer/outlayer/attest"
	"github.com/outlayer/outlayer/store"
)

// Result attestations: every result a node reports carries evidence (a TDX
// quote, or in dev mode a simulated report signed with the node's libp2p
// key) over attest.ResultClaim — request id, WASM sha256, input, success,
// output or error text, instructions. See DESIGN.md, "Result attestations".

// resultAttestTimeout bounds one quote: a TDX quote takes milliseconds, a
// stuck quoting service must not hold the result past its lease.
const resultAttestTimeout = 10 * time.Second

// newResultAttester picks what attests this node's results: the configured
// one; in dev mode a simulated attester signing with the node's own key (so
// a verifier can check the signer is the node that reported); otherwise
// TDX when this machine is a TD. Nil means results go out unattested.
func (n *Node) newResultAttester() attest.Attester {
	if n.cfg.ResultAttester != nil {
		return n.cfg.ResultAttester
	}
	if n.cfg.DevMode {
		key, err := n.nodeKey()
		if err == nil {
			a, err := attest.NewSimulated(key, attest.Measurements{})
			if err == nil {
				n.log.Warn("results carry simulated attestation (dev mode): signed with the node key, NOT produced by a TEE")
				return a
			}
		}
		n.log.Error("results will carry no attestation: the node key cannot sign simulated attestations", "err", err)
		return nil
	}
	a, err := attest.NewTDX(attest.TDXConfig{})
	if err != nil {
		n.log.Warn("results will carry no attestation", "err", err)
		return nil
	}
	return a
}

// nodeKey is this node's libp2p identity key as an ed25519 private key.
func (n *Node) nodeKey() (ed25519.PrivateKey, error) {
	lh := n.cons.Host().LibP2P()
	priv := lh.Peerstore().PrivKey(lh.ID())
	if priv == nil {
		return nil, errors.New("the node has no private identity key")
	}
	raw, err := priv.Raw()
	if err != nil {
		return nil, fmt.Errorf("reading the node key: %w", err)
	}
	if len(raw) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("the node key is not an ed25519 key (%d bytes)", len(raw))
	}
	return ed25519.PrivateKey(raw), nil
}

// ResultClaimFor is the claim a result of request j attests: the same
// claim its executors sign and the contract recomputes (claimFor), so it
// binds the deployment — chain id, contract, data id, sender, secrets
// identity — as well as the program, input and outcome: evidence from
// another deployment running the same program with the same input does
// not verify here. chainID is the contract's configured one (the RPC
// node's while it has none). A verifier recomputes it from the API's
// request view.
func ResultClaimFor(chainID, contract string, j *store.Job, res *store.Result) (attest.ResultClaim, error) {
	if chainID == "" || contract == "" {
		return attest.ResultClaim{}, fmt.Errorf("request %d: a result claim binds the chain id and contract; chain %q, contract %q", j.ID, chainID, contract)
	}
	return claimFor(chainID, contract, j, res)
}

// chainID is the chain id this node's result claims bind.
func (w *worker) chainID(ctx context.Context) (string, error) {
	if w.claims == nil {
		return "", errors.New("this node does not know the chain id result claims bind")
	}
	return w.claims.chainID(ctx)
}

// attestResult attaches this node's evidence to res. A result that cannot
// be attested still goes out, without evidence: the caller's contract call
// waits on it, and an unattested result is visibly so (the API shows no
// attestation, verify-result refuses it).
func (w *worker) attestResult(ctx context.Context, log *slog.Logger, j *store.Job, res *store.Result) {
	a := w.attester
	if a == nil {
		return
	}
	chainID, err := w.chainID(ctx)
	var claim attest.ResultClaim
	if err == nil {
		claim, err = ResultClaimFor(chainID, w.contract, j, res)
	}
	if err == nil {
		qctx, cancel := context.WithTimeout(ctx, resultAttestTimeout)
		var ev attest.Evidence
		ev, err = attest.AttestResult(qctx, a, claim)
		cancel()
		if err == nil {
			var raw []byte
			raw, err = attest.MarshalEvidence(ev)
			if err == nil && len(raw) > store.MaxAttestationBytes {
				err = fmt.Errorf("evidence is %d bytes, more than the %d a result may carry", len(raw), store.MaxAttestationBytes)
			}
			if err == nil {
				res.Attestation = raw
				return
			}
		}
	}
	log.Error("the result goes out without attestation", "err", err)
}

// ResultAttestationView is how the API shows a result's attestation: what
// it binds, the evidence, and, for simulated evidence, that it proves
// nothing.
type ResultAttestationView struct {
	Kind attest.Kind `json:"kind"`
	// Notice is attest.SimulatedNotice for simulated evidence.
	Notice string `json:"notice,omitempty"`
	// Claim is what the report data binds, recomputed from the request
	// and result shown alongside; ReportData is its hex.
	Claim      attest.ResultClaim `json:"claim"`
	ReportData string             `json:"report_data"`
	// Evidence is the stored evidence JSON (base64), as
	// attest.ParseEvidence reads it.
	Evidence []byte `json:"evidence"`
	// Problem is set when the stored evidence does not even parse.
	Problem string `json:"problem,omitempty"`
}

// JobView is a request as the API serves it: the stored job plus its
// result's attestation, or why there is none.
type JobView struct {
	*store.Job
	ResultAttestation *ResultAttestationView `json:"result_attestation,omitempty"`
	// Unattested says why a completed result has no attestation.
	Unattested string `json:"result_unattested,omitempty"`
}

// viewJob is j as the API serves it; its attestation's claim binds this
// node's deployment (the chain id as last read, the contract).
func (n *Node) viewJob(j *store.Job) JobView {
	chainID, ok := n.claims.cached()
	if !ok && j.Result != nil && len(j.Result.Attestation) > 0 {
		ctx, cancel := context.WithTimeout(n.ctx, 5*time.Second)
		chainID, _ = n.claims.chainID(ctx) // unknown: the view says why it has no claim
		cancel()
	}
	return viewJobIn(chainID, n.cfg.ContractID, j)
}

func viewJobIn(chainID, contract string, j *store.Job) JobView {
	v := JobView{Job: j}
	if j.Result == nil {
		return v
	}
	if len(j.Result.Attestation) == 0 {
		v.Unattested = "the node that ran this request attached no attestation: nothing proves where this result came from"
		return v
	}
	av := &ResultAttestationView{Evidence: j.Result.Attestation}
	v.ResultAttestation = av
	claim, err := ResultClaimFor(chainID, contract, j, j.Result)
	if err == nil {
		rd := claim.ReportData()
		av.Claim, av.ReportData = claim, hex.EncodeToString(rd[:])
	}
	ev, perr := attest.ParseEvidence(j.Result.Attestation)
	err = errors.Join(err, perr)
	if perr == nil {
		av.Kind = ev.Kind
		if ev.Kind == attest.KindSimulated {
			av.Notice = attest.SimulatedNotice
		}
	}
	if err != nil {
		av.Problem = err.Error()
	}
	return v
}

func (n *Node) viewJobs(js []*store.Job) []JobView {
	out := make([]JobView, 0, len(js))
	for _, j := range js {
		out = append(out, n.viewJob(j))
	}
	return out
}

// resultAttestationSummary is /status's line about this node's result
// attestations.
func (n *Node) resultAttestationSummary() string {
	switch {
	case n.resultAttester == nil:
		return "none: this node's results carry no attestation"
	case n.resultAttester.Kind() == attest.KindSimulated:
		return "simulated attestation: results signed with the node key, NOT produced by a TEE (development mode)"
	default:
		return "Intel TDX quote over each result"
	}
}
