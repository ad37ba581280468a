package attest

import "errors"

// Why evidence was refused. Every error Verify returns wraps one of these.
var (
	// ErrMalformed: the evidence does not parse (not a TDX v4 quote, bad
	// JSON, wrong sizes).
	ErrMalformed = errors.New("malformed attestation")
	// ErrSignature: the quote's signature, its PCK certificate chain to the
	// trusted Intel root, or a simulated report's signature does not verify.
	ErrSignature = errors.New("attestation signature does not verify")
	// ErrCollateral: the supplied collateral (TCB info, QE identity, CRLs)
	// is invalid, badly signed or expired.
	ErrCollateral = errors.New("attestation collateral invalid")
	// ErrTCBStatus: the platform's TCB is not up to date according to the
	// collateral.
	ErrTCBStatus = errors.New("platform TCB not up to date")
	// ErrReportData: the quote does not carry the expected report data (a
	// different key or nonce: a replay or a forgery).
	ErrReportData = errors.New("report data mismatch")
	// ErrMeasurement: a measurement (MRTD, RTMR0–3) is not in the policy's
	// allow-list, or the TD is a debug TD the policy does not allow.
	ErrMeasurement = errors.New("measurement not allowed by policy")
	// ErrNoPolicy: TDX evidence given to a verifier with no measurement
	// policy. A valid signature only proves that some TD on some Intel
	// machine made the quote; the policy says which code may.
	ErrNoPolicy = errors.New("no measurement policy: TDX evidence is only accepted against a policy that lists the allowed measurements")
	// ErrSimulatedRefused: simulated evidence given to a verifier that is
	// not in dev mode.
	ErrSimulatedRefused = errors.New("simulated attestation refused: this verifier is not in dev mode")
	// ErrTDXUnavailable: TDX quoting was asked for on a machine that is not
	// a TDX guest.
	ErrTDXUnavailable = errors.New("this machine is not an Intel TDX guest")
)
