package keystore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/outlayer/outlayer/consensus/p2p"
)

// Protocol is the members-only libp2p protocol on which a node that holds
// the master secret hands it to another member whose attestation was
// verified when it joined, and which proves again, with fresh evidence over
// the sender's transfer nonce, that it runs in an attested TD now:
//
//	requester → {want: "master"}
//	sender    → {challenge: 32 random bytes}   (or an error)
//	requester → {evidence}                     over TransferNonce(sender, requester, challenge)
//	sender    → {sealed}                       (or an error)
//
// Version 2: version 1 handed the master on node-table membership alone, so
// a copy of a member's node key was enough to receive it.
const Protocol protocol.ID = "/outlayer/keystore/2"

// TransferVerifier checks a requester's fresh evidence (the cluster's join
// verifier: consensus.JoinVerifier).
type TransferVerifier interface {
	VerifyJoin(ctx context.Context, p peer.ID, nonce, evidence []byte) ([]byte, error)
}

// TransferAttester produces this node's evidence (consensus.Attester).
type TransferAttester interface {
	Evidence(ctx context.Context, self crypto.PrivKey, nonce []byte) ([]byte, error)
}

// TransferNonce is what a requester's evidence binds for one hand-over: the
// sender's random challenge and both peer ids, under a purpose tag, so
// neither a join quote nor a quote for another transfer fits.
func TransferNonce(sender, requester peer.ID, challenge []byte) []byte {
	return append([]byte("outlayer/keystore/transfer/v1\x00"+sender.String()+"\x00"+requester.String()+"\x00"), challenge...)
}

const (
	maxMessage      = 64 << 10
	transferTimeout = 15 * time.Second
)

type masterRequest struct {
	Want string `json:"want"` // "master"
}

// masterChallenge is the sender's transfer nonce.
type masterChallenge struct {
	Challenge []byte `json:"challenge,omitempty"`
	Error     string `json:"error,omitempty"`
	NotHeld   bool   `json:"not_held,omitempty"`
}

// masterProof is the requester's fresh evidence over the transfer nonce.
type masterProof struct {
	Evidence []byte `json:"evidence"`
}

type masterResponse struct {
	// Sealed is the master secret in the ECIES v1 layout, encrypted to the
	// requester's attested ed25519 key converted to X25519, with the AEAD
	// keyed by masterTransferInfo and the two peer ids as associated data.
	Sealed []byte `json:"sealed,omitempty"`
	Error  string `json:"error,omitempty"`
	// NotHeld: the requester is an authorised member, and the only reason
	// for the refusal is that this node does not hold the master itself.
	NotHeld bool `json:"not_held,omitempty"`
}

// errNotHeld: a member admitted the request but does not hold the master.
var errNotHeld = errors.New("the member does not hold the master secret either")

func transferAAD(requester, sender peer.ID) []byte {
	return []byte("outlayer/keystore/master/v1\x00" + requester.String() + "\x00" + sender.String())
}

// serveMaster answers a member's request for the master secret. The host
// already reset streams from non-members; this checks the requester's
// record in the replicated node table, then fresh evidence over a nonce
// chosen here, before anything is sent.
func (k *Keystore) serveMaster(s network.Stream) {
	defer s.Close()
	_ = s.SetDeadline(time.Now().Add(transferTimeout))
	ctx, cancel := context.WithTimeout(context.Background(), transferTimeout)
	defer cancel()
	remote := s.Conn().RemotePeer()
	var req masterRequest
	if err := readMessage(s, &req); err != nil {
		_ = s.Reset()
		return
	}
	refuse := func(err error) {
		notHeld := errors.Is(err, ErrNotReady)
		if notHeld {
			k.log.Debug("asked for the master secret, which this node does not hold", "peer", remote)
		} else {
			k.log.Warn("refused to hand over the master secret", "peer", remote, "err", err)
		}
		_ = writeMessage(s, masterResponse{Error: err.Error(), NotHeld: notHeld})
	}
	// Cheap refusals first: an unknown request, a peer with no verified
	// record, a node without the master.
	if req.Want != "master" {
		refuse(fmt.Errorf("unknown request %q", req.Want))
		return
	}
	if err := k.authorize(remote); err != nil {
		refuse(err)
		return
	}
	if k.masterKey() == nil {
		refuse(ErrNotReady)
		return
	}
	challenge := make([]byte, 32)
	if _, err := io.ReadFull(k.cfg.Random, challenge); err != nil {
		refuse(fmt.Errorf("transfer nonce: %w", err))
		return
	}
	if err := writeMessage(s, masterChallenge{Challenge: challenge}); err != nil {
		return
	}
	var proof masterProof
	if err := readMessage(s, &proof); err != nil {
		_ = s.Reset()
		return
	}
	if _, err := k.cfg.Verifier.VerifyJoin(ctx, remote, TransferNonce(k.self, remote, challenge), proof.Evidence); err != nil {
		refuse(fmt.Errorf("fresh attestation for this hand-over does not verify: %w", err))
		return
	}
	sealed, err := k.sealMasterFor(remote, req)
	if err != nil {
		refuse(err)
		return
	}
	k.log.Info("master secret handed to a member that attested for this hand-over", "peer", remote)
	_ = writeMessage(s, masterResponse{Sealed: sealed})
}

