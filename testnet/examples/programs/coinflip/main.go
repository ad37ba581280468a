// Command coinflip flips a coin anyone can check: the cluster's VRF signs
// "vrf:{request_id}:{sender}:{seed}" (the seed is the input), and the first
// byte of the output's SHA-256 decides. The output carries the signature
// and the alpha, so a contract can verify it with ed25519_verify against
// GET /vrf/pubkey.
//
//	outlayerd exec --vrf-key $(head -c32 /dev/urandom | xxd -p -c64) --input game-1 coinflip.wasm
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	outlayer "github.com/outlayer/outlayer/exec/sdk"
)

func main() {
	in, _ := io.ReadAll(os.Stdin)
	seed := strings.TrimSpace(string(in))
	if seed == "" {
		seed = "flip"
	}
	draw, err := outlayer.VRF(seed)
	if err != nil {
		fmt.Fprintln(os.Stderr, "coinflip:", err)
		os.Exit(1)
	}
	first, _ := strconv.ParseUint(draw.OutputHex[:2], 16, 8)
	side := "heads"
	if first%2 == 1 {
		side = "tails"
	}
	out, _ := json.Marshal(map[string]string{"side": side, "output_hex": draw.OutputHex,
		"signature_hex": draw.SignatureHex, "alpha": draw.Alpha})
	fmt.Println(string(out))
}
