package attest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"fmt"
)

// SimulatedQuote is development evidence: the same fields as a TDX quote
// (measurements, report data), marked simulated, signed by a dev ed25519
// key. It proves only that the holder of the dev key made it.
type SimulatedQuote struct {
	// Body is the JSON of simulatedBody, readable in the evidence file
	// (it says "simulated attestation" to anyone who opens it).
	Body json.RawMessage `json:"body"`
	// Signature is ed25519 over simulatedSigDomain || compact(Body), so
	// re-indenting the file does not break it.
	Signature []byte `json:"signature"`
}

type simulatedBody struct {
	Notice       string       `json:"notice"`
	Simulated    bool         `json:"simulated"`
	Measurements Measurements `json:"measurements"`
	ReportData   string       `json:"report_data"`
	Signer       string       `json:"signer"`
}

const simulatedSigDomain = "outlayer/attest/simulated/v1\x00"

// SimulatedAttester makes simulated evidence for development clusters.
type SimulatedAttester struct {
	key          ed25519.PrivateKey
	measurements Measurements
}

// NewSimulated returns an attester that signs with devKey and reports the
// given measurements (zero values are fine for development).
func NewSimulated(devKey ed25519.PrivateKey, m Measurements) (*SimulatedAttester, error) {
	if len(devKey) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("simulated attestation: dev key must be an ed25519 private key (%d bytes), got %d", ed25519.PrivateKeySize, len(devKey))
	}
	return &SimulatedAttester{key: devKey, measurements: m}, nil
}

func (s *SimulatedAttester) Kind() Kind { return KindSimulated }

func (s *SimulatedAttester) Quote(_ context.Context, rd ReportData) (Evidence, error) {
	body, err := json.Marshal(simulatedBody{
		Notice:       SimulatedNotice,
		Simulated:    true,
		Measurements: s.measurements,
		ReportData:   hex.EncodeToString(rd[:]),
		Signer:       hex.EncodeToString(s.key.Public().(ed25519.PublicKey)),
	})
	if err != nil {
		return Evidence{}, fmt.Errorf("simulated attestation: %w", err)
	}
	sig := ed25519.Sign(s.key, append([]byte(simulatedSigDomain), body...))
	return Evidence{Kind: KindSimulated, Simulated: &SimulatedQuote{Body: body, Signature: sig}}, nil
}

// verifySimulated checks the signature and returns the report. devKeys
// empty means any signer is accepted (the key in the body): simulated
// evidence is not a security property either way.
func verifySimulated(q *SimulatedQuote, devKeys []ed25519.PublicKey) (Report, error) {
	var body simulatedBody
	dec := json.NewDecoder(bytes.NewReader(q.Body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		return Report{}, fmt.Errorf("%w: simulated report: %v", ErrMalformed, err)
	}
	if !body.Simulated || body.Notice != SimulatedNotice {
		return Report{}, fmt.Errorf("%w: simulated report without its simulated marker", ErrMalformed)
	}
	signer, err := hex.DecodeString(body.Signer)
	if err != nil || len(signer) != ed25519.PublicKeySize {
		return Report{}, fmt.Errorf("%w: simulated report signer is not an ed25519 public key", ErrMalformed)
	}
	rd, err := hex.DecodeString(body.ReportData)
	if err != nil || len(rd) != len(ReportData{}) {
		return Report{}, fmt.Errorf("%w: simulated report data is not 64 bytes of hex", ErrMalformed)
	}
	if len(devKeys) > 0 {
		trusted := false
		for _, k := range devKeys {
			if bytes.Equal(k, signer) {
				trusted = true
				break
			}
		}
		if !trusted {
			return Report{}, fmt.Errorf("%w: simulated report signed by %x, which is not a configured dev key", ErrSignature, signer)
		}
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, q.Body); err != nil {
		return Report{}, fmt.Errorf("%w: simulated report: %v", ErrMalformed, err)
	}
	if !ed25519.Verify(signer, append([]byte(simulatedSigDomain), compact.Bytes()...), q.Signature) {
		return Report{}, fmt.Errorf("%w: simulated report signature is invalid", ErrSignature)
	}
	r := Report{Kind: KindSimulated, Measurements: body.Measurements, TCBStatus: TCBSimulated, Signer: body.Signer}
	copy(r.ReportData[:], rd)
	return r, nil
}
