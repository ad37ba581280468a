// Command jsonwork encodes and decodes a slice of records N times (argv[1],
// default 40) and prints a checksum of the decoded data.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
)

type record struct {
	ID    int               `json:"id"`
	Name  string            `json:"name"`
	Tags  []string          `json:"tags"`
	Score float64           `json:"score"`
	Attrs map[string]string `json:"attrs"`
}

func main() {
	rounds := 40
	if len(os.Args) > 1 {
		if v, err := strconv.Atoi(os.Args[1]); err == nil {
			rounds = v
		}
	}
	recs := make([]record, 200)
	for i := range recs {
		recs[i] = record{
			ID:    i,
			Name:  fmt.Sprintf("record-%d", i),
			Tags:  []string{"a", "bb", fmt.Sprint(i % 7)},
			Score: float64(i) * 1.25,
			Attrs: map[string]string{"k": fmt.Sprint(i), "z": "zz"},
		}
	}
	sum := 0
	for r := 0; r < rounds; r++ {
		b, err := json.Marshal(recs)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		var out []record
		if err := json.Unmarshal(b, &out); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		sum += len(b) + out[r%len(out)].ID
	}
	fmt.Printf("checksum %d\n", sum)
}
