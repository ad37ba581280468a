// Command spin hashes its input N times (N is the input, a decimal number,
// default 1000) and prints the final sha256 in hex: a program whose running
// time is chosen by its caller, for tests that need a request in flight.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"strconv"
	"strings"
)

func main() {
	in, _ := io.ReadAll(os.Stdin)
	n, err := strconv.Atoi(strings.TrimSpace(string(in)))
	if err != nil || n < 0 {
		n = 1000
	}
	sum := sha256.Sum256(in)
	for i := 0; i < n; i++ {
		sum = sha256.Sum256(sum[:])
	}
	os.Stdout.WriteString(hex.EncodeToString(sum[:]))
}
