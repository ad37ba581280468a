package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/outlayer/outlayer/contracts"
	"github.com/outlayer/outlayer/testnet"
)

// `outlayerd attest verify-result` against a real one-node testnet: the
// result the node ran verifies (loudly simulated), and the same request
// served with any part of its result changed does not.
func TestAttestVerifyResultAgainstTestnet(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	wasmPath := filepath.Join(dir, "echo.wasm")
	build := exec.Command("go", "build", "-trimpath", "-o", wasmPath, "../../testnet/examples/programs/echo")
	build.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the echo program: %v\n%s", err, out)
	}
	wasm, err := os.ReadFile(wasmPath)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(wasm)
	files := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(wasm) }))
	defer files.Close()

	tn, err := testnet.Start(ctx, testnet.Config{Home: filepath.Join(dir, "testnet"), RPCAddr: "127.0.0.1:0", BlockTime: 50 * time.Millisecond, Nodes: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = tn.Close(sctx)
	}()
	node := tn.Nodes[0].HTTPAddr()

	limits := contracts.ResourceLimits{MaxInstructions: 50_000_000, MaxMemoryMB: 32, MaxExecutionSeconds: 5}
	deposit, _ := contracts.DefaultPricing().Estimate(limits).Add(contracts.DefaultPricing().BaseFee)
	input := "attest me"
	out, err := testnet.SendAndWait(ctx, tn.User, tn.Contract, contracts.MethodRequestExecution, contracts.RequestExecutionArgs{
		CodeSource:     contracts.CodeSource{WasmURL: &contracts.WasmURLSource{URL: files.URL + "/echo.wasm", Hash: hex.EncodeToString(sum[:])}},
		ResourceLimits: &limits, InputData: &input, ResponseFormat: contracts.FormatText,
	}, deposit)
	if err != nil {
		t.Fatal(err)
	}
	evs, err := contracts.OutLayerEvents(out.Logs())
	if err != nil {
		t.Fatal(err)
	}
	var id uint64
	found := false
	for _, ev := range evs {
		if ev.Event == contracts.EventExecutionRequested {
			var req contracts.ExecutionRequested
			if err := ev.Decode(ev.Event, &req); err != nil {
				t.Fatal(err)
			}
			id, found = req.RequestData.RequestID, true
		}
	}
	if !found {
		t.Fatalf("no execution_requested event in %q", out.Logs())
	}
	idArg := strconv.FormatUint(id, 10)

	// The request as the node serves it, once it has a result.
	var served map[string]any
	deadline := time.Now().Add(time.Minute)
	for {
		served = fetchRaw(t, "http://"+node+"/requests/"+idArg)
		if served["result"] != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("request %d has no result: %v", id, served)
		}
		time.Sleep(50 * time.Millisecond) // polling a condition with a deadline
	}

	code, stdout, stderr := outlayerd(t, "attest", "verify-result", idArg, "--node", node, "--dev")
	if code != exitOK || !strings.Contains(stdout, "VERIFIED (SIMULATED ATTESTATION") || !strings.Contains(stderr, "simulated attestation") ||
		!strings.Contains(stdout, hex.EncodeToString(sum[:])) {
		t.Fatalf("verify-result --dev: exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
	t.Logf("verify-result --dev:\n%s%s", stdout, stderr)
	code, stdout, stderr = outlayerd(t, "attest", "verify-result", idArg, "--node", "http://"+node, "--dev", "--json")
	var verdict struct {
		Verified bool   `json:"verified"`
		Notice   string `json:"notice"`
		Claim    struct {
			InputSHA256 string `json:"input_sha256"`
		} `json:"claim"`
	}
	inSum := sha256.Sum256([]byte(input))
	if code != exitOK || json.Unmarshal([]byte(stdout), &verdict) != nil || !verdict.Verified ||
		!strings.Contains(verdict.Notice, "simulated attestation") || verdict.Claim.InputSHA256 != hex.EncodeToString(inSum[:]) {
		t.Fatalf("verify-result --json: exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
	code, _, stderr = outlayerd(t, "attest", "verify-result", idArg, "--node", node)
	if code != exitFailure || !strings.Contains(stderr, "NOT VERIFIED") || !strings.Contains(stderr, "give --dev") {
		t.Fatalf("verify-result without --dev: exit %d, stderr %q", code, stderr)
	}

	// The same request served with one thing changed.
	otherNode := func() string {
		k, _, _ := crypto.GenerateEd25519Key(rand.Reader)
		pid, _ := peer.IDFromPrivateKey(k)
		return pid.String()
	}()
	edits := []struct {
		name string
		edit func(job, res map[string]any)
		want string
	}{
		{"output", func(_, res map[string]any) {
			res["output"] = base64.StdEncoding.EncodeToString([]byte("forged output"))
		}, "report data mismatch"},
		{"input", func(job, _ map[string]any) { job["input"] = "another input" }, "report data mismatch"},
		{"instructions", func(_, res map[string]any) { res["instructions"] = res["instructions"].(float64) + 1 }, "report data mismatch"},
		{"success", func(_, res map[string]any) { res["success"] = false; res["error"] = "" }, "report data mismatch"},
		{"reporting node", func(_, res map[string]any) { res["node"] = otherNode }, "not a configured dev key"},
		{"evidence removed", func(_, res map[string]any) { delete(res, "attestation") }, "carries no attestation"},
		{"evidence garbled", func(_, res map[string]any) {
			res["attestation"] = base64.StdEncoding.EncodeToString([]byte(`{"kind":"tdx"}`))
		}, "malformed"},
	}
	for _, e := range edits {
		var job map[string]any
		raw, _ := json.Marshal(served)
		_ = json.Unmarshal(raw, &job)
		e.edit(job, job["result"].(map[string]any))
		body, _ := json.Marshal(job)
		fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/requests/"+idArg {
				http.NotFound(w, r)
				return
			}
			_, _ = w.Write(body)
		}))
		code, stdout, stderr := outlayerd(t, "attest", "verify-result", idArg, "--node", fake.URL, "--dev")
		fake.Close()
		if code != exitFailure || !strings.Contains(stderr, "NOT VERIFIED") || !strings.Contains(stderr, e.want) {
			t.Errorf("%s changed: exit %d\nstdout %s\nstderr %s", e.name, code, stdout, stderr)
		}
	}

	if code, _, stderr := outlayerd(t, "attest", "verify-result", "--node", node); code != exitUsage {
		t.Errorf("no request id: exit %d, %q", code, stderr)
	}
	if code, _, stderr := outlayerd(t, "attest", "verify-result", "seven", "--node", node); code != exitUsage || !strings.Contains(stderr, "not a request number") {
		t.Errorf("bad request id: exit %d, %q", code, stderr)
	}
	if code, _, stderr := outlayerd(t, "attest", "verify-result", "999999", "--node", node, "--dev"); code != exitFailure || !strings.Contains(stderr, "not known") {
		t.Errorf("unknown request: exit %d, %q", code, stderr)
	}
}

func fetchRaw(t *testing.T, url string) map[string]any {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &m) != nil {
		t.Fatalf("GET %s: %s %s", url, resp.Status, b)
	}
	return m
}
