// Command sha256 prints the hex SHA-256 of its input.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
)

func main() {
	h := sha256.New()
	if _, err := io.Copy(h, os.Stdin); err != nil {
		fmt.Fprintln(os.Stderr, "sha256:", err)
		os.Exit(1)
	}
	fmt.Print(hex.EncodeToString(h.Sum(nil)))
}
