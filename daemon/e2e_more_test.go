package daemon_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/outlayer/outlayer/contracts"
	"github.com/outlayer/outlayer/contracts/near"
	"github.com/outlayer/outlayer/daemon"
	"github.com/outlayer/outlayer/failure"
	"github.com/outlayer/outlayer/store"
)

// gitRepo makes a real git repository with files committed and returns its
// path and the commit sha.
func gitRepo(t *testing.T, files map[string]string) (string, string) {
	t.Helper()
	dir := t.TempDir()
	run := func(args ...string) string {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com",
			"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	run("init", "--quiet", "--initial-branch=main")
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run("add", "-A")
	run("commit", "--quiet", "-m", "program")
	return dir, run("rev-parse", "HEAD")
}

const greetMain = `package main

import (
	"io"
	"os"
)

func main() {
	in, _ := io.ReadAll(os.Stdin)
	os.Stdout.WriteString("built from git: " + string(in))
}
`

var goMod = "module example.com/prog\n\ngo 1.24\n"

// The first request for a git commit builds it; later ones use the cluster's
// cache, also on nodes that never built it (they get it by hash).
func TestGitProgramBuiltOnceAndServedFromCache(t *testing.T) {
	w := newWorld(t, 50*time.Millisecond, 2400)
	w.startCluster(3, func(c *daemon.Config) { c.Slots = 1 })
	repo, commit := gitRepo(t, map[string]string{"go.mod": goMod, "main.go": greetMain})
	limits := contracts.ResourceLimits{MaxInstructions: 100_000_000, MaxMemoryMB: 64, MaxExecutionSeconds: 10}
	deposit := nearAmount(t, "1")

	first := w.request(gitSource(repo, commit), "one", limits, contracts.FormatText, deposit)
	o1 := parseOutcome(t, w.final(first, w.alice.AccountID(), 3*time.Minute))
	j1 := w.job(o1.requestID, 10*time.Second)
	if !j1.Result.Success || string(j1.Result.Output) != "built from git: one" || j1.Result.CompileMs == nil {
		t.Fatalf("first request: %+v (result %+v)", j1, j1.Result)
	}
	if len(o1.completed) != 1 || o1.completed[0].ResourcesUsed.CompileTimeMs == nil {
		t.Fatalf("first completion = %+v; want compile time charged", o1.completed)
	}
	builder := j1.Result.Node

	// Three at once: with one slot per node they spread over the cluster.
	var hashes []near.CryptoHash
	for i := range 3 {
		hashes = append(hashes, w.request(gitSource(repo, commit), fmt.Sprint("again ", i), limits, contracts.FormatText, deposit))
	}
	ranOn := map[string]bool{}
	for i, h := range hashes {
		o := parseOutcome(t, w.final(h, w.alice.AccountID(), time.Minute))
		j := w.job(o.requestID, 10*time.Second)
		if !j.Result.Success || string(j.Result.Output) != fmt.Sprint("built from git: again ", i) {
			t.Fatalf("cached request %d: %+v", i, j.Result)
		}
		if j.Result.CompileMs != nil || !strings.HasPrefix(j.Result.CompilationNote, "Cached WASM") {
			t.Errorf("request %d was not served from the cache: note %q", i, j.Result.CompilationNote)
		}
		if j.Result.WasmHash != j1.Result.WasmHash {
			t.Errorf("request %d ran %s, the build was %s", i, j.Result.WasmHash, j1.Result.WasmHash)
		}
		ranOn[j.Result.Node] = true
	}
	var builds uint64
	for i := range w.nodes {
		builds += w.node(i).Builds()
	}
	if builds != 1 {
		t.Errorf("%d builds across the cluster, want 1", builds)
	}
	delete(ranOn, builder)
	if len(ranOn) == 0 {
		t.Errorf("no node other than the builder ran the cached WASM")
	}
	// Every replica holds the blob under its hash.
	h, err := store.ParseBlobHash(j1.Result.WasmHash)
	if err != nil {
		t.Fatal(err)
	}
	for i := range w.nodes {
		if _, err := w.node(i).Consensus().Store().Blob(h); err != nil {
			t.Errorf("node %d lacks the blob: %v", i, err)
		}
	}
}

// Programs that misbehave, and sources that cannot be built, are resolved as
// failures with a readable reason; the payer gets all but the base fee back.
func TestBadProgramsResolveAsFailuresWithRefund(t *testing.T) {
	w := newWorld(t, 50*time.Millisecond, 2400)
	w.startCluster(3, nil)
	badRepo, badCommit := gitRepo(t, map[string]string{"go.mod": goMod, "main.go": "package main\n\nfunc main() { this is not Go }\n"})
	pricing := contracts.DefaultPricing()
	small := contracts.ResourceLimits{MaxInstructions: 200_000_000, MaxMemoryMB: 32, MaxExecutionSeconds: 10}
	cases := []struct {
		name   string
		code   contracts.CodeSource
		input  string
		format contracts.ResponseFormat
		want   string
		kind   failure.Kind
	}{
		{"loop", w.wasmSource("loop"), "", contracts.FormatText, "instruction limit exceeded", failure.InstructionLimit},
		{"memory bomb", w.wasmSource("membomb"), "", contracts.FormatText, "memory limit exceeded", failure.MemoryLimit},
		{"panic", w.wasmSource("panic"), "", contracts.FormatText, "assignment to entry in nil map", failure.NonZeroExit},
		{"bad JSON output", w.wasmSource("echo"), "this is not JSON", contracts.FormatJSON, "not valid JSON", failure.BadOutput},
		{"compile error", gitSource(badRepo, badCommit), "", contracts.FormatText, "Compilation failed", failure.CompilationFailed},
		{"missing repo", gitSource(filepath.Join(t.TempDir(), "nothing-here"), "main"), "", contracts.FormatText, "Compilation failed", failure.CompilationFailed},
		{"wrong hash", contracts.CodeSource{WasmURL: &contracts.WasmURLSource{URL: w.files.URL + "/echo.wasm", Hash: strings.Repeat("ab", 32)}}, "", contracts.FormatText, "sha256", failure.CompilationFailed},
	}
	deposit := add(pricing.Estimate(small), nearAmount(t, "0.5"))
	payer := w.account("badpayer", 1)
	payerBefore := w.balance(payer.AccountID())
	hashes := make([]near.CryptoHash, len(cases))
	for i, c := range cases {
		in := c.input
		hashes[i] = w.send(w.alice, w.outlayer, contracts.MethodRequestExecution, contracts.RequestExecutionArgs{
			CodeSource: c.code, ResourceLimits: &small, InputData: &in, ResponseFormat: c.format, PayerAccountID: payer.AccountID(),
		}, deposit)
	}
	results := w.finals(hashes, w.alice.AccountID(), 3*time.Minute)
	refund := sub(deposit, pricing.BaseFee)
	expected := payerBefore
	for i, c := range cases {
		o := results[i]
		if len(o.completed) != 1 {
			t.Errorf("%s: %d completion events", c.name, len(o.completed))
			continue
		}
		ev := o.completed[0]
		if ev.Success || ev.ErrorMessage == nil || !strings.Contains(*ev.ErrorMessage, c.want) {
			t.Errorf("%s: completion %+v, want a failure mentioning %q", c.name, ev, c.want)
		} else {
			t.Logf("%s: %s", c.name, firstLine(*ev.ErrorMessage))
		}
		if c.name == "wrong hash" && strings.Contains(*ev.ErrorMessage, w.wasmSource("echo").WasmURL.Hash) {
			t.Errorf("the on-chain error echoes the hash of what the URL served: %s", *ev.ErrorMessage)
		}
		if ev.PaymentCharged != pricing.BaseFee || ev.PaymentRefunded != refund {
			t.Errorf("%s: charged %s refunded %s, want %s and %s", c.name, ev.PaymentCharged, ev.PaymentRefunded, pricing.BaseFee, refund)
		}
		expected = add(expected, refund)
		j := w.job(o.requestID, 10*time.Second)
		// Resolved, or closed because the chain already had this request's
		// resolution (a leader that sent it lost leadership before recording
		// it; the chain's single completion event above is what counts).
		if (j.Status != store.StatusResolved && !(j.Status == store.StatusExpired && strings.Contains(j.Error, "already"))) || j.Result == nil || j.Result.Success {
			t.Errorf("%s: replica has %s %+v", c.name, j.Status, j.Result)
		} else if j.Result.ErrorKind != c.kind {
			t.Errorf("%s: error kind %q, want %q", c.name, j.Result.ErrorKind, c.kind)
		}
	}
	if got := w.balance(payer.AccountID()); got != expected {
		t.Errorf("payer balance %s, want %s", got, expected)
	}
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
