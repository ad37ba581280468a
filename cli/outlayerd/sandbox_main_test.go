package main

import (
	"os"
	"testing"

	"github.com/outlayer/outlayer/exec"
)

// TestMain lets this test binary serve as the sandbox process of the
// nodes the tests start (testnet): their runners re-execute it.
func TestMain(m *testing.M) {
	if exec.IsSandboxChild() {
		os.Exit(exec.ServeSandboxChild())
	}
	os.Exit(m.Run())
}
