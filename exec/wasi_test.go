package exec_test

import (
	"strings"
	"testing"

	outexec "github.com/outlayer/outlayer/exec"
)

// TestWASIAnswers checks the two calls exec answers differently from
// wazero, the way wasmtime does: poll_oneoff on stdout/stderr is ready with
// success (and takes no time), sock_shutdown on stdio is ENOTSOCK.
func TestWASIAnswers(t *testing.T) {
	r := newRunner(t, outexec.Config{})
	res, err := run(t, r, outexec.Request{Wasm: buildProgram(t, "wasiprobe", "./exec/testdata/wasiprobe")})
	if err != nil {
		t.Fatalf("%v (stderr %s)", err, res.Stderr)
	}
	want := strings.Join([]string{
		// Both writes ready with success; the 1 s clock is not due.
		"poll errno=0 nevents=2 [ud=1 errno=0 type=2] [ud=2 errno=0 type=2]",
		"poll errno=0 nevents=1 [ud=4 errno=0 type=1]",
		"poll errno=0 nevents=1 [ud=5 errno=8 type=2]", // EBADF: no fd 9
		// Only clocks: the earliest is due, the later one is not.
		"poll errno=0 nevents=1 [ud=6 errno=0 type=0]",
		"sock_shutdown(stdout): 57", // ENOTSOCK
		"sock_shutdown(99): 8",      // EBADF
		"",
	}, "\n")
	if string(res.Output) != want {
		t.Fatalf("got\n%s\nwant\n%s", res.Output, want)
	}
}
