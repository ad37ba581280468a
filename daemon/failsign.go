package daemon

import (
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/libp2p/go-libp2p/core/network"

	"github.com/outlayer/outlayer/attest"
	"github.com/outlayer/outlayer/contracts"
	"github.com/outlayer/outlayer/store"
)

// Signed failures (see DESIGN.md, "Agreement"): a failure the cluster
// decided — no strict majority among the executors, the yield deadline
// near, no node able to run the request, attempts used up, a request the
// cluster cannot execute — has no executor result to sign, yet a contract
// that requires k signatures settles nothing without them. So the members
// sign the failure itself: the claim of the failed response (success
// false, the replicated error text, no WASM, zero instructions), each
// member only after its own replica shows the request failed with exactly
// that text. The leader's resolver collects k such signatures over
// FailureSignProtocol and resolves; the contract refunds it as any
// failure.

// FailureSignProtocol asks a member to sign a cluster-decided failure.
//
// Request: the request id (8 bytes, big endian) and the sha256 of the
// failure claim the asker computed (32 bytes). Response: a sign answer
// (signanswer.go): one status byte; 0 (signed) is followed by the signer's
// ed25519 public key (32 bytes) and the signature (64 bytes); 1 (refused)
// by a 2-byte length and the reason.
const FailureSignProtocol = "/outlayer/failsig/1"

const (
	// failSignWait is how long a member waits for its replica to show a
	// failure the asker's replica already shows (it may lag a few
	// entries).
	failSignWait = 5 * time.Second
	// failAskTimeout bounds one round of asking the members.
	failAskTimeout = 15 * time.Second
)

// errFailureRefused: a member refused to sign a failure.
var errFailureRefused = errors.New("refused to sign the failure")

// failureClaim is the claim of j's failure as the contract recomputes it
// when the resolver submits responseFor(j) with no WASM hash: what every
// member signs for a cluster-decided failure.
func failureClaim(chainID, contract string, j *store.Job) (attest.ResultClaim, error) {
	if j.Status != store.StatusFailed {
		return attest.ResultClaim{}, fmt.Errorf("request %d is %s, not failed", j.ID, j.Status)
	}
	cr, err := ClaimRequestFor(chainID, contract, j)
	if err != nil {
		return attest.ResultClaim{}, err
	}
	return cr.Claim([32]byte{}, responseFor(j))
}

// failureSigner signs failures with this node's executor key after
// checking them against its replica.
type failureSigner struct {
	replica interface {
		Get(id uint64) (*store.Job, error)
	}
	key      ed25519.PrivateKey
	contract string
	chain    *claimChain
	// wait is how long to wait for the replica to show the failure.
	wait time.Duration
}

// sign signs request id's failure when this node's replica shows it failed
// and its claim hashes to want; anything else is refused with the reason.
func (s *failureSigner) sign(ctx context.Context, id uint64, want [32]byte) (contracts.ExecutorSignature, error) {
	var j *store.Job
	err := pollUntil(ctx, s.wait, func() (bool, error) {
		got, err := s.replica.Get(id)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return false, err
		}
		j = got
		return err == nil && got.Status == store.StatusFailed, nil
	})
	switch {
	case j == nil:
		return contracts.ExecutorSignature{}, fmt.Errorf("%w: this node's replica has no request %d", errFailureRefused, id)
	case j.Status != store.StatusFailed:
		return contracts.ExecutorSignature{}, fmt.Errorf("%w: this node's replica shows request %d as %s, not failed", errFailureRefused, id, j.Status)
	case err != nil:
		return contracts.ExecutorSignature{}, err
	case j.Call != "":
		return contracts.ExecutorSignature{}, fmt.Errorf("%w: request %d is an HTTPS call, settled off chain", errFailureRefused, id)
	case j.Agreement.Majority() != nil:
		return contracts.ExecutorSignature{}, fmt.Errorf("%w: request %d has a majority result; failing it would hide that result", errFailureRefused, id)
	}
	chainID, err := s.chain.chainID(ctx)
	if err != nil {
		return contracts.ExecutorSignature{}, err
	}
	claim, err := failureClaim(chainID, s.contract, j)
	if err != nil {
		return contracts.ExecutorSignature{}, fmt.Errorf("%w: %w", errFailureRefused, err)
	}
	if claim.Hash() != want {
		return contracts.ExecutorSignature{}, fmt.Errorf("%w: the failure asked for is not the one this node's replica shows for request %d (%q)",
			errFailureRefused, id, j.Error)
	}
	return contracts.SignClaim(claim, s.key), nil
}

// pollUntil calls cond until it reports true, fails, or wait (or ctx)
// ends; running out of time is not an error (the caller looks at what
// cond saw last).
func pollUntil(ctx context.Context, wait time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(wait)
	for {
		ok, err := cond()
		if ok || err != nil || !time.Now().Before(deadline) {
			return err
		}
		if !sleepCtx(ctx, 50*time.Millisecond) {
			return ctx.Err()
		}
	}
}

func (n *Node) registerFailureSignProtocol() {
	n.cons.Host().Handle(FailureSignProtocol, func(s network.Stream) {
		defer s.Close()
		_ = s.SetDeadline(time.Now().Add(failAskTimeout))
		var req [40]byte
		if _, err := io.ReadFull(s, req[:]); err != nil {
			_ = s.Reset()
			return
		}
		id := binary.BigEndian.Uint64(req[:8])
		var want [32]byte
		copy(want[:], req[8:])
		ctx, cancel := context.WithTimeout(n.ctx, failAskTimeout-time.Second)
		sig, err := n.failSigner.sign(ctx, id, want)
		cancel()
		if err != nil {
			n.log.Warn("refused to sign a failure", "request_id", id, "asker", shortPeer(s.Conn().RemotePeer().String()), "err", err)
		}
		writeSignAnswer(s, sig, err)
	})
}

// askFailureSignature asks member peerID to sign request id's failure
// claim hash.
func (n *Node) askFailureSignature(ctx context.Context, peerID string, id uint64, hash [32]byte) (contracts.ExecutorSignature, error) {
	req := binary.BigEndian.AppendUint64(nil, id)
	return n.askSignature(ctx, peerID, FailureSignProtocol, append(req, hash[:]...), errFailureRefused)
}

// failureSignatures collects signatures of j's failure: this node's and
// the other members', asked at once, until k valid ones from distinct keys
// are in or every member answered. What went wrong with the others is in
// problems.
type failureSignatures interface {
	collect(ctx context.Context, j *store.Job, claim attest.ResultClaim, k int) (sigs []contracts.ExecutorSignature, problems []error)
}

// failureCollector is the Node's failureSignatures.
type failureCollector struct{ n *Node }

func (c failureCollector) collect(ctx context.Context, j *store.Job, claim attest.ResultClaim, k int) ([]contracts.ExecutorSignature, []error) {
	n := c.n
	servers, err := n.cons.Servers()
	if err != nil {
		return nil, []error{err}
	}
	ctx, cancel := context.WithTimeout(ctx, failAskTimeout)
	defer cancel()
	hash := claim.Hash()
	self := n.cons.PeerID().String()
	from := make([]string, 0, len(servers))
	for _, srv := range servers {
		from = append(from, srv.ID.String())
	}
	return gatherSignatures(ctx, from, k, func(ctx context.Context, id string) (contracts.ExecutorSignature, error) {
		if id == self {
			return n.failSigner.sign(ctx, j.ID, hash)
		}
		return n.askFailureSignature(ctx, id, j.ID, hash)
	}, func(_ string, sig contracts.ExecutorSignature) error {
		return contracts.VerifyClaimSignature(claim, sig)
	})
}
