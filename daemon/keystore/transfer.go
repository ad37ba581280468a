package keystore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/outlayer/outlayer/consensus/p2p"
)

// Protocol is the members-only libp2p protocol on which a node that holds
// the master secret hands it to another member whose attestation was
// verified when it joined.
const Protocol protocol.ID = "/outlayer/keystore/1"

const (
	maxMessage      = 64 << 10
	transferTimeout = 15 * time.Second
)

type masterRequest struct {
	Want string `json:"want"` // "master"
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
// attestation in the replicated node table before anything is sent.
func (k *Keystore) serveMaster(s network.Stream) {
	defer s.Close()
	_ = s.SetDeadline(time.Now().Add(transferTimeout))
	remote := s.Conn().RemotePeer()
	var req masterRequest
	if err := readMessage(s, &req); err != nil {
		_ = s.Reset()
		return
	}
	resp := masterResponse{}
	sealed, err := k.sealMasterFor(remote, req)
	if err != nil {
		resp.Error = err.Error()
		resp.NotHeld = errors.Is(err, ErrNotReady)
		if resp.NotHeld {
			k.log.Debug("asked for the master secret, which this node does not hold", "peer", remote)
		} else {
			k.log.Warn("refused to hand over the master secret", "peer", remote, "err", err)
		}
	} else {
		k.log.Info("master secret handed to an attested member", "peer", remote)
		resp.Sealed = sealed
	}
	_ = writeMessage(s, resp)
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
