// Command exitcode fails on purpose: it writes a reason to stderr and exits
// with status 3, the way a program reports bad input to its caller.
package main

import (
	"fmt"
	"io"
	"os"
)

func main() {
	in, _ := io.ReadAll(os.Stdin)
	fmt.Println("partial output before failing")
	fmt.Fprintf(os.Stderr, "exitcode: refusing input %q: this program always fails\n", in)
	os.Exit(3)
}
