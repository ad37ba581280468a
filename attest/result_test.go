package attest_test

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-tdx-guest/testing/testdata"

	"github.com/outlayer/outlayer/attest"
)

func sampleClaim() attest.ResultClaim {
	wasm := sha256.Sum256([]byte("\x00asm\x01\x00\x00\x00"))
	return attest.ResultClaim{ChainID: "mainnet", Contract: "outlayer.near", RequestID: 42, DataID: sha256.Sum256([]byte("yield")),
		Sender: "alice.near", WasmSHA256: wasm, InputSHA256: sha256.Sum256([]byte(`{"n":7}`)), Success: true,
		OutputSHA256: attest.OutcomeSHA256(attest.OutcomeBytes, []byte(`{"sum":28}`)), Instructions: 12345}
}

func TestResultAttestationRoundTrip(t *testing.T) {
	ctx := context.Background()
	devPub, devKey, _ := ed25519.GenerateKey(nil)
	a, err := attest.NewSimulated(devKey, attest.Measurements{})
	if err != nil {
		t.Fatal(err)
	}
	claim := sampleClaim()
	ev, err := attest.AttestResult(ctx, a, claim)
	if err != nil {
		t.Fatal(err)
	}
	// Through the wire form, as the store keeps it.
	wire, err := attest.MarshalEvidence(ev)
	if err != nil {
		t.Fatal(err)
	}
	if ev, err = attest.ParseEvidence(wire); err != nil {
		t.Fatal(err)
	}
	v := attest.NewVerifier(attest.VerifierConfig{DevMode: true, DevKeys: []ed25519.PublicKey{devPub}})
	r, err := attest.VerifyResult(ctx, v, ev, claim)
	if err != nil {
		t.Fatalf("the claim it was made for: %v", err)
	}
	if r.Kind != attest.KindSimulated || r.ReportData != claim.ReportData() {
		t.Fatalf("report = %+v", r)
	}

	// Every field is bound: change any one and the evidence no longer fits.
	changes := map[string]func(c *attest.ResultClaim){
		"request id":   func(c *attest.ResultClaim) { c.RequestID++ },
		"wasm hash":    func(c *attest.ResultClaim) { c.WasmSHA256[31] ^= 1 },
		"input":        func(c *attest.ResultClaim) { c.InputSHA256 = sha256.Sum256([]byte(`{"n":8}`)) },
		"output":       func(c *attest.ResultClaim) { c.OutputSHA256 = sha256.Sum256([]byte(`{"sum":29}`)) },
		"instructions": func(c *attest.ResultClaim) { c.Instructions-- },
		"success":      func(c *attest.ResultClaim) { c.Success = false },
		"chain":        func(c *attest.ResultClaim) { c.ChainID = "testnet" },
		"contract":     func(c *attest.ResultClaim) { c.Contract = "other.near" },
		"data id":      func(c *attest.ResultClaim) { c.DataID[0] ^= 1 },
		"sender":       func(c *attest.ResultClaim) { c.Sender = "eve.near" },
		"secrets":      func(c *attest.ResultClaim) { c.SecretsID[5] ^= 1 },
	}
	for name, change := range changes {
		other := claim
		change(&other)
		if other == claim {
			t.Fatalf("%s: the change changed nothing", name)
		}
		if _, err := attest.VerifyResult(ctx, v, ev, other); !errors.Is(err, attest.ErrReportData) {
			t.Errorf("changed %s: got %v, want ErrReportData", name, err)
		}
	}

	// A claim that names no deployment is refused whatever the evidence.
	for _, unbound := range []attest.ResultClaim{{RequestID: 42}, func() attest.ResultClaim { c := claim; c.Contract = ""; return c }()} {
		uev, err := attest.AttestResult(ctx, a, unbound)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := attest.VerifyResult(ctx, v, uev, unbound); !errors.Is(err, attest.ErrUnboundClaim) {
			t.Errorf("a claim binding chain %q contract %q: got %v, want ErrUnboundClaim", unbound.ChainID, unbound.Contract, err)
		}
	}

	// A failure binds its error text the same way, and is not the success
	// with the same bytes.
	failed := claim
	failed.Success, failed.Instructions = false, 99
	failed.OutputSHA256 = attest.OutcomeSHA256(attest.OutcomeError, []byte("Execution failed: trap"))
	fev, err := attest.AttestResult(ctx, a, failed)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := attest.VerifyResult(ctx, v, fev, failed); err != nil {
		t.Fatalf("failure claim: %v", err)
	}
	asSuccess := failed
	asSuccess.Success = true
	if _, err := attest.VerifyResult(ctx, v, fev, asSuccess); !errors.Is(err, attest.ErrReportData) {
		t.Errorf("a failure passed off as a success: got %v, want ErrReportData", err)
	}

	// Tampered evidence: the report data edited to another claim's breaks
	// the signature.
	other := claim
	other.Instructions = 1
	forged := *ev.Simulated
	body := string(forged.Body)
	oldRD, newRD := claim.ReportData(), other.ReportData()
	forged.Body = []byte(strings.Replace(body, hexOf(oldRD[:]), hexOf(newRD[:]), 1))
	if string(forged.Body) == body {
		t.Fatal("the report data was not found in the simulated body")
	}
	if _, err := attest.VerifyResult(ctx, v, attest.Evidence{Kind: attest.KindSimulated, Simulated: &forged}, other); !errors.Is(err, attest.ErrSignature) {
		t.Errorf("tampered evidence: got %v, want ErrSignature", err)
	}

	// Production verifiers refuse simulated results.
	if _, err := attest.VerifyResult(ctx, attest.NewVerifier(attest.VerifierConfig{}), ev, claim); !errors.Is(err, attest.ErrSimulatedRefused) {
		t.Errorf("production verifier: got %v, want ErrSimulatedRefused", err)
	}
}

