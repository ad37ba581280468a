package devchain

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestNearAPIJS runs jstest/test.mjs: near-api-js (the client most NEAR
// dapps use, pinned in jstest/package-lock.json) drives this devchain as a
// dapp would: accounts and keys, balance and state, deploy, calls, views and
// their errors, transaction/receipt/chunk look-ups, queries at a past block,
// a NEP-366 meta-transaction, and the OutLayer request → yield → resolve
// flow. It needs node and npm (and the npm registry for `npm ci`); it is
// skipped only when node is not installed, and never in CI (.ci/run sets
// OUTLAYER_REQUIRE_NODE=1, so a CI machine without node fails here).
func TestNearAPIJS(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("OUTLAYER_REQUIRE_NODE") == "1" {
			t.Fatal("node is not installed but OUTLAYER_REQUIRE_NODE=1: the near-api-js suite must run here")
		}
		t.Skip("node is not installed: the near-api-js suite (testnet/devchain/jstest) did not run")
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Fatal("node is installed but npm is not; install npm to run the near-api-js suite")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir, err := filepath.Abs("jstest")
	if err != nil {
		t.Fatal(err)
	}
	run := func(timeout time.Duration, env []string, name string, args ...string) {
		t.Helper()
		cctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		cmd := exec.CommandContext(cctx, name, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), env...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			t.Fatalf("%s %v: %v (deadline %s)\n%s", filepath.Base(name), args, err, timeout, out.String())
		}
		t.Logf("%s %v:\n%s", filepath.Base(name), args, out.String())
	}
	run(2*time.Minute, nil, npm, "ci", "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error")

	c, _, _ := startChain(t, Config{BlockTime: 20 * time.Millisecond})
	abs := func(p string) string {
		a, err := filepath.Abs(p)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	run(time.Minute, []string{
		"NEAR_RPC_URL=" + c.RPCURL(),
		"ROOT_KEY_FILE=" + c.RootKeyFile(),
		"COUNTER_WASM=" + abs("../examples/contracts/wasm/counter.wasm"),
		"OUTLAYER_WASM=" + abs("../../contracts/wasm/outlayer.wasm"),
	}, node, "--test", "--test-reporter=spec", "test.mjs")
}
