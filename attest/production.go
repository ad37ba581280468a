package attest

import (
	"errors"
	"fmt"
)

// ProductionConfig is what a node outside dev mode needs to attest itself
// and verify others.
type ProductionConfig struct {
	// PolicyFile is the measurement policy (required).
	PolicyFile string
	// CollateralDir holds Intel PCS collateral; without it the TCB of
	// joiners is not checked (their reports say so).
	CollateralDir string
	// TDX locates this machine's TDX interfaces (zero: Linux defaults).
	TDX TDXConfig
}

// Production is a node's production attestation: its TDX attester and a
// verifier bound to the operator's policy. Intel's root CA is the only
// trust anchor; nothing here can replace it.
type Production struct {
	// Join verifies joiners; JoinAttester proves this node to the cluster;
	// Attester attests results.
	Join         JoinVerifier
	JoinAttester JoinAttester
	Attester     Attester
	// Via says how this machine quotes (configfs-tsm or the device).
	Via string
	// Warnings are things the operator should hear at start.
	Warnings []string
}

// NewProduction loads the policy and collateral and finds the TDX quoting
// interface. It fails with a clear message when the policy is missing or
// bad, or when this machine is not a TDX guest (ErrTDXUnavailable).
func NewProduction(cfg ProductionConfig) (*Production, error) {
	if cfg.PolicyFile == "" {
		return nil, errors.New("a measurement policy is required outside dev mode (--policy FILE): it lists the MRTD and RTMR values of the builds allowed to join; see README \"Running a node\"")
	}
	policy, err := LoadPolicy(cfg.PolicyFile)
	if err != nil {
		return nil, err
	}
	vc := VerifierConfig{Policy: policy}
	var warnings []string
	if policy.AllowAnyMeasurement {
		warnings = append(warnings, "the policy says allow_any_measurement: any TD on any TDX machine can join and receive the keystore master")
	}
	if policy.AllowDebug {
		warnings = append(warnings, "the policy says allow_debug: a debug TD, whose memory its host can read, can join")
	}
	if cfg.CollateralDir != "" {
		if vc.Collateral, err = LoadCollateral(cfg.CollateralDir); err != nil {
			return nil, err
		}
	} else {
		warnings = append(warnings, "no --collateral: joiners' TCB (firmware and microcode level, revocation) is not checked")
	}
	via, err := DetectTDX(cfg.TDX)
	if err != nil {
		return nil, fmt.Errorf("production mode needs this node to run in an Intel TDX confidential VM: %w", err)
	}
	tdx, err := NewTDX(cfg.TDX)
	if err != nil {
		return nil, err
	}
	v := NewVerifier(vc)
	return &Production{
		Join:         JoinVerifier{V: v},
		JoinAttester: JoinAttester{A: tdx},
		Attester:     tdx,
		Via:          via,
		Warnings:     warnings,
	}, nil
}
