package p2p

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/google/renameio/v2"
)

// KeyFile is the name of the node's identity key inside its data directory.
const KeyFile = "node.key"

// LoadOrCreateIdentity returns the node's ed25519 identity stored in dir,
// creating it (mode 0600) on first start. The key is the node's peer id for
// its whole life: losing it means the node must join again as a new member.
func LoadOrCreateIdentity(dir string) (crypto.PrivKey, error) {
	path := filepath.Join(dir, KeyFile)
	raw, err := os.ReadFile(path)
	switch {
	case err == nil:
		key, err := crypto.UnmarshalPrivateKey(raw)
		if err != nil {
			return nil, fmt.Errorf("node identity %s is not a valid libp2p private key (restore it from backup or remove it to start as a new node): %w", path, err)
		}
		if key.Type() != crypto.Ed25519 {
			return nil, fmt.Errorf("node identity %s is a %v key; only ed25519 is accepted", path, key.Type())
		}
		return key, nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("read node identity: %w", err)
	}

	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate node identity: %w", err)
	}
	raw, err = crypto.MarshalPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode node identity: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	// Write to a temporary file and rename so a crash never leaves a
	// half-written key that would fail to parse on the next start.
	if err := renameio.WriteFile(path, raw, 0o600, renameio.WithStaticPermissions(0o600)); err != nil {
		return nil, fmt.Errorf("write node identity: %w", err)
	}
	return key, nil
}
