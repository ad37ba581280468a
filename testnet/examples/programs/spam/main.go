// Command spam prints without end: it shows the output size limit.
package main

import (
	"bufio"
	"os"
	"strings"
)

func main() {
	w := bufio.NewWriter(os.Stdout)
	line := strings.Repeat("spam ", 15) + "\n"
	for {
		if _, err := w.WriteString(line); err != nil {
			os.Exit(1)
		}
	}
}
