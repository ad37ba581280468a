package hostcall

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/outlayer/outlayer/exec/hostabi"
)

// VRF is upstream OutLayer's verifiable randomness: an Ed25519 key, a
// message (alpha) built by the host from the request, and output =
// SHA-256(signature). Ed25519 signatures are deterministic, so one alpha
// always gives one output, and anyone with the public key can check it.
type VRF struct {
	key ed25519.PrivateKey
}

// NewVRF makes the VRF key from its 32-byte Ed25519 seed: the keystore's
// (keystore.VRFSeed, derived from the master as upstream does) on a node,
// a local one for outlayerd exec.
func NewVRF(seed []byte) (*VRF, error) {
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("a VRF key is a %d-byte Ed25519 seed, got %d bytes", ed25519.SeedSize, len(seed))
	}
	return &VRF{key: ed25519.NewKeyFromSeed(seed)}, nil
}

// PublicKey is the key's public half, which verifies outputs.
func (v *VRF) PublicKey() ed25519.PublicKey { return v.key.Public().(ed25519.PublicKey) }

// Alpha is the message signed for a draw: vrf:{request_id}:{sender}:{seed}.
func Alpha(requestID uint64, sender, seed string) (string, error) {
	if strings.Contains(seed, ":") {
		return "", errors.New("the VRF seed must not contain ':'")
	}
	return "vrf:" + strconv.FormatUint(requestID, 10) + ":" + sender + ":" + seed, nil
}

// Generate draws the output for alpha: the signature and its SHA-256.
func (v *VRF) Generate(alpha string) (output [32]byte, signature []byte) {
	sig := ed25519.Sign(v.key, []byte(alpha))
	return sha256.Sum256(sig), sig
}

// VerifyVRF checks a draw: the signature is the key's over alpha, and the
// output is its SHA-256.
func VerifyVRF(pub ed25519.PublicKey, alpha string, outputHex, signatureHex string) error {
	sig, err := hex.DecodeString(signatureHex)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return errors.New("the signature is not 64 bytes of hex")
	}
	if !ed25519.Verify(pub, []byte(alpha), sig) {
		return errors.New("the signature does not verify under the VRF public key")
	}
	sum := sha256.Sum256(sig)
	if hex.EncodeToString(sum[:]) != strings.ToLower(outputHex) {
		return errors.New("the output is not the SHA-256 of the signature")
	}
	return nil
}

func (s *Session) vrfGenerate(args [][]byte) hostabi.Reply {
	if s.cfg.VRF == nil {
		return hostabi.Errorf(hostabi.Unavailable, "VRF is not available to this run (the node has no VRF key)")
	}
	if len(args) != 1 {
		return hostabi.Errorf(hostabi.BadInput, "vrf_generate takes one seed")
	}
	if s.vrfCalls >= s.limits.VRFCalls {
		return hostabi.Errorf(hostabi.Limit, "a run may draw at most %d VRF outputs", s.limits.VRFCalls)
	}
	alpha, err := Alpha(s.cfg.RequestID, s.cfg.Sender, string(args[0]))
	if err != nil {
		return hostabi.Errorf(hostabi.BadInput, "%v", err)
	}
	s.vrfCalls++
	out, sig := s.cfg.VRF.Generate(alpha)
	return hostabi.Reply{Data: hostabi.AppendFields(nil, []byte(hex.EncodeToString(out[:])), []byte(hex.EncodeToString(sig)), []byte(alpha))}
}

func (s *Session) vrfPubkey() hostabi.Reply {
	if s.cfg.VRF == nil {
		return hostabi.Errorf(hostabi.Unavailable, "VRF is not available to this run (the node has no VRF key)")
	}
	return hostabi.Reply{Data: []byte(hex.EncodeToString(s.cfg.VRF.PublicKey()))}
}
