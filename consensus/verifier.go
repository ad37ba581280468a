package consensus

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// JoinVerifier decides whether a peer may join. The leader sends the joiner
// a fresh nonce; the joiner answers with evidence binding its libp2p key and
// that nonce (a TDX quote whose report data commits to both, in production).
// VerifyJoin returns the report to store in the replicated node table, or an
// error to refuse the join. The attest package provides the real one.
type JoinVerifier interface {
	VerifyJoin(ctx context.Context, p peer.ID, nonce []byte, evidence []byte) (report []byte, err error)
}

// Attester produces a node's join evidence for a nonce.
type Attester interface {
	Evidence(ctx context.Context, self crypto.PrivKey, nonce []byte) ([]byte, error)
}

// SimulatedAttestation is a development stand-in for TDX: the evidence is
// the nonce signed with the node's libp2p key, which proves the joiner holds
// the key of the peer id it claims and answered this challenge, and nothing
// about the machine it runs on. Every report it produces says so.
type SimulatedAttestation struct {
	// Refuse, if set, refuses every join with this reason (tests).
	Refuse string
	// Secret is the dev cluster's join secret. When set, evidence carries
	// an HMAC with it over the peer id and nonce, and evidence without the
	// right one is refused: a dev cluster reachable from other machines
	// admits only nodes started with the same secret.
	Secret []byte
}

// simulatedEvidence is what SimulatedAttestation sends and checks.
type simulatedEvidence struct {
	Kind      string `json:"kind"`
	Signature []byte `json:"signature"`
	MAC       []byte `json:"mac,omitempty"`
}

// joinMAC is HMAC-SHA256(secret, kind ‖ 0 ‖ peer id ‖ 0 ‖ nonce).
func joinMAC(secret []byte, p peer.ID, nonce []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(simulatedKind + "\x00" + p.String() + "\x00"))
	m.Write(nonce)
	return m.Sum(nil)
}

// SimulatedReport is the report a simulated verification stores.
type SimulatedReport struct {
	Kind       string `json:"kind"`
	Peer       string `json:"peer"`
	NonceHash  []byte `json:"nonce_sha256"`
	Simulated  bool   `json:"simulated"`
	Disclaimer string `json:"disclaimer"`
}

const simulatedKind = "outlayer-simulated-attestation-v1"

func simulatedMessage(nonce []byte) []byte {
	return append([]byte(simulatedKind+"\x00"), nonce...)
}

// Evidence signs the nonce with the node key (and MACs it with the join
// secret, when there is one).
func (s SimulatedAttestation) Evidence(_ context.Context, self crypto.PrivKey, nonce []byte) ([]byte, error) {
	sig, err := self.Sign(simulatedMessage(nonce))
	if err != nil {
		return nil, fmt.Errorf("simulated attestation: sign nonce: %w", err)
	}
	ev := simulatedEvidence{Kind: simulatedKind, Signature: sig}
	if len(s.Secret) > 0 {
		id, err := peer.IDFromPrivateKey(self)
		if err != nil {
			return nil, fmt.Errorf("simulated attestation: %w", err)
		}
		ev.MAC = joinMAC(s.Secret, id, nonce)
	}
	return json.Marshal(ev)
}

// VerifyJoin checks the signature against the peer id's public key.
func (s SimulatedAttestation) VerifyJoin(_ context.Context, p peer.ID, nonce []byte, evidence []byte) ([]byte, error) {
	if s.Refuse != "" {
		return nil, errors.New(s.Refuse)
	}
	var ev simulatedEvidence
	dec := json.NewDecoder(bytes.NewReader(evidence))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ev); err != nil {
		return nil, fmt.Errorf("simulated attestation: evidence is not a simulated attestation: %w", err)
	}
	if ev.Kind != simulatedKind {
		return nil, fmt.Errorf("simulated attestation: evidence kind %q, want %q", ev.Kind, simulatedKind)
	}
	pub, err := p.ExtractPublicKey()
	if err != nil {
		return nil, fmt.Errorf("simulated attestation: peer id %s does not embed a public key: %w", p, err)
	}
	ok, err := pub.Verify(simulatedMessage(nonce), ev.Signature)
	if err != nil || !ok {
		return nil, fmt.Errorf("simulated attestation: signature over the nonce does not verify for peer %s", p)
	}
	if len(s.Secret) > 0 && !hmac.Equal(ev.MAC, joinMAC(s.Secret, p, nonce)) {
		return nil, fmt.Errorf("simulated attestation: peer %s does not know this dev cluster's join secret (start it with the same --dev-join-secret)", p)
	}
	sum := sha256.Sum256(nonce)
	return json.Marshal(SimulatedReport{
		Kind: simulatedKind, Peer: p.String(), NonceHash: sum[:], Simulated: true,
		Disclaimer: "SIMULATED: proves possession of the node key only; no hardware attestation was performed",
	})
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
