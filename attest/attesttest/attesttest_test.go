package attesttest_test

import (
	"context"
	"errors"
	"testing"

	"github.com/outlayer/outlayer/attest"
	"github.com/outlayer/outlayer/attest/attesttest"
)

func TestTestCAQuotesVerify(t *testing.T) {
	ca, err := attesttest.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	var m attest.Measurements
	m.MRTD[0], m.RTMR[0][0] = 0xaa, 0xbb
	rd := attest.NodeKeyReportData(make([]byte, 32), []byte("nonce"))
	q, err := ca.Quote(attesttest.TD{Measurements: m}, rd)
	if err != nil {
		t.Fatal(err)
	}
	ev := attest.Evidence{Kind: attest.KindTDX, Quote: q}
	policy := &attest.Policy{MRTD: []attest.Measurement{m.MRTD}}
	r, err := attest.NewVerifier(attest.VerifierConfig{Policy: policy, TrustedRoots: ca.Roots()}).Verify(context.Background(), ev, rd)
	if err != nil {
		t.Fatalf("a quote from the test CA, verified against its root: %v", err)
	}
	if r.Measurements != m || r.Debug || !r.PolicyChecked {
		t.Fatalf("report %+v", r)
	}
	// Against Intel's root (the default) the same quote is refused.
	if _, err := attest.NewVerifier(attest.VerifierConfig{Policy: policy}).Verify(context.Background(), ev, rd); !errors.Is(err, attest.ErrSignature) {
		t.Fatalf("a test-CA quote against Intel's root: %v, want ErrSignature", err)
	}
	// A debug TD is refused unless the policy allows it.
	dq, err := ca.Quote(attesttest.TD{Measurements: m, Debug: true}, rd)
	if err != nil {
		t.Fatal(err)
	}
	dev := attest.Evidence{Kind: attest.KindTDX, Quote: dq}
	if _, err := attest.NewVerifier(attest.VerifierConfig{Policy: policy, TrustedRoots: ca.Roots()}).Verify(context.Background(), dev, rd); !errors.Is(err, attest.ErrMeasurement) {
		t.Fatalf("a debug TD: %v, want ErrMeasurement", err)
	}
	if _, err := attest.NewVerifier(attest.VerifierConfig{AcceptAnyMeasurement: true, TrustedRoots: ca.Roots()}).Verify(context.Background(), dev, rd); !errors.Is(err, attest.ErrMeasurement) {
		t.Fatalf("a debug TD with any measurement accepted: %v, want ErrMeasurement", err)
	}
	lax := &attest.Policy{MRTD: []attest.Measurement{m.MRTD}, AllowDebug: true}
	if r, err := attest.NewVerifier(attest.VerifierConfig{Policy: lax, TrustedRoots: ca.Roots()}).Verify(context.Background(), dev, rd); err != nil || !r.Debug {
		t.Fatalf("a debug TD under allow_debug: %+v %v", r, err)
	}
	// A tampered quote is refused.
	bad := append([]byte(nil), q...)
	bad[200] ^= 1
	if _, err := attest.NewVerifier(attest.VerifierConfig{Policy: policy, TrustedRoots: ca.Roots()}).Verify(context.Background(), attest.Evidence{Kind: attest.KindTDX, Quote: bad}, rd); err == nil {
		t.Fatal("a tampered test quote verified")
	}
}