func (k *Keystore) sealMasterFor(remote peer.ID, req masterRequest) ([]byte, error) {
	if req.Want != "master" {
		return nil, fmt.Errorf("unknown request %q", req.Want)
	}
	if err := k.authorize(remote); err != nil {
		return nil, err
	}
	master := k.masterKey()
	if master == nil {
		return nil, ErrNotReady
	}
	pub, err := remote.ExtractPublicKey()
	if err != nil {
		return nil, fmt.Errorf("peer id %s embeds no public key: %w", remote, err)
	}
	dh, err := nodeX25519Public(pub)
	if err != nil {
		return nil, err
	}
	return seal(k.cfg.Random, dh, masterTransferInfo, transferAAD(remote, k.self), master)
}

// authorize: the peer is in the replicated node table with the report the
// leader verified when it joined, and, outside dev mode, that report is not
// a simulated one.
func (k *Keystore) authorize(p peer.ID) error {
	n, err := k.cfg.Cluster.Store().Node(p.String())
	if err != nil {
		return fmt.Errorf("peer %s is not in the node table; only members whose attestation was verified at join receive the master secret", p)
	}
	if len(n.Attestation) == 0 {
		return fmt.Errorf("peer %s has no verified attestation report in the node table", p)
	}
	if !k.cfg.DevMode && isSimulatedReport(n.Attestation) {
		return fmt.Errorf("peer %s joined with a simulated attestation, which this cluster (not in dev mode) does not trust with the master secret", p)
	}
	return nil
}

// isSimulatedReport recognises consensus.SimulatedReport and attest's
// simulated reports.
func isSimulatedReport(report []byte) bool {
	var r struct {
		Kind      string `json:"kind"`
		Simulated bool   `json:"simulated"`
	}
	if err := json.Unmarshal(report, &r); err != nil {
		return false
	}
	return r.Simulated || strings.Contains(strings.ToLower(r.Kind), "simulated")
}

// requestMaster asks p for the master secret and opens the answer with
// this node's attested key.
func (k *Keystore) requestMaster(ctx context.Context, p peer.ID) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, transferTimeout)
	defer cancel()
	s, err := k.cfg.Cluster.Host().NewStream(ctx, p, Protocol)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = s.SetDeadline(dl)
	}
	if err := writeMessage(s, masterRequest{Want: "master"}); err != nil {
		return nil, fmt.Errorf("send request: %w", err)
	}
	var ch masterChallenge
	if err := readMessage(s, &ch); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, network.ErrReset) {
			return nil, fmt.Errorf("%w: the member closed the stream (this node is not a member it admits)", ErrRefused)
		}
		return nil, fmt.Errorf("read challenge: %w", err)
	}
	if ch.NotHeld {
		return nil, fmt.Errorf("%w: %w", ErrRefused, errNotHeld)
	}
	if ch.Error != "" {
		return nil, fmt.Errorf("%w: %s", ErrRefused, ch.Error)
	}
	if len(ch.Challenge) < 16 {
		return nil, fmt.Errorf("%w: the member sent a %d-byte transfer nonce", ErrRefused, len(ch.Challenge))
	}
	ev, err := k.cfg.Attester.Evidence(ctx, k.cfg.Identity, TransferNonce(p, k.self, ch.Challenge))
	if err != nil {
		return nil, fmt.Errorf("attest for the hand-over: %w", err)
	}
	if err := writeMessage(s, masterProof{Evidence: ev}); err != nil {
		return nil, fmt.Errorf("send evidence: %w", err)
	}
	var resp masterResponse
	if err := readMessage(s, &resp); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, network.ErrReset) {
			return nil, fmt.Errorf("%w: the member closed the stream (this node is not a member it admits)", ErrRefused)
		}
		return nil, fmt.Errorf("read answer: %w", err)
	}
	if resp.NotHeld {
		return nil, fmt.Errorf("%w: %w", ErrRefused, errNotHeld)
	}
	if resp.Error != "" {
		return nil, fmt.Errorf("%w: %s", ErrRefused, resp.Error)
	}
	priv, err := nodeX25519Private(k.cfg.Identity)
	if err != nil {
		return nil, err
	}
	master, err := open(priv, masterTransferInfo, transferAAD(k.self, p), resp.Sealed)
	if err != nil {
		return nil, fmt.Errorf("open the master secret: %w", err)
	}
	if len(master) != 32 {
		return nil, fmt.Errorf("the master secret is %d bytes, want 32", len(master))
	}
	return master, nil
}

func writeMessage(w io.Writer, v any) error { return p2p.WriteJSON(w, v, maxMessage) }

func readMessage(r io.Reader, v any) error { return p2p.ReadJSON(r, v, maxMessage) }
