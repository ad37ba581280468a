// Package attest produces and verifies node attestations: Intel TDX quotes
// whose report data binds a node's key, checked offline against Intel's
// root, operator-supplied collateral and a measurement policy; and a
// clearly labelled simulated mode for development clusters.
//
// The rest of OutLayer uses two things:
//
//	Attester.Quote(ctx, reportData) (Evidence, error)        // TDXAttester, SimulatedAttester
//	Verifier.Verify(ctx, evidence, expected) (Report, error)  // NewVerifier(VerifierConfig{…})
//
// Report data for a node's key is NodeKeyReportData(publicKey, nonce):
// SHA-512 over a domain tag, the purpose, and the length-prefixed key and
// nonce. A joining node quotes over the leader's fresh nonce; the leader
// calls Verify with the report data it expects, so a quote made for another
// key, another nonce or another purpose is refused (ErrReportData).
//
// Refusals wrap one of ErrMalformed, ErrSignature, ErrCollateral,
// ErrTCBStatus, ErrReportData, ErrMeasurement, ErrNoPolicy or
// ErrSimulatedRefused. Without a policy, TDX evidence is refused unless the
// verifier explicitly accepts any measurement (for inspection by hand).
// DESIGN.md says what is verified, what is trusted, and what simulated
// means.
package attest
