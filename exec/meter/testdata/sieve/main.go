// Command sieve counts the primes below N (argv[1], default 5000000) with
// the sieve of Eratosthenes, R times (argv[2], default 1).
package main

import (
	"fmt"
	"os"
	"strconv"
)

func arg(i, def int) int {
	if len(os.Args) > i {
		if v, err := strconv.Atoi(os.Args[i]); err == nil {
			return v
		}
	}
	return def
}

func main() {
	n, rounds := arg(1, 5000000), arg(2, 1)
	count := 0
	for r := 0; r < rounds; r++ {
		composite := make([]bool, n)
		count = 0
		for i := 2; i < n; i++ {
			if composite[i] {
				continue
			}
			count++
			for j := i * i; j < n; j += i {
				composite[j] = true
			}
		}
	}
	fmt.Printf("%d primes below %d\n", count, n)
}
