package near

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/mr-tron/base58"

	"github.com/google/renameio/v2"
)

// KeyPair is an ed25519 key pair. Its secret text form is
// "ed25519:<base58 of the 64-byte seed‖public key>", as near-cli writes it.
type KeyPair struct {
	priv ed25519.PrivateKey
	pub  PublicKey
}

// GenerateKeyPair makes a new random key pair (rand may be nil for crypto/rand).
func GenerateKeyPair(random io.Reader) (*KeyPair, error) {
	if random == nil {
		random = rand.Reader
	}
	_, priv, err := ed25519.GenerateKey(random)
	if err != nil {
		return nil, fmt.Errorf("generating ed25519 key: %w", err)
	}
	return KeyPairFromEd25519(priv), nil
}

// KeyPairFromSeed derives a key pair from a 32-byte seed (deterministic keys
// for tests and genesis).
func KeyPairFromSeed(seed []byte) (*KeyPair, error) {
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("ed25519 seed must be %d bytes, got %d", ed25519.SeedSize, len(seed))
	}
	return KeyPairFromEd25519(ed25519.NewKeyFromSeed(seed)), nil
}

// KeyPairFromEd25519 wraps a Go ed25519 private key.
func KeyPairFromEd25519(priv ed25519.PrivateKey) *KeyPair {
	return &KeyPair{priv: priv, pub: PublicKeyFromEd25519(priv.Public().(ed25519.PublicKey))}
}

// ParseKeyPair parses "ed25519:<base58>" holding the 64-byte private key
// (a 32-byte seed is accepted too). The embedded public half must match.
func ParseKeyPair(s string) (*KeyPair, error) {
	t, rest, err := parseKeyType(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	if t != ED25519 {
		return nil, fmt.Errorf("secret key: only ed25519 keys are supported, got %s", t)
	}
	raw, err := base58.Decode(rest)
	if err != nil {
		return nil, fmt.Errorf("secret key is not base58: %w", err)
	}
	switch len(raw) {
	case ed25519.SeedSize:
		return KeyPairFromSeed(raw)
	case ed25519.PrivateKeySize:
		kp := KeyPairFromEd25519(ed25519.NewKeyFromSeed(raw[:32]))
		if string(kp.priv[32:]) != string(raw[32:]) {
			return nil, fmt.Errorf("secret key: the public half does not match the seed")
		}
		return kp, nil
	}
	return nil, fmt.Errorf("secret key decodes to %d bytes, want 64 (or a 32-byte seed)", len(raw))
}

// PublicKey returns the public key.
func (k *KeyPair) PublicKey() PublicKey { return k.pub }

// SecretString is the "ed25519:<base58>" form of the 64-byte private key.
func (k *KeyPair) SecretString() string { return "ed25519:" + base58.Encode(k.priv) }

// String shows only the public key, so key pairs never leak into logs.
func (k *KeyPair) String() string { return k.pub.String() }

// Sign signs msg.
func (k *KeyPair) Sign(msg []byte) Signature {
	s := Signature{Type: ED25519}
	copy(s.data[:], ed25519.Sign(k.priv, msg))
	return s
}

// SignTransaction signs t (over its hash).
func (k *KeyPair) SignTransaction(t Transaction) *SignedTransaction {
	h := t.Hash()
	return &SignedTransaction{Transaction: t, Signature: k.Sign(h[:])}
}

// SignDelegateAction signs a NEP-366 delegate action.
func (k *KeyPair) SignDelegateAction(d DelegateAction) Delegate {
	h := d.SigningHash()
	return Delegate{DelegateAction: d, Signature: k.Sign(h[:])}
}

// KeyFile is near-cli's credentials file:
// ~/.near-credentials/<network>/<account>.json.
type KeyFile struct {
	AccountID  string    `json:"account_id"`
	PublicKey  PublicKey `json:"public_key"`
	PrivateKey string    `json:"private_key"`
}

// KeyPair parses the private key and checks it against the public key.
func (f *KeyFile) KeyPair() (*KeyPair, error) {
	kp, err := ParseKeyPair(f.PrivateKey)
	if err != nil {
		return nil, err
	}
	if !f.PublicKey.IsZero() && kp.PublicKey() != f.PublicKey {
		return nil, fmt.Errorf("private key belongs to %s, but the file says public_key %s", kp.PublicKey(), f.PublicKey)
	}
	return kp, nil
}

// LoadKeyFile reads a credentials file and returns its account id and key pair.
func LoadKeyFile(path string) (string, *KeyPair, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", nil, fmt.Errorf("reading key file: %w", err)
	}
	var f KeyFile
	if err := json.Unmarshal(b, &f); err != nil {
		return "", nil, fmt.Errorf("key file %s is not a near-cli credentials file: %w", path, err)
	}
	// Older near-cli files use "secret_key" instead of "private_key".
	if f.PrivateKey == "" {
		var legacy struct {
			SecretKey string `json:"secret_key"`
		}
		_ = json.Unmarshal(b, &legacy)
		f.PrivateKey = legacy.SecretKey
	}
	if f.PrivateKey == "" {
		return "", nil, fmt.Errorf("key file %s has no private_key", path)
	}
	kp, err := f.KeyPair()
	if err != nil {
		return "", nil, fmt.Errorf("key file %s: %w", path, err)
	}
	if f.AccountID != "" {
		if err := ValidateAccountID(f.AccountID); err != nil {
			return "", nil, fmt.Errorf("key file %s: %w", path, err)
		}
	}
	return f.AccountID, kp, nil
}

// SaveKeyFile writes a credentials file (mode 0600, parent directories 0700),
// replacing any existing file atomically.
func SaveKeyFile(path, accountID string, kp *KeyPair) error {
	f := KeyFile{AccountID: accountID, PublicKey: kp.PublicKey(), PrivateKey: kp.SecretString()}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding key file: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("creating key directory: %w", err)
	}
	if err := renameio.WriteFile(path, append(b, '\n'), 0o600, renameio.WithStaticPermissions(0o600)); err != nil {
		return fmt.Errorf("writing key file: %w", err)
	}
	return nil
}

// CredentialsPath is near-cli's location for an account's key:
// <dir>/<network>/<account>.json (dir is usually ~/.near-credentials).
func CredentialsPath(dir, network, accountID string) string {
	return filepath.Join(dir, network, accountID+".json")
}
