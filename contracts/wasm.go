package contracts

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"strings"
)

// The committed contract artifacts. contracts/build.sh produces them with
// /usr/bin/rustc and records their sha256 in SHA256SUMS; `build.sh --check`
// proves the bytes match the sources.
var (
	//go:embed wasm/outlayer.wasm
	outlayerWASM []byte
	//go:embed wasm/register.wasm
	registerWASM []byte
	//go:embed wasm/token.wasm
	tokenWASM []byte
	//go:embed SHA256SUMS
	sha256Sums string
)

// Paths of the artifacts relative to the repository root, as listed in
// SHA256SUMS.
const (
	OutLayerWASMPath = "contracts/wasm/outlayer.wasm"
	RegisterWASMPath = "contracts/wasm/register.wasm"
	TokenWASMPath    = "contracts/wasm/token.wasm"
)

// OutLayerWASM returns a copy of the OutLayer contract's WASM.
func OutLayerWASM() []byte { return bytes.Clone(outlayerWASM) }

// RegisterWASM returns a copy of the registration contract's WASM.
func RegisterWASM() []byte { return bytes.Clone(registerWASM) }

// TokenWASM returns a copy of the sample NEP-141 payment token's WASM
// (contracts/rust/token): the devchain's and the testnet's payment token.
func TokenWASM() []byte { return bytes.Clone(tokenWASM) }

// OutLayerWASMSHA256 is the hex sha256 of OutLayerWASM.
func OutLayerWASMSHA256() string { return sha256Hex(outlayerWASM) }

// RegisterWASMSHA256 is the hex sha256 of RegisterWASM.
func RegisterWASMSHA256() string { return sha256Hex(registerWASM) }

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// CommittedSHA256 returns the sha256 SHA256SUMS records for path (relative
// to the repository root).
func CommittedSHA256(path string) (string, error) {
	sc := bufio.NewScanner(strings.NewReader(sha256Sums))
	for sc.Scan() {
		sum, p, ok := strings.Cut(sc.Text(), "  ")
		if ok && p == path {
			return sum, nil
		}
	}
	return "", fmt.Errorf("%s is not listed in contracts/SHA256SUMS", path)
}
