package attest

import (
	"context"
	"crypto/ed25519"
	"crypto/x509"
	_ "embed"
	"errors"
	"fmt"
	"strings"
	"time"

	pb "github.com/google/go-tdx-guest/proto/tdx"
	"github.com/google/go-tdx-guest/validate"
	"github.com/google/go-tdx-guest/verify"
)

// VerifierConfig says what a verifier trusts.
type VerifierConfig struct {
	// Policy is the measurement allow-list. Without one, TDX evidence is
	// refused (ErrNoPolicy) unless AcceptAnyMeasurement is set.
	Policy *Policy
	// AcceptAnyMeasurement lets TDX evidence through without a Policy:
	// the measurements are reported, not checked (Report.PolicyChecked is
	// false), and a debug TD is still refused. Only for looking at a quote
	// by hand (`attest verify --insecure-accept-any-measurement`); anything
	// that admits a node or trusts a result has a Policy.
	AcceptAnyMeasurement bool
	// Collateral enables the TCB check (and revocation, when it holds
	// CRLs). Nil: the quote's signature chain is verified, the TCB is not.
	Collateral *Collateral
	// TrustedRoots replaces the Intel SGX Root CA (IntelRootCAs) as the
	// anchor of quote signatures.
	TrustedRoots *x509.CertPool
	// DevMode accepts simulated evidence. A production cluster leaves it
	// off; a cluster bootstrapped in dev mode turns it on.
	DevMode bool
	// DevKeys restricts which dev keys may sign simulated evidence; empty
	// accepts any signer.
	DevKeys []ed25519.PublicKey
	// Now is the clock for certificate and collateral validity.
	Now func() time.Time
}

// intelRootCA is the Intel SGX Root CA (also TDX's root of trust),
// sha256 fingerprint 44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3,
// valid until 2049; the same certificate go-tdx-guest embeds.
//
//go:embed intel_sgx_root_ca.pem
var intelRootCA []byte

// IntelRootCAs returns a pool holding only the Intel SGX Root CA.
func IntelRootCAs() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(intelRootCA)
	return pool
}

// Verifier checks evidence. It is safe for concurrent use.
type Verifier struct {
	cfg VerifierConfig
}

// NewVerifier returns a verifier for cfg.
func NewVerifier(cfg VerifierConfig) *Verifier {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.TrustedRoots == nil {
		cfg.TrustedRoots = IntelRootCAs()
	}
	return &Verifier{cfg: cfg}
}

// Verify checks evidence completely: its signature to the trusted root
// (or the dev key), the collateral and TCB status if configured, that its
// report data is exactly expected, and the measurement policy. It returns
// what was established, or an error wrapping one of the Err* values.
func (v *Verifier) Verify(ctx context.Context, ev Evidence, expected ReportData) (Report, error) {
	r, err := v.Inspect(ctx, ev)
	if err != nil {
		return Report{}, err
	}
	if err := CheckReportData(r.ReportData, expected); err != nil {
		return Report{}, err
	}
	return r, nil
}

// VerifyNodeKey is Verify for a join: the evidence must bind publicKey
// (the raw ed25519 key of the node's libp2p identity) and the verifier's
// nonce.
func (v *Verifier) VerifyNodeKey(ctx context.Context, ev Evidence, publicKey, nonce []byte) (Report, error) {
	return v.Verify(ctx, ev, NodeKeyReportData(publicKey, nonce))
}

// Inspect is Verify without the report-data check: for looking at a quote
// by hand. Anything that admits a node or trusts a result must use Verify.
func (v *Verifier) Inspect(ctx context.Context, ev Evidence) (Report, error) {
	if err := ctx.Err(); err != nil {
		return Report{}, err
	}
	var r Report
	var err error
	switch ev.Kind {
	case KindTDX:
		r, err = v.verifyTDX(ev.Quote)
	case KindSimulated:
		if !v.cfg.DevMode {
			return Report{}, ErrSimulatedRefused
		}
		if ev.Simulated == nil {
			return Report{}, fmt.Errorf("%w: simulated evidence without a report", ErrMalformed)
		}
		r, err = verifySimulated(ev.Simulated, v.cfg.DevKeys)
	default:
		return Report{}, fmt.Errorf("%w: unknown evidence kind %q", ErrMalformed, ev.Kind)
	}
	if err != nil {
		return Report{}, err
	}
	switch {
	case v.cfg.Policy != nil:
		if err := v.cfg.Policy.Check(r.Measurements, r.Debug); err != nil {
			return Report{}, err
		}
		r.PolicyChecked = true
	case ev.Kind != KindTDX:
		// Simulated evidence proves no measurement anyway and says so.
	case !v.cfg.AcceptAnyMeasurement:
		return Report{}, fmt.Errorf("%w (MRTD %s)", ErrNoPolicy, r.Measurements.MRTD)
	case r.Debug:
		return Report{}, fmt.Errorf("%w: the quote comes from a debug TD (its memory is readable by the host), and only a policy with allow_debug admits one", ErrMeasurement)
	}
	return r, nil
}

