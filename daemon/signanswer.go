package daemon

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"io"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/outlayer/outlayer/contracts"
	"github.com/outlayer/outlayer/contracts/near"
)

// The answer of a member asked to sign something (FailureSignProtocol,
// VouchProtocol): one status byte; signAnswerSigned is
// followed by the signer's ed25519 public key (32 bytes) and the signature
// (64 bytes), signAnswerRefused by a 2-byte length and the reason (at most
// 1 KiB).
const (
	signAnswerSigned  byte = 0
	signAnswerRefused byte = 1
	maxRefusalReason       = 1024
)

// writeSignAnswer writes sig, or err as a refusal.
func writeSignAnswer(w io.Writer, sig contracts.ExecutorSignature, err error) {
	if err != nil {
		msg := err.Error()
		if len(msg) > maxRefusalReason {
			msg = msg[:maxRefusalReason]
		}
		out := []byte{signAnswerRefused, byte(len(msg) >> 8), byte(len(msg))}
		_, _ = w.Write(append(out, msg...))
		return
	}
	out := append([]byte{signAnswerSigned}, sig.PublicKey.Ed25519()...)
	_, _ = w.Write(append(out, sig.Signature.Bytes()...))
}

// readSignAnswer reads a signature, or a refusal as an error wrapping
// refused.
func readSignAnswer(r io.Reader, refused error) (contracts.ExecutorSignature, error) {
	var status [1]byte
	if _, err := io.ReadFull(r, status[:]); err != nil {
		return contracts.ExecutorSignature{}, err
	}
	if status[0] != signAnswerSigned {
		var l [2]byte
		if _, err := io.ReadFull(r, l[:]); err != nil {
			return contracts.ExecutorSignature{}, err
		}
		n := int(l[0])<<8 | int(l[1])
		if n > maxRefusalReason {
			return contracts.ExecutorSignature{}, fmt.Errorf("%w: a %d-byte reason, above the %d-byte limit", refused, n, maxRefusalReason)
		}
		msg := make([]byte, n)
		if _, err := io.ReadFull(r, msg); err != nil {
			return contracts.ExecutorSignature{}, err
		}
		return contracts.ExecutorSignature{}, fmt.Errorf("%w: %s", refused, msg)
	}
	var body [ed25519.PublicKeySize + ed25519.SignatureSize]byte
	if _, err := io.ReadFull(r, body[:]); err != nil {
		return contracts.ExecutorSignature{}, err
	}
	sig, err := near.NewSignature(near.ED25519, body[ed25519.PublicKeySize:])
	if err != nil {
		return contracts.ExecutorSignature{}, err
	}
	return contracts.ExecutorSignature{PublicKey: near.PublicKeyFromEd25519(ed25519.PublicKey(body[:ed25519.PublicKeySize])), Signature: sig}, nil
}

// askSignature opens proto to member peerID, sends req, closes its side
// and reads the member's answer (a refusal wraps refused).
func (n *Node) askSignature(ctx context.Context, peerID string, proto protocol.ID, req []byte, refused error) (contracts.ExecutorSignature, error) {
	pid, err := peer.Decode(peerID)
	if err != nil {
		return contracts.ExecutorSignature{}, err
	}
	s, err := n.cons.Host().NewStream(ctx, pid, proto)
	if err != nil {
		return contracts.ExecutorSignature{}, err
	}
	defer s.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = s.SetDeadline(dl)
	}
	if _, err := s.Write(req); err != nil {
		return contracts.ExecutorSignature{}, err
	}
	_ = s.CloseWrite()
	return readSignAnswer(s, refused)
}

// gatherSignatures asks every member of from at once (ask; the caller
// answers for itself locally) and returns the first need answers that pass
// check, one per key, and what went wrong with the others. Members still
// answering when need are in are left to ctx.
func gatherSignatures(ctx context.Context, from []string, need int,
	ask func(ctx context.Context, member string) (contracts.ExecutorSignature, error),
	check func(member string, sig contracts.ExecutorSignature) error) ([]contracts.ExecutorSignature, []error) {
	type answer struct {
		who string
		sig contracts.ExecutorSignature
		err error
	}
	answers := make(chan answer, len(from))
	for _, id := range from {
		go func() {
			sig, err := ask(ctx, id)
			answers <- answer{who: id, sig: sig, err: err}
		}()
	}
	var sigs []contracts.ExecutorSignature
	var problems []error
	seen := map[string]bool{}
	for range from {
		a := <-answers
		if a.err == nil {
			a.err = check(a.who, a.sig)
		}
		if a.err != nil {
			problems = append(problems, fmt.Errorf("member %s: %w", shortPeer(a.who), a.err))
			continue
		}
		if key := a.sig.PublicKey.String(); !seen[key] {
			seen[key] = true
			sigs = append(sigs, a.sig)
		}
		if len(sigs) >= need {
			break
		}
	}
	return sigs, problems
}
