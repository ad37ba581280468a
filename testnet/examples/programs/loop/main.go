// Command loop never finishes: it shows the instruction and time limits.
package main

import "fmt"

func main() {
	n := uint64(0)
	for {
		n++
		if n == 0 {
			fmt.Println("wrapped around") // never reached; keeps n live
		}
	}
}