func (v *Verifier) verifyTDX(raw []byte) (Report, error) {
	q, err := parseQuote(raw)
	if err != nil {
		return Report{}, err
	}

	opts := &verify.Options{
		Now:          v.cfg.Now(),
		TrustedRoots: v.cfg.TrustedRoots,
		Getter:       refuseNetwork{},
	}
	tcb := TCBNotChecked
	if c := v.cfg.Collateral; c != nil {
		opts.GetCollateral = true
		opts.CheckRevocations = c.revocations
		opts.Getter = c
		tcb = "UpToDate" // go-tdx-guest accepts nothing else
	}
	if err := verify.TdxQuote(q, opts); err != nil {
		return Report{}, classifyVerify(err, v.cfg.Collateral != nil)
	}

	// Fixed-bit rules for TD attributes and XFAM (validate's own checks).
	if err := validate.TdxQuote(q, &validate.Options{}); err != nil {
		return Report{}, fmt.Errorf("%w: %v", ErrMeasurement, err)
	}

	body := q.GetTdQuoteBody()
	r := Report{Kind: KindTDX, TCBStatus: tcb, ReportData: quoteReportData(q)}
	copy(r.Measurements.MRTD[:], body.GetMrTd())
	for i, m := range body.GetRtmrs() {
		if i < len(r.Measurements.RTMR) {
			copy(r.Measurements.RTMR[i][:], m)
		}
	}
	r.Debug = isDebugTD(body)
	return r, nil
}

// isDebugTD reads TDATTRIBUTES.DEBUG (bit 0).
func isDebugTD(body *pb.TDQuoteBody) bool {
	a := body.GetTdAttributes()
	return len(a) > 0 && a[0]&1 == 1
}

// classifyVerify maps go-tdx-guest's errors (many of them plain strings)
// onto ours.
func classifyVerify(err error, withCollateral bool) error {
	msg := err.Error()
	expired := []error{verify.ErrTcbInfoExpired, verify.ErrQeIdentityExpired, verify.ErrRootCaCrlExpired,
		verify.ErrPCKCrlExpired, verify.ErrTcbInfoSigningCertExpired, verify.ErrQeIdentitySigningCertExpired}
	for _, e := range expired {
		if errors.Is(err, e) || strings.Contains(msg, e.Error()) {
			return fmt.Errorf("%w: %v", ErrCollateral, err)
		}
	}
	if withCollateral {
		switch {
		case strings.Contains(msg, "TCB status"), strings.Contains(msg, "TCB Status"),
			strings.Contains(msg, "TCB level"), errors.Is(err, verify.ErrTcbStatus):
			return fmt.Errorf("%w: %v", ErrTCBStatus, err)
		case strings.Contains(msg, "collateral"), strings.Contains(msg, "tcbInfo"), strings.Contains(msg, "QeIdentity"),
			strings.Contains(msg, "TCB info"), strings.Contains(msg, "CRL"), strings.Contains(msg, "revoked"):
			return fmt.Errorf("%w: %v", ErrCollateral, err)
		}
	}
	return fmt.Errorf("%w: %v", ErrSignature, err)
}

// refuseNetwork is the getter when no collateral is configured: go-tdx-guest
// must never reach the network from a verifier.
type refuseNetwork struct{}

func (refuseNetwork) Get(u string) (map[string][]string, []byte, error) {
	return nil, nil, fmt.Errorf("no collateral configured for %s (verification never uses the network)", u)
}