func TestResultPurposeIsSeparate(t *testing.T) {
	ctx := context.Background()
	_, devKey, _ := ed25519.GenerateKey(nil)
	a, _ := attest.NewSimulated(devKey, attest.Measurements{})
	v := attest.NewVerifier(attest.VerifierConfig{DevMode: true})
	claim := sampleClaim()

	// A join quote over the same bytes is no result attestation.
	var id [8]byte
	id[7] = 42
	join, err := a.Quote(ctx, attest.NodeKeyReportData(id[:], claim.WasmSHA256[:]))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := attest.VerifyResult(ctx, v, join, claim); !errors.Is(err, attest.ErrReportData) {
		t.Errorf("join quote as a result: got %v, want ErrReportData", err)
	}

	// A real TDX quote goes through the full TDX checks, then fails the
	// binding (its report data is not this claim's).
	tdx := attest.NewVerifier(attest.VerifierConfig{Now: at(sampleTime), AcceptAnyMeasurement: true})
	if _, err := attest.VerifyResult(ctx, tdx, attest.Evidence{Kind: attest.KindTDX, Quote: testdata.RawQuote}, claim); !errors.Is(err, attest.ErrReportData) {
		t.Errorf("sample TDX quote: got %v, want ErrReportData", err)
	}
}

func TestResultClaimJSON(t *testing.T) {
	claim := sampleClaim()
	b, err := json.Marshal(claim)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"wasm_sha256":"`+hexOf(claim.WasmSHA256[:])+`"`) {
		t.Fatalf("hashes are not hex: %s", b)
	}
	var back attest.ResultClaim
	if err := json.Unmarshal(b, &back); err != nil || back != claim {
		t.Fatalf("round trip: %v, %+v", err, back)
	}
	for _, bad := range []string{`{"request_id":1,"wasm_sha256":"zz","input_sha256":"","output_sha256":""}`, `{"request_id":1,"extra":true}`} {
		if err := json.Unmarshal([]byte(bad), &back); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
}

func hexOf(b []byte) string { return hex.EncodeToString(b) }

// What attesting costs each result in dev mode, and checking it.
func BenchmarkAttestResultSimulated(b *testing.B) {
	ctx := context.Background()
	_, devKey, _ := ed25519.GenerateKey(nil)
	a, _ := attest.NewSimulated(devKey, attest.Measurements{})
	claim := sampleClaim()
	b.ReportAllocs()
	for b.Loop() {
		ev, err := attest.AttestResult(ctx, a, claim)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := attest.MarshalEvidence(ev); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyResultSimulated(b *testing.B) {
	ctx := context.Background()
	_, devKey, _ := ed25519.GenerateKey(nil)
	a, _ := attest.NewSimulated(devKey, attest.Measurements{})
	claim := sampleClaim()
	ev, err := attest.AttestResult(ctx, a, claim)
	if err != nil {
		b.Fatal(err)
	}
	v := attest.NewVerifier(attest.VerifierConfig{DevMode: true})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := attest.VerifyResult(ctx, v, ev, claim); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkResultReportData(b *testing.B) {
	claim := sampleClaim()
	b.ReportAllocs()
	for b.Loop() {
		_ = claim.ReportData()
	}
}
