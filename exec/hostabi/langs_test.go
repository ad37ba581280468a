package hostabi_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	outexec "github.com/outlayer/outlayer/exec"
)

// compile builds a one-file program with an external compiler, skipping
// when it is not installed (.ci/run installs both).
func compile(t *testing.T, tool string, args ...string) []byte {
	t.Helper()
	if _, err := exec.LookPath(tool); err != nil {
		t.Skipf("%s is not installed", tool)
	}
	out := filepath.Join(t.TempDir(), "prog.wasm")
	cmd := exec.Command(tool, append(args, "-o", out)...)
	cmd.Dir = "testdata"
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", tool, err, msg)
	}
	wasm, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return wasm
}

func runWithFake(t *testing.T, wasm []byte) (string, *fakeWorld) {
	t.Helper()
	w := &fakeWorld{}
	res, err := runners(t)["in-process"].Run(context.Background(), outexec.Request{Wasm: wasm, Host: w.handle})
	if err != nil {
		t.Fatalf("%v\n%s", err, res.Stderr)
	}
	return string(res.Output), w
}

func TestRustSDKFile(t *testing.T) {
	if _, err := os.Stat("/usr/lib/rustlib/wasm32-wasi"); err != nil {
		t.Skip("Debian's rustc has no wasm32-wasi standard library here")
	}
	wasm := compile(t, "/usr/bin/rustc", "--edition", "2021", "--target", "wasm32-wasi", "-O", "-C", "strip=debuginfo", "rustprobe.rs")
	out, w := runWithFake(t, wasm)
	want := `Ok(())
get hello
missing Ok(None)
has Ok(true)
incr Ok(42)
list 2
fetch 201 POST https://api.example/x X-Probe: 1 body
big 10000
denied 2 10.0.0.1 is a private address
vrf 00ff abcd vrf:1:alice:coin
pubkey Err(5)
`
	if out != want {
		t.Fatalf("output:\n%s\nwant:\n%s", out, want)
	}
	if len(w.calls) != 11 {
		t.Fatalf("%d calls", len(w.calls))
	}
}

func TestCHeader(t *testing.T) {
	wasm := compile(t, "clang", "--target=wasm32-wasi", "-O2", "cprobe.c")
	out, _ := runWithFake(t, wasm)
	want := `get hello
missing error 1 no value for "missing"
has 1
incr 42
big status 200 body 10000
vrf 00ff
pubkey error 5 vrf_pubkey is not offered by this fake
`
	if out != want {
		t.Fatalf("output:\n%s\nwant:\n%s", out, want)
	}
}
