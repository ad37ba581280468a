package near

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
	"github.com/mr-tron/base58"
)

// CryptoHash is a 32-byte sha256 hash (block, chunk, transaction, receipt,
// data and code hashes). Text and JSON form: base58.
type CryptoHash [32]byte

// HashBytes returns sha256(b).
func HashBytes(b []byte) CryptoHash { return sha256.Sum256(b) }

// String is the base58 form ("11111111111111111111111111111111" for zero).
func (h CryptoHash) String() string { return base58.Encode(h[:]) }

// Bytes returns a copy of the 32 bytes.
func (h CryptoHash) Bytes() []byte { return append([]byte(nil), h[:]...) }

// IsZero reports whether h is all zeros.
func (h CryptoHash) IsZero() bool { return h == CryptoHash{} }

// ParseCryptoHash parses the base58 form.
func ParseCryptoHash(s string) (CryptoHash, error) {
	var h CryptoHash
	b, err := base58.Decode(s)
	if err != nil {
		return h, fmt.Errorf("hash %q is not base58: %w", s, err)
	}
	if len(b) != len(h) {
		return h, fmt.Errorf("hash %q decodes to %d bytes, want 32", s, len(b))
	}
	copy(h[:], b)
	return h, nil
}

// MarshalText implements encoding.TextMarshaler (JSON strings, map keys).
func (h CryptoHash) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (h *CryptoHash) UnmarshalText(b []byte) error {
	v, err := ParseCryptoHash(string(b))
	if err != nil {
		return err
	}
	*h = v
	return nil
}

// KeyType is the curve of a key or signature (the borsh enum tag).
type KeyType uint8

// Key types.
const (
	ED25519   KeyType = 0
	SECP256K1 KeyType = 1
)

// String is the text prefix of the key type.
func (t KeyType) String() string {
	switch t {
	case ED25519:
		return "ed25519"
	case SECP256K1:
		return "secp256k1"
	}
	return fmt.Sprintf("keytype(%d)", uint8(t))
}

func (t KeyType) publicKeyLen() int {
	if t == SECP256K1 {
		return 64
	}
	return ed25519.PublicKeySize
}

func (t KeyType) signatureLen() int {
	if t == SECP256K1 {
		return 65
	}
	return ed25519.SignatureSize
}

func parseKeyType(s string) (KeyType, string, error) {
	prefix, rest, found := strings.Cut(s, ":")
	if !found {
		return ED25519, s, nil // NEAR parses a bare base58 string as ed25519
	}
	switch prefix {
	case "ed25519":
		return ED25519, rest, nil
	case "secp256k1":
		return SECP256K1, rest, nil
	}
	return 0, "", fmt.Errorf("unknown key type %q (want ed25519 or secp256k1)", prefix)
}

// PublicKey is a NEAR public key: ed25519 (32 bytes) or secp256k1 (64 bytes,
// uncompressed x‖y without the 0x04 prefix). It is comparable, so it can key a
// map. Text and JSON form: "ed25519:<base58>".
type PublicKey struct {
	Type KeyType
	data [64]byte
}

// PublicKeyFromEd25519 wraps a Go ed25519 public key.
func PublicKeyFromEd25519(pk ed25519.PublicKey) PublicKey {
	k := PublicKey{Type: ED25519}
	copy(k.data[:], pk)
	return k
}

// NewPublicKey builds a key of type t from raw bytes of the right length.
func NewPublicKey(t KeyType, raw []byte) (PublicKey, error) {
	if t != ED25519 && t != SECP256K1 {
		return PublicKey{}, fmt.Errorf("unknown key type %d", t)
	}
	if len(raw) != t.publicKeyLen() {
		return PublicKey{}, fmt.Errorf("%s public key must be %d bytes, got %d", t, t.publicKeyLen(), len(raw))
	}
	k := PublicKey{Type: t}
	copy(k.data[:], raw)
	return k, nil
}

// Bytes returns the raw key bytes (32 or 64).
func (k PublicKey) Bytes() []byte { return append([]byte(nil), k.data[:k.Type.publicKeyLen()]...) }

// IsZero reports whether k is the zero value (no key).
func (k PublicKey) IsZero() bool { return k == PublicKey{} }

// String is "ed25519:<base58>".
func (k PublicKey) String() string {
	return k.Type.String() + ":" + base58.Encode(k.data[:k.Type.publicKeyLen()])
}

// ParsePublicKey parses "ed25519:<base58>" or "secp256k1:<base58>" (a bare
// base58 string is ed25519, as in NEAR).
func ParsePublicKey(s string) (PublicKey, error) {
	t, rest, err := parseKeyType(s)
	if err != nil {
		return PublicKey{}, fmt.Errorf("public key %q: %w", s, err)
	}
	raw, err := base58.Decode(rest)
	if err != nil {
		return PublicKey{}, fmt.Errorf("public key %q is not base58: %w", s, err)
	}
	k, err := NewPublicKey(t, raw)
	if err != nil {
		return PublicKey{}, fmt.Errorf("public key %q: %w", s, err)
	}
	return k, nil
}

// MarshalText implements encoding.TextMarshaler.
func (k PublicKey) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (k *PublicKey) UnmarshalText(b []byte) error {
	v, err := ParsePublicKey(string(b))
	if err != nil {
		return err
	}
	*k = v
	return nil
}

