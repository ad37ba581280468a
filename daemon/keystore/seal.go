package keystore

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/crypto/chacha20poly1305"
)

// Sealer protects this node's copy of the master secret at rest. Sealed
// bytes go into the replicated keystore bucket (and so into every replica's
// Raft log and snapshots), so Seal must produce something only this node
// can Unseal. name is bound into the seal so a sealed value cannot be moved
// to another entry.
type Sealer interface {
	Seal(name string, plaintext []byte) ([]byte, error)
	Unseal(name string, sealed []byte) ([]byte, error)
	// Describe says what protects the key, for status output.
	Describe() string
}

// SealKeyFile is the dev-mode sealing key's file name in the data directory.
const SealKeyFile = "keystore-seal.key"

// sealVersion is the first byte of a FileSealer blob.
const sealVersion byte = 1

// FileSealer seals with XChaCha20-Poly1305 under a 32-byte key kept in a
// file (mode 0600) next to, but never inside, the node's bbolt files.
// It is for development: whoever can read the data directory can read the
// key. See DESIGN.md for what TDX offers instead.
type FileSealer struct {
	path string
	key  []byte
}

// NewFileSealer loads the sealing key from dir/keystore-seal.key, creating
// it on first use. A file of the wrong size or mode is an error, never
// replaced: a new key would make this node's sealed copy unreadable.
func NewFileSealer(dir string) (*FileSealer, error) {
	path := filepath.Join(dir, SealKeyFile)
	key, err := os.ReadFile(path)
	switch {
	case err == nil:
		if len(key) != chacha20poly1305.KeySize {
			return nil, fmt.Errorf("sealing key %s is %d bytes, want %d (restore it from backup; without it this node must receive the master secret again)", path, len(key), chacha20poly1305.KeySize)
		}
		st, err := os.Stat(path)
		if err != nil {
			return nil, fmt.Errorf("sealing key: %w", err)
		}
		if st.Mode().Perm()&0o077 != 0 {
			return nil, fmt.Errorf("sealing key %s has mode %v; it must be readable by its owner only (chmod 600)", path, st.Mode().Perm())
		}
		return &FileSealer{path: path, key: key}, nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("read sealing key: %w", err)
	}
	key = make([]byte, chacha20poly1305.KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("generate sealing key: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	if err := createFileOnce(dir, SealKeyFile, key); err != nil {
		return nil, fmt.Errorf("write sealing key: %w", err)
	}
	return &FileSealer{path: path, key: key}, nil
}

// createFileOnce creates dir/name with data, complete or not at all, and
// fails if the file exists: unlike an atomic replace (renameio), a key that
// is already there is never overwritten.
func createFileOnce(dir, name string, data []byte) error {
	tmp, err := os.CreateTemp(dir, name+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	// Link, not rename: two processes racing to create the key must not
	// both believe their own key won.
	if err := os.Link(tmp.Name(), filepath.Join(dir, name)); err != nil {
		return err
	}
	return nil
}

func sealAAD(name string) []byte { return []byte("outlayer/keystore/seal/v1\x00" + name) }

// Seal implements Sealer.
func (s *FileSealer) Seal(name string, plaintext []byte) ([]byte, error) {
	return symSeal(s.key, rand.Reader, name, plaintext)
}

// Unseal implements Sealer.
func (s *FileSealer) Unseal(name string, sealed []byte) ([]byte, error) {
	pt, err := symOpen(s.key, name, sealed)
	if err != nil {
		return nil, fmt.Errorf("%w with the sealing key in %s (another node's copy, or the key file was replaced)", err, s.path)
	}
	return pt, nil
}

// symSeal is version(1) || nonce(24) || XChaCha20-Poly1305(key, nonce,
// plaintext, aad = purpose label || name).
func symSeal(key []byte, random io.Reader, name string, plaintext []byte) ([]byte, error) {
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 1+aead.NonceSize(), 1+aead.NonceSize()+len(plaintext)+aead.Overhead())
	out[0] = sealVersion
	if _, err := io.ReadFull(random, out[1:]); err != nil {
		return nil, fmt.Errorf("seal: nonce: %w", err)
	}
	return aead.Seal(out, out[1:], plaintext, sealAAD(name)), nil
}

func symOpen(key []byte, name string, sealed []byte) ([]byte, error) {
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, err
	}
	if len(sealed) < 1+aead.NonceSize()+aead.Overhead() || sealed[0] != sealVersion {
		return nil, fmt.Errorf("sealed entry %q is not a version-1 sealed blob", name)
	}
	pt, err := aead.Open(nil, sealed[1:1+aead.NonceSize()], sealed[1+aead.NonceSize():], sealAAD(name))
	if err != nil {
		return nil, fmt.Errorf("sealed entry %q does not open", name)
	}
	return pt, nil
}

// Describe implements Sealer.
func (s *FileSealer) Describe() string {
	// The base name only: the status endpoint is public, and the absolute
	// path tells a stranger about the host's file system.
	return "development sealing key file " + filepath.Base(s.path) + " in the data directory (protects nothing from whoever can read the data directory)"
}

// ErrNoTDXSealing is returned by NewTDXSealer.
var ErrNoTDXSealing = errors.New("TDX offers no sealing key")

// NewTDXSealer always fails, and says why. Unlike SGX (EGETKEY), a TDX
// guest has no hardware key it can re-derive after a restart: anything on
// its disk is as readable to the host as the disk itself, unless a key
// comes from outside the TD after the TD proves its measurements (a key
// broker / KMS that verifies a quote). This build has no such broker, and
// deriving a "sealing" key from the node identity and the measurements
// would be theatre: both are on, or computable from, the host-visible disk.
// A TDX node therefore runs its keystore memory-only (Config.MemoryOnly,
// the daemon's default outside dev mode), or with a KMS Sealer.
func NewTDXSealer() (Sealer, error) {
	return nil, fmt.Errorf("%w: a TD cannot re-derive a secret key after a restart (there is no SGX-style EGETKEY), so sealing needs a key broker that releases a key to a verified quote; none is configured in this build. Use the memory-only keystore (the default outside dev mode), dev mode (sealing key file), or supply a KMS sealer", ErrNoTDXSealing)
}
