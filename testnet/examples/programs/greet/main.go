// Command greet is the local testnet's demo program: it reads a name on
// stdin and greets it, with the NEAR context OutLayer gives every program.
// It avoids fmt to keep the first build short.
package main

import (
	"io"
	"os"
	"strings"
)

func main() {
	in, _ := io.ReadAll(os.Stdin)
	name := strings.TrimSpace(string(in))
	if name == "" {
		name = "world"
	}
	os.Stdout.WriteString("Hello, " + name + "! Computed off chain by OutLayer for " +
		os.Getenv("NEAR_SENDER_ID") + " (request " + os.Getenv("NEAR_REQUEST_ID") +
		", block " + os.Getenv("NEAR_BLOCK_HEIGHT") + ").")
}
