// Command panic always panics: a Go runtime panic, which the sandbox reports
// as exit status 2 with the panic message from stderr.
package main

func main() {
	var m map[string]int
	//lint:ignore SA5000 the panic is this program's whole purpose
	m["boom"] = 1 // assignment to entry in nil map
}
