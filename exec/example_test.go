package exec_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	outexec "github.com/outlayer/outlayer/exec"
)

func ExampleRunner_Run() {
	ctx := context.Background()
	r, err := outexec.NewRunner(ctx, outexec.Config{})
	if err != nil {
		panic(err)
	}
	defer r.Close(ctx)

	// helloModule is a hand-written WASI program that prints "hello"; a Go
	// program built with GOOS=wasip1 GOARCH=wasm runs the same way.
	res, err := r.Run(ctx, outexec.Request{
		Wasm:      helloModule(),
		Input:     []byte("ignored"),
		Limits:    outexec.Limits{MaxInstructions: 1000, Timeout: time.Second},
		Context:   outexec.Context{RequestID: 7, SenderID: "alice.near"},
		Timestamp: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
	})
	switch {
	case err == nil:
		fmt.Printf("%s after %d instructions\n", res.Output, res.Instructions)
	case errors.Is(err, outexec.ErrInstructionLimit):
		fmt.Println("ran out of instructions")
	case outexec.IsProgramFailure(err):
		fmt.Println("the program failed:", err)
	default:
		fmt.Println("the node could not run it:", err)
	}
	// Output: hello after 6 instructions
}
