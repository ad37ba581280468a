package keystore

import (
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"golang.org/x/crypto/chacha20poly1305"
)

// The ECIES v1 blob, byte-compatible with upstream OutLayer's keystore
// (commit b177c85):
//
//	offset  size  field
//	0       1     version, 0x01
//	1       32    the sender's ephemeral X25519 public key
//	33      12    ChaCha20-Poly1305 nonce (random)
//	45      n     ciphertext of the n-byte plaintext
//	45+n    16    Poly1305 tag
//
// The AEAD key is HKDF-SHA256(salt = none, ikm = X25519(ephemeral, recipient),
// info = "outlayer-keystore-v1"), 32 bytes; the associated data is empty.
const (
	ECIESVersion     byte = 0x01
	ECIESInfo             = "outlayer-keystore-v1"
	ephemeralKeySize      = 32
	nonceSize             = chacha20poly1305.NonceSize
	tagSize               = chacha20poly1305.Overhead
	headerSize            = 1 + ephemeralKeySize + nonceSize
	// ECIESOverhead is how much longer a blob is than its plaintext (61).
	ECIESOverhead = headerSize + tagSize
)

// masterTransferInfo keys the AEAD when a member hands the master secret to
// a joiner: the same layout as user secrets, but a key that can never be
// confused with one derived for them.
const masterTransferInfo = "outlayer-keystore-master-transfer-v1"

// ErrUndecryptable is returned for a blob that is not ECIES v1 or whose
// tag does not verify under this key.
var ErrUndecryptable = errors.New("secrets cannot be decrypted")

// PublicKey is an X25519 public key users encrypt secrets to. Its text form
// is 64 lowercase hex digits, as upstream's /pubkey returns it.
type PublicKey [32]byte

func (p PublicKey) String() string { return hex.EncodeToString(p[:]) }

// ParsePublicKey parses 64 hex digits.
func ParsePublicKey(s string) (PublicKey, error) {
	var p PublicKey
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(p) {
		return p, fmt.Errorf("public key %q is not 64 hex digits (32 bytes of X25519)", s)
	}
	copy(p[:], b)
	return p, nil
}

// Encrypt seals plaintext to recipient in the ECIES v1 layout. random is
// the source of the ephemeral key and the nonce (crypto/rand.Reader).
func Encrypt(random io.Reader, recipient PublicKey, plaintext []byte) ([]byte, error) {
	return seal(random, recipient[:], ECIESInfo, nil, plaintext)
}

func seal(random io.Reader, recipient []byte, info string, aad, plaintext []byte) ([]byte, error) {
	pub, err := ecdh.X25519().NewPublicKey(recipient)
	if err != nil {
		return nil, fmt.Errorf("recipient public key: %w", err)
	}
	eph, err := ecdh.X25519().GenerateKey(random)
	if err != nil {
		return nil, fmt.Errorf("generate ephemeral key: %w", err)
	}
	shared, err := eph.ECDH(pub)
	if err != nil {
		return nil, fmt.Errorf("key agreement with the recipient key (a low-order point?): %w", err)
	}
	aead, err := aeadFor(shared, info)
	if err != nil {
		return nil, err
	}
	out := make([]byte, headerSize, headerSize+len(plaintext)+tagSize)
	out[0] = ECIESVersion
	copy(out[1:], eph.PublicKey().Bytes())
	nonce := out[1+ephemeralKeySize : headerSize]
	if _, err := io.ReadFull(random, nonce); err != nil {
		return nil, fmt.Errorf("generate nonce: %w", err)
	}
	return aead.Seal(out, nonce, plaintext, aad), nil
}

// open decrypts an ECIES v1 blob with the recipient's private key.
func open(priv *ecdh.PrivateKey, info string, aad, blob []byte) ([]byte, error) {
	if len(blob) < ECIESOverhead {
		return nil, fmt.Errorf("%w: %d bytes is shorter than the %d bytes of an empty ECIES v1 blob", ErrUndecryptable, len(blob), ECIESOverhead)
	}
	if blob[0] != ECIESVersion {
		return nil, fmt.Errorf("%w: the blob starts with byte 0x%02x, not the ECIES v1 version 0x01 (upstream's legacy format, whose key was public, is not accepted: encrypt again with `outlayerd secrets encrypt`)", ErrUndecryptable, blob[0])
	}
	eph, err := ecdh.X25519().NewPublicKey(blob[1 : 1+ephemeralKeySize])
	if err != nil {
		return nil, fmt.Errorf("%w: ephemeral key: %w", ErrUndecryptable, err)
	}
	shared, err := priv.ECDH(eph)
	if err != nil {
		return nil, fmt.Errorf("%w: key agreement: %w", ErrUndecryptable, err)
	}
	aead, err := aeadFor(shared, info)
	if err != nil {
		return nil, err
	}
	pt, err := aead.Open(nil, blob[1+ephemeralKeySize:headerSize], blob[headerSize:], aad)
	if err != nil {
		return nil, fmt.Errorf("%w: the authentication tag does not verify (encrypted to another key, or altered)", ErrUndecryptable)
	}
	return pt, nil
}

func aeadFor(shared []byte, info string) (interface {
	Seal(dst, nonce, plaintext, additionalData []byte) []byte
	Open(dst, nonce, ciphertext, additionalData []byte) ([]byte, error)
}, error) {
	key, err := hkdf.Key(sha256.New, shared, nil, info, chacha20poly1305.KeySize)
	if err != nil {
		return nil, fmt.Errorf("derive AEAD key: %w", err)
	}
	return chacha20poly1305.New(key)
}
