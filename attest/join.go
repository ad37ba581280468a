package attest

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// JoinVerifier checks a joining node's evidence for the cluster
// (consensus.JoinVerifier): the evidence must bind the joiner's libp2p key
// (the one its Noise handshake proved) and the leader's fresh nonce, and
// pass V completely — signature chain, TCB with collateral, measurement
// policy. The stored report is the verified Report as JSON.
type JoinVerifier struct {
	V *Verifier
}

// VerifyJoin returns the report to record for p, or why p is refused.
func (j JoinVerifier) VerifyJoin(ctx context.Context, p peer.ID, nonce, evidence []byte) ([]byte, error) {
	key, err := peerKey(p)
	if err != nil {
		return nil, err
	}
	if len(evidence) == 0 {
		return nil, fmt.Errorf("%w: the joiner sent no evidence", ErrMalformed)
	}
	ev, err := ParseEvidence(evidence)
	if err != nil {
		return nil, err
	}
	r, err := j.V.VerifyNodeKey(ctx, ev, key, nonce)
	if err != nil {
		return nil, err
	}
	return json.Marshal(r)
}

// JoinAttester produces this node's join evidence (consensus.Attester): a
// quote from A over NodeKeyReportData(node public key, nonce).
type JoinAttester struct {
	A Attester
}

// Evidence quotes over the node's key and the leader's nonce.
func (j JoinAttester) Evidence(ctx context.Context, self crypto.PrivKey, nonce []byte) ([]byte, error) {
	raw, err := self.GetPublic().Raw()
	if err != nil {
		return nil, fmt.Errorf("join evidence: the node key: %w", err)
	}
	ev, err := j.A.Quote(ctx, NodeKeyReportData(raw, nonce))
	if err != nil {
		return nil, fmt.Errorf("join evidence: %w", err)
	}
	return json.Marshal(ev)
}

// peerKey is the raw public key a peer id embeds (ed25519 for OutLayer
// nodes).
func peerKey(p peer.ID) ([]byte, error) {
	pub, err := p.ExtractPublicKey()
	if err != nil {
		return nil, fmt.Errorf("%w: peer id %s does not embed its public key: %v", ErrMalformed, p, err)
	}
	raw, err := pub.Raw()
	if err != nil {
		return nil, fmt.Errorf("%w: peer id %s: %v", ErrMalformed, p, err)
	}
	return raw, nil
}
