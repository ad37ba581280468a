// Command collatz prints the longest Collatz chain below N (argv[1],
// default 300000) and the number that starts it.
package main

import (
	"fmt"
	"os"
	"strconv"
)

func main() {
	n := 300000
	if len(os.Args) > 1 {
		v, err := strconv.Atoi(os.Args[1])
		if err != nil {
			fmt.Fprintln(os.Stderr, "collatz: bad N:", err)
			os.Exit(2)
		}
		n = v
	}
	best, bestStart := 0, 0
	for i := 1; i <= n; i++ {
		steps := 0
		for x := uint64(i); x != 1; steps++ {
			if x%2 == 0 {
				x /= 2
			} else {
				x = 3*x + 1
			}
		}
		if steps > best {
			best, bestStart = steps, i
		}
	}
	fmt.Printf("max steps %d at %d\n", best, bestStart)
}
