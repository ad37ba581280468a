package daemon_test

import (
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/outlayer/outlayer/attest"
	"github.com/outlayer/outlayer/contracts"
	"github.com/outlayer/outlayer/contracts/near"
	"github.com/outlayer/outlayer/daemon"
)

// Every result the API serves carries evidence that binds it: a verifier
// that recomputes the claim from the served request and result accepts it,
// signed by the node that reported it, and refuses any other output, and
// the same evidence presented for another chain or another contract (a
// different deployment running the same program on the same input).
func TestAttestResultServedByAPIVerifies(t *testing.T) {
	w := newWorld(t, 50*time.Millisecond, 600)
	w.startCluster(1, nil)

	limits := contracts.ResourceLimits{MaxInstructions: 200_000_000, MaxMemoryMB: 32, MaxExecutionSeconds: 10}
	deposit := add(contracts.DefaultPricing().Estimate(limits), nearAmount(t, "0.5"))
	cases := []struct {
		name    string
		code    contracts.CodeSource
		input   string
		success bool
		noWasm  bool
	}{
		{"success", w.wasmSource("echo"), "attested hello", true, false},
		{"program failure", w.wasmSource("panic"), "", false, false},
		{"no module", contracts.CodeSource{WasmURL: &contracts.WasmURLSource{URL: w.files.URL + "/echo.wasm", Hash: strings.Repeat("ab", 32)}}, "x", false, true},
	}
	hashes := make([]near.CryptoHash, len(cases))
	for i, c := range cases {
		hashes[i] = w.request(c.code, c.input, limits, contracts.FormatText, deposit)
	}
	base := "http://" + w.node(0).HTTPAddr()
	v := attest.NewVerifier(attest.VerifierConfig{DevMode: true})
	rpcStatus, err := w.cl.Status(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	chainID := rpcStatus.ChainID // the contract has no chain id of its own here (k = 0)
	for i, c := range cases {
		o := parseOutcome(t, w.final(hashes[i], w.alice.AccountID(), 2*time.Minute))
		w.job(o.requestID, 10*time.Second)

		var view daemon.JobView
		getJSON(t, base+"/requests/"+itoa(o.requestID)+"?consistent=1", &view)
		res := view.Result
		if res == nil || res.Success != c.success || len(res.Attestation) == 0 {
			t.Fatalf("%s: served result %+v", c.name, res)
		}
		av := view.ResultAttestation
		if av == nil || av.Kind != attest.KindSimulated || av.Notice != attest.SimulatedNotice || av.Problem != "" {
			t.Fatalf("%s: served attestation %+v", c.name, av)
		}

		claim, err := daemon.ResultClaimFor(chainID, w.outlayer, view.Job, res)
		if err != nil {
			t.Fatal(err)
		}
		if claim.ChainID != chainID || claim.Contract != w.outlayer || claim.Sender != view.Sender || claim.DataID == ([32]byte{}) {
			t.Fatalf("%s: the claim does not bind the deployment: %+v", c.name, claim)
		}
		if claim != av.Claim || claim.Instructions != res.Instructions || (claim.WasmSHA256 == [32]byte{}) != c.noWasm {
			t.Fatalf("%s: claim %+v, served %+v", c.name, claim, av.Claim)
		}
		ev, err := attest.ParseEvidence(av.Evidence)
		if err != nil {
			t.Fatal(err)
		}
		// Signed by the node that reported the result, with its libp2p key.
		pid, err := peer.Decode(res.Node)
		if err != nil {
			t.Fatal(err)
		}
		pub, err := pid.ExtractPublicKey()
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := pub.Raw()
		byNode := attest.NewVerifier(attest.VerifierConfig{DevMode: true, DevKeys: []ed25519.PublicKey{raw}})
		if _, err := attest.VerifyResult(w.ctx, byNode, ev, claim); err != nil {
			t.Fatalf("%s: the served evidence does not verify: %v", c.name, err)
		}

		other := *res
		other.Output, other.Error = []byte("something else"), "something else"
		forged, _ := daemon.ResultClaimFor(chainID, w.outlayer, view.Job, &other)
		if _, err := attest.VerifyResult(w.ctx, v, ev, forged); !errors.Is(err, attest.ErrReportData) {
			t.Errorf("%s: another output: got %v, want ErrReportData", c.name, err)
		}
		for _, d := range []struct{ what, chain, contract string }{
			{"another chain", "mainnet", w.outlayer},
			{"another contract", chainID, "outlayer.elsewhere.near"},
		} {
			elsewhere, err := daemon.ResultClaimFor(d.chain, d.contract, view.Job, res)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := attest.VerifyResult(w.ctx, v, ev, elsewhere); !errors.Is(err, attest.ErrReportData) {
				t.Errorf("%s: the evidence presented for %s: got %v, want ErrReportData", c.name, d.what, err)
			}
		}
	}

	var st daemon.Status
	getJSON(t, base+"/status", &st)
	if !strings.Contains(st.ResultAttestation, "simulated attestation") || !strings.Contains(st.Attestation, "simulated attestation") {
		t.Errorf("/status says attestation %q, results %q", st.Attestation, st.ResultAttestation)
	}
}
