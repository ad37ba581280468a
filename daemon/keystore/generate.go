package keystore

import (
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/mr-tron/base58"

	"github.com/outlayer/outlayer/exec"
)

// GeneratedPrefix starts the name of every generated secret: a program
// that reads PROTECTED_X knows no person ever saw its value.
const GeneratedPrefix = "PROTECTED_"

// ErrBadSecrets marks secrets that cannot be given to a program (reserved
// or malformed names, a blob that is not a JSON object of strings) and
// generation requests that cannot be honoured.
var ErrBadSecrets = errors.New("invalid secrets")

// GenerateSpec asks for one generated secret. Type is upstream's
// generation type: hex16, hex32, hex64, ed25519, ed25519_seed, password or
// password:N (8 <= N <= 256).
type GenerateSpec struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// maxGenerated bounds the generated secrets of one identity, so nobody can
// grow the replicated state without limit.
const maxGenerated = 64

// CheckSecretName refuses names a program cannot receive: reserved NEAR_*
// names, names that are not environment variable names, and (for secrets
// users encrypt) the PROTECTED_ prefix that only generated secrets carry.
func CheckSecretName(name string, generated bool) error {
	if name == "" || len(name) > 128 {
		return fmt.Errorf("%w: secret name %q must be 1-128 characters", ErrBadSecrets, name)
	}
	if exec.IsReservedEnvName(name) {
		return fmt.Errorf("%w: secret name %q: names starting with %s and the OUTLAYER_* names the system sets are reserved for the request's context", ErrBadSecrets, name, exec.ReservedEnvPrefix)
	}
	for i, c := range name {
		if !(c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || i > 0 && c >= '0' && c <= '9') {
			return fmt.Errorf("%w: secret name %q is not an environment variable name (letters, digits and _, not starting with a digit)", ErrBadSecrets, name)
		}
	}
	hasPrefix := strings.HasPrefix(name, GeneratedPrefix)
	if generated && !hasPrefix {
		return fmt.Errorf("%w: generated secret %q must be named %s…", ErrBadSecrets, name, GeneratedPrefix)
	}
	if !generated && hasPrefix {
		return fmt.Errorf("%w: secret name %q: the %s prefix is reserved for secrets the cluster generates", ErrBadSecrets, name, GeneratedPrefix)
	}
	return nil
}

// CheckGenerateSpec validates a request for one generated secret.
func CheckGenerateSpec(s GenerateSpec) error {
	if err := CheckSecretName(s.Name, true); err != nil {
		return err
	}
	_, err := generateValue(strings.NewReader(strings.Repeat("\x00", 1024)), s.Type)
	return err
}

const passwordAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// generateValue makes a fresh value of the given type.
func generateValue(random io.Reader, typ string) (string, error) {
	kind, param, hasParam := strings.Cut(typ, ":")
	if hasParam && kind != "password" {
		return "", fmt.Errorf("%w: generation type %q takes no parameter", ErrBadSecrets, typ)
	}
	read := func(n int) ([]byte, error) {
		b := make([]byte, n)
		if _, err := io.ReadFull(random, b); err != nil {
			return nil, fmt.Errorf("generate: %w", err)
		}
		return b, nil
	}
	switch kind {
	case "hex16", "hex32", "hex64":
		n, _ := strconv.Atoi(kind[3:])
		b, err := read(n)
		if err != nil {
			return "", err
		}
		return hex.EncodeToString(b), nil
	case "ed25519_seed":
		b, err := read(ed25519.SeedSize)
		if err != nil {
			return "", err
		}
		return hex.EncodeToString(b), nil
	case "ed25519":
		seed, err := read(ed25519.SeedSize)
		if err != nil {
			return "", err
		}
		// NEAR's secret key text form: base58 of seed || public key, which
		// near-api and near-cli read as is (upstream encoded the seed only).
		return "ed25519:" + base58.Encode(ed25519.NewKeyFromSeed(seed)), nil
	case "password":
		n := 32
		if hasParam {
			v, err := strconv.Atoi(param)
			if err != nil || v < 8 || v > 256 {
				return "", fmt.Errorf("%w: password length %q must be a number from 8 to 256", ErrBadSecrets, param)
			}
			n = v
		}
		out := make([]byte, 0, n)
		for len(out) < n {
			b, err := read(n)
			if err != nil {
				return "", err
			}
			for _, c := range b {
				// 248 = 4 * 62: rejecting the rest keeps every letter
				// equally likely.
				if c < 248 && len(out) < n {
					out = append(out, passwordAlphabet[c%62])
				}
			}
		}
		return string(out), nil
	}
	return "", fmt.Errorf("%w: unknown generation type %q (want hex16, hex32, hex64, ed25519, ed25519_seed, password or password:N)", ErrBadSecrets, typ)
}
