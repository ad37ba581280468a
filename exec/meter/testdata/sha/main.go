// Command sha hashes N KiB (argv[1], default 8192) of generated data with
// SHA-256 and prints the digest.
package main

import (
	"crypto/sha256"
	"fmt"
	"os"
	"strconv"
)

func main() {
	kib := 8192
	if len(os.Args) > 1 {
		if v, err := strconv.Atoi(os.Args[1]); err == nil {
			kib = v
		}
	}
	chunk := make([]byte, 1<<10)
	for i := range chunk {
		chunk[i] = byte(i*7 + i>>8)
	}
	h := sha256.New()
	for i := 0; i < kib; i++ {
		chunk[0] = byte(i)
		h.Write(chunk)
	}
	fmt.Printf("%x\n", h.Sum(nil))
}
