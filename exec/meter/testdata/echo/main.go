// Command echo copies stdin to stdout, upper-casing ASCII letters, and
// writes a line to stderr. With argv[1] == "exit3" it exits with status 3.
package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
)

func main() {
	in, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Stdout.Write(bytes.ToUpper(in))
	fmt.Fprintf(os.Stderr, "echoed %d bytes\n", len(in))
	if len(os.Args) > 1 && os.Args[1] == "exit3" {
		os.Exit(3)
	}
}
