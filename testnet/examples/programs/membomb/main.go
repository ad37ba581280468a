// Command membomb allocates memory without bound: it shows the memory limit.
package main

import "fmt"

func main() {
	var keep [][]byte
	for i := 0; ; i++ {
		chunk := make([]byte, 1<<20)
		for j := 0; j < len(chunk); j += 4096 {
			chunk[j] = byte(i) // touch every page so nothing is lazily skipped
		}
		keep = append(keep, chunk)
		if i%64 == 0 {
			fmt.Printf("allocated %d MiB\n", len(keep))
		}
	}
}
