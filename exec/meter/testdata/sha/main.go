// Command sha hashes N MiB (argv[1], default 8) of generated data with
// SHA-256 and prints the digest.
package main

import (
	"crypto/sha256"
	"fmt"
	"os"
	"strconv"
)

func main() {
	mib := 8
	if len(os.Args) > 1 {
		if v, err := strconv.Atoi(os.Args[1]); err == nil {
			mib = v
		}
	}
	chunk := make([]byte, 64<<10)
	for i := range chunk {
		chunk[i] = byte(i*7 + i>>8)
	}
	h := sha256.New()
	for i := 0; i < mib*16; i++ {
		chunk[0] = byte(i)
		h.Write(chunk)
	}
	fmt.Printf("%x\n", h.Sum(nil))
}