// Ed25519 returns the key as a Go ed25519 key, or nil for other curves.
func (k PublicKey) Ed25519() ed25519.PublicKey {
	if k.Type != ED25519 {
		return nil
	}
	return ed25519.PublicKey(k.Bytes())
}

// ImplicitAccountID is the NEAR-implicit account id of an ed25519 key (its hex).
func (k PublicKey) ImplicitAccountID() string { return hex.EncodeToString(k.data[:32]) }

// Verify checks sig over msg (NEAR signs the 32-byte transaction hash).
// For secp256k1, as in near-crypto, msg must be the 32-byte digest itself and
// the signature's r‖s is checked with libsecp256k1's rules (low S); the
// recovery byte is not needed to verify.
func (k PublicKey) Verify(msg []byte, sig Signature) error {
	if sig.Type != k.Type {
		return fmt.Errorf("signature type %s does not match key type %s", sig.Type, k.Type)
	}
	switch k.Type {
	case ED25519:
		if !ed25519.Verify(k.Ed25519(), msg, sig.data[:64]) {
			return ErrInvalidSignature
		}
		return nil
	case SECP256K1:
		if len(msg) != 32 {
			return fmt.Errorf("secp256k1 signatures cover a 32-byte digest, got %d bytes", len(msg))
		}
		pub, err := secp256k1.ParsePubKey(append([]byte{0x04}, k.data[:64]...))
		if err != nil {
			return fmt.Errorf("%w: bad secp256k1 public key: %v", ErrInvalidSignature, err)
		}
		var r, s secp256k1.ModNScalar
		if r.SetByteSlice(sig.data[:32]) || s.SetByteSlice(sig.data[32:64]) || r.IsZero() || s.IsZero() || s.IsOverHalfOrder() {
			return ErrInvalidSignature
		}
		if !ecdsa.NewSignature(&r, &s).Verify(msg, pub) {
			return ErrInvalidSignature
		}
		return nil
	}
	return fmt.Errorf("unknown key type %d", k.Type)
}

// ErrInvalidSignature is returned by Verify for a signature that does not match.
var ErrInvalidSignature = errors.New("invalid signature")

// Encode writes the borsh form (tag then raw bytes).
func (k PublicKey) Encode(w *Writer) {
	w.U8(uint8(k.Type))
	w.Fixed(k.data[:k.Type.publicKeyLen()])
}

// DecodePublicKey reads the borsh form.
func DecodePublicKey(r *Reader) PublicKey {
	t := KeyType(r.U8())
	if r.Err() != nil {
		return PublicKey{}
	}
	if t != ED25519 && t != SECP256K1 {
		r.Failf("borsh: unknown public key type %d", t)
		return PublicKey{}
	}
	k := PublicKey{Type: t}
	r.FixedInto(k.data[:t.publicKeyLen()])
	return k
}

// Signature is an ed25519 (64 bytes) or secp256k1 (65 bytes r‖s‖v)
// signature. Text and JSON form: "ed25519:<base58>".
type Signature struct {
	Type KeyType
	data [65]byte
}

// NewSignature builds a signature of type t from raw bytes.
func NewSignature(t KeyType, raw []byte) (Signature, error) {
	if t != ED25519 && t != SECP256K1 {
		return Signature{}, fmt.Errorf("unknown signature type %d", t)
	}
	if len(raw) != t.signatureLen() {
		return Signature{}, fmt.Errorf("%s signature must be %d bytes, got %d", t, t.signatureLen(), len(raw))
	}
	s := Signature{Type: t}
	copy(s.data[:], raw)
	return s, nil
}

// Bytes returns the raw signature bytes.
func (s Signature) Bytes() []byte { return append([]byte(nil), s.data[:s.Type.signatureLen()]...) }

// String is "ed25519:<base58>".
func (s Signature) String() string {
	return s.Type.String() + ":" + base58.Encode(s.data[:s.Type.signatureLen()])
}

// ParseSignature parses the text form.
func ParseSignature(str string) (Signature, error) {
	t, rest, err := parseKeyType(str)
	if err != nil {
		return Signature{}, fmt.Errorf("signature %q: %w", str, err)
	}
	raw, err := base58.Decode(rest)
	if err != nil {
		return Signature{}, fmt.Errorf("signature %q is not base58: %w", str, err)
	}
	sig, err := NewSignature(t, raw)
	if err != nil {
		return Signature{}, fmt.Errorf("signature %q: %w", str, err)
	}
	return sig, nil
}

// MarshalText implements encoding.TextMarshaler.
func (s Signature) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *Signature) UnmarshalText(b []byte) error {
	v, err := ParseSignature(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// Encode writes the borsh form.
func (s Signature) Encode(w *Writer) {
	w.U8(uint8(s.Type))
	w.Fixed(s.data[:s.Type.signatureLen()])
}

// DecodeSignature reads the borsh form.
func DecodeSignature(r *Reader) Signature {
	t := KeyType(r.U8())
	if r.Err() != nil {
		return Signature{}
	}
	if t != ED25519 && t != SECP256K1 {
		r.Failf("borsh: unknown signature type %d", t)
		return Signature{}
	}
	s := Signature{Type: t}
	r.FixedInto(s.data[:t.signatureLen()])
	return s
}
