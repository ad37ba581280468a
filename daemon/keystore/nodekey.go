package keystore

import (
	"crypto/ecdh"
	"crypto/sha512"
	"errors"
	"fmt"
	"math/big"
	"slices"

	"github.com/libp2p/go-libp2p/core/crypto"
)

// A node's attestation binds its libp2p ed25519 public key (attest's
// NodeKeyReportData). The master secret is handed to a joiner encrypted to
// that same key, converted to its X25519 form (RFC 7748's birational map,
// as libsodium's crypto_sign_ed25519_pk_to_curve25519 does), so only the
// holder of the attested key can open it.

// fieldPrime is 2^255 - 19.
var fieldPrime = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(19))

// ed25519PublicToX25519 maps an Edwards y coordinate to the Montgomery u
// coordinate: u = (1 + y) / (1 - y) mod p.
func ed25519PublicToX25519(pub []byte) ([]byte, error) {
	if len(pub) != 32 {
		return nil, fmt.Errorf("ed25519 public key is %d bytes, want 32", len(pub))
	}
	le := slices.Clone(pub)
	le[31] &= 0x7f // the top bit is the sign of x, not part of y
	slices.Reverse(le)
	y := new(big.Int).SetBytes(le)
	if y.Cmp(fieldPrime) >= 0 {
		return nil, errors.New("ed25519 public key is not canonical")
	}
	one := big.NewInt(1)
	den := new(big.Int).Sub(one, y)
	den.Mod(den, fieldPrime)
	if den.Sign() == 0 {
		return nil, errors.New("ed25519 public key is the identity point")
	}
	u := new(big.Int).Add(one, y)
	u.Mul(u, den.ModInverse(den, fieldPrime))
	u.Mod(u, fieldPrime)
	out := make([]byte, 32)
	u.FillBytes(out)
	slices.Reverse(out)
	return out, nil
}

// ed25519SeedToX25519 is the X25519 private key of an ed25519 seed: the
// first half of SHA-512(seed), which X25519 clamps exactly as ed25519 does.
func ed25519SeedToX25519(seed []byte) (*ecdh.PrivateKey, error) {
	h := sha512.Sum512(seed)
	return ecdh.X25519().NewPrivateKey(h[:32])
}

// nodeX25519Private converts a libp2p ed25519 identity.
func nodeX25519Private(k crypto.PrivKey) (*ecdh.PrivateKey, error) {
	if k == nil || k.Type() != crypto.Ed25519 {
		return nil, errors.New("the node identity must be an ed25519 libp2p key")
	}
	raw, err := k.Raw() // seed || public key
	if err != nil {
		return nil, fmt.Errorf("read node identity: %w", err)
	}
	if len(raw) != 64 {
		return nil, fmt.Errorf("node identity is %d bytes, want 64", len(raw))
	}
	return ed25519SeedToX25519(raw[:32])
}

// nodeX25519Public converts a libp2p ed25519 public key.
func nodeX25519Public(k crypto.PubKey) ([]byte, error) {
	if k == nil || k.Type() != crypto.Ed25519 {
		return nil, errors.New("the peer's identity is not an ed25519 key")
	}
	raw, err := k.Raw()
	if err != nil {
		return nil, err
	}
	return ed25519PublicToX25519(raw)
}
