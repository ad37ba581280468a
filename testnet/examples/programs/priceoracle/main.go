// Command priceoracle reads a price from an HTTP API and answers it as
// JSON. The input is the API's URL; the host must be one the program's
// manifest declares (or, with no manifest, any public host). The answer
// the cluster got is in the run's record, so every executor and every
// replay reports the same price.
//
//	outlayerd exec --allow-loopback --input http://127.0.0.1:8000/price priceoracle.wasm
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	outlayer "github.com/outlayer/outlayer/exec/sdk"
)

func main() {
	in, _ := io.ReadAll(os.Stdin)
	url := strings.TrimSpace(string(in))
	resp, err := outlayer.Get(url)
	if err != nil {
		fmt.Fprintln(os.Stderr, "priceoracle:", err)
		os.Exit(1)
	}
	if resp.StatusCode != 200 {
		fmt.Fprintf(os.Stderr, "priceoracle: %s answered %d\n", url, resp.StatusCode)
		os.Exit(1)
	}
	var quote struct {
		Price json.Number `json:"price"`
	}
	if err := json.Unmarshal(resp.Body, &quote); err != nil || quote.Price == "" {
		fmt.Fprintf(os.Stderr, "priceoracle: %s did not answer {\"price\": ...}: %q\n", url, resp.Body)
		os.Exit(1)
	}
	fmt.Printf("{\"price\":%s}\n", quote.Price)
}
