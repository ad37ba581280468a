// Command jsontransform reads {"name": "...", "numbers": [...]} and answers
// {"greeting": "Hello, <name>!", "count": N, "sum": S, "max": M, "sorted": [...]}.
// It is the kind of program a contract calls with the Json response format.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
)

type input struct {
	Name    string    `json:"name"`
	Numbers []float64 `json:"numbers"`
}

type output struct {
	Greeting string    `json:"greeting"`
	Count    int       `json:"count"`
	Sum      float64   `json:"sum"`
	Max      *float64  `json:"max"`
	Sorted   []float64 `json:"sorted"`
}

func main() {
	var in input
	dec := json.NewDecoder(os.Stdin)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		fmt.Fprintf(os.Stderr, "jsontransform: input must be {\"name\": string, \"numbers\": [number...]}: %v\n", err)
		os.Exit(1)
	}
	name := in.Name
	if name == "" {
		name = "stranger"
	}
	out := output{
		Greeting: fmt.Sprintf("Hello, %s!", name),
		Count:    len(in.Numbers),
		Sorted:   slices.Sorted(slices.Values(in.Numbers)),
	}
	for _, n := range in.Numbers {
		out.Sum += n
	}
	if len(out.Sorted) > 0 {
		m := out.Sorted[len(out.Sorted)-1]
		out.Max = &m
	}
	if out.Sorted == nil {
		out.Sorted = []float64{}
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fmt.Fprintln(os.Stderr, "jsontransform:", err)
		os.Exit(1)
	}
}
