package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/outlayer/outlayer/testnet"
)

// `outlayerd status` and `outlayerd request` against an in-process local
// testnet (devchain, contracts, three nodes).
func TestStatusAndRequestAgainstTestnet(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	wasm, err := os.ReadFile(buildSample(t, dir, "echo"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(wasm)
	files := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(wasm) }))
	defer files.Close()

	home := filepath.Join(dir, "testnet")
	// 100ms blocks: the 200-block yield window (20s) must hold a first
	// compile of the program on a loaded machine.
	tn, err := testnet.Start(ctx, testnet.Config{Home: home, RPCAddr: "127.0.0.1:0", BlockTime: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = tn.Close(sctx)
	}()
	node := tn.Nodes[0].HTTPAddr()

	// status: all three members, a leader, the simulated attestation.
	deadline := time.Now().Add(30 * time.Second)
	var out string
	for {
		code, o, errOut := runCLI(t, "", "status", "--node", node)
		out = o
		if code == exitOK && strings.Count(out, "connected") == 3 && strings.Contains(out, "* ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status (exit %d):\n%s\n%s", code, out, errOut)
		}
		time.Sleep(100 * time.Millisecond) // polling a condition with a deadline
	}
	if !strings.Contains(out, "simulated attestation") || !strings.Contains(out, tn.Contract) {
		t.Errorf("status output lacks the attestation mode or the contract:\n%s", out)
	}
	if !strings.Contains(out, "storage: programs store ") || !strings.Contains(out, "pruned") {
		t.Errorf("status output lacks the storage line:\n%s", out)
	}
	code, out, errOut := runCLI(t, "", "status", "--node", node, "--json")
	var st struct {
		Status struct {
			Leader string `json:"leader"`
			Nodes  []any  `json:"nodes"`
		} `json:"status"`
	}
	if code != exitOK || json.Unmarshal([]byte(out), &st) != nil || st.Status.Leader == "" || len(st.Status.Nodes) != 3 {
		t.Errorf("status --json (exit %d): %s %s", code, out, errOut)
	}
	// The leader's status shows the executor keys it keeps: the
	// testnet's owner registered all three, so nothing is pending.
	deadline = time.Now().Add(30 * time.Second)
	for {
		var o string
		for _, n := range tn.Nodes {
			if n.IsLeader() {
				_, o, _ = runCLI(t, "", "status", "--node", n.HTTPAddr())
			}
		}
		if strings.Contains(o, "executor keys: 3 registered on the contract, 0 changes pending") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the leader's status does not show the three registered executor keys:\n%s", o)
		}
		time.Sleep(100 * time.Millisecond) // polling a condition with a deadline
	}
	if code, _, errOut := runCLI(t, "", "status", "--node", "127.0.0.1:1"); code != exitFailure || !strings.Contains(errOut, "asking the node") {
		t.Errorf("status of a node that is not there: exit %d, %q", code, errOut)
	}

	// request: the output comes back, with the cost and the refund.
	key := filepath.Join(home, "keys", tn.User.AccountID()+".json")
	common := []string{"request", "--near-rpc", tn.Chain.RPCURL(), "--contract", tn.Contract, "--account-key", key,
		"--wasm-url", files.URL + "/echo.wasm", "--max-seconds", "5", "--timeout", "1m"}
	code, out, errOut = runCLI(t, "", append(common, "--wasm-hash", hex.EncodeToString(sum[:]), "--input", "hello from the cli")...)
	if code != exitOK || !strings.Contains(out, `output: "hello from the cli"`) || !strings.Contains(out, "refunded") {
		t.Fatalf("request (exit %d):\n%s\n%s", code, out, errOut)
	}
	// A WASM whose hash does not match: the request fails, the caller is
	// told why and refunded.
	bad := strings.Repeat("0", 64)
	code, out, errOut = runCLI(t, "", append(common, "--wasm-hash", bad, "--input", "x")...)
	if code != exitFailure || !strings.Contains(errOut, "the request failed") || !strings.Contains(out, "refunded") {
		t.Fatalf("request with a wrong hash (exit %d):\n%s\n%s", code, out, errOut)
	}
	// Usage errors lose nothing and exit 2.
	if code, _, errOut := runCLI(t, "", "request", "--contract", tn.Contract, "--account-key", key); code != exitUsage || !strings.Contains(errOut, "give the code") {
		t.Errorf("request without code: exit %d, %q", code, errOut)
	}
}
