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
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/outlayer/outlayer/contracts"
	"github.com/outlayer/outlayer/contracts/near"
	"github.com/outlayer/outlayer/testnet"
	"github.com/outlayer/outlayer/testnet/fixture"
)

// `outlayerd attest verify-result` against a real one-node testnet: the
// result the node ran verifies (loudly simulated), and the same request
// served with any part of its result changed does not.
func TestAttestVerifyResultAgainstTestnet(t *testing.T) {
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

	// 100ms blocks: the 200-block yield window (20s) must hold a first
	// compile of the program on a loaded machine.
	tn, err := testnet.Start(ctx, testnet.Config{Home: filepath.Join(dir, "testnet"), RPCAddr: "127.0.0.1:0", BlockTime: 100 * time.Millisecond, Nodes: 1})
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
	out, err := fixture.SendAndWait(ctx, tn.User, tn.Contract, contracts.MethodRequestExecution, contracts.RequestExecutionArgs{
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
	status := fetchRaw(t, "http://"+node+"/status")
	if status["claim_chain_id"] == "" || status["contract"] != tn.Contract {
		t.Fatalf("/status binds chain %v contract %v", status["claim_chain_id"], status["contract"])
	}
	edits := []struct {
		name string
		edit func(job, res map[string]any)
		want string
		// deployment, when set, edits the node's /status: the same
		// evidence presented by another deployment.
		deployment func(st map[string]any)
	}{
		{"data id", func(job, _ map[string]any) { job["data_id"] = strings.Repeat("0", 64) }, "report data mismatch", nil},
		{"sender", func(job, _ map[string]any) { job["sender"] = "eve.test.near" }, "report data mismatch", nil},
		{"contract", func(_, _ map[string]any) {}, "report data mismatch", func(st map[string]any) { st["contract"] = "outlayer.elsewhere.near" }},
		{"chain", func(_, _ map[string]any) {}, "report data mismatch", func(st map[string]any) { st["claim_chain_id"] = "mainnet" }},
		{"output", func(_, res map[string]any) {
			res["output"] = base64.StdEncoding.EncodeToString([]byte("forged output"))
		}, "report data mismatch", nil},
		{"input", func(job, _ map[string]any) { job["input"] = "another input" }, "report data mismatch", nil},
		{"instructions", func(_, res map[string]any) { res["instructions"] = res["instructions"].(float64) + 1 }, "report data mismatch", nil},
		{"success", func(_, res map[string]any) { res["success"] = false; res["error"] = "" }, "report data mismatch", nil},
		{"reporting node", func(_, res map[string]any) { res["node"] = otherNode }, "not a configured dev key", nil},
		{"evidence removed", func(_, res map[string]any) { delete(res, "attestation") }, "carries no attestation", nil},
		{"evidence garbled", func(_, res map[string]any) {
			res["attestation"] = base64.StdEncoding.EncodeToString([]byte(`{"kind":"tdx"}`))
		}, "malformed", nil},
	}
	for _, e := range edits {
		var job map[string]any
		raw, _ := json.Marshal(served)
		_ = json.Unmarshal(raw, &job)
		e.edit(job, job["result"].(map[string]any))
		body, _ := json.Marshal(job)
		var st map[string]any
		raw, _ = json.Marshal(status)
		_ = json.Unmarshal(raw, &st)
		if e.deployment != nil {
			e.deployment(st)
		}
		stBody, _ := json.Marshal(st)
		fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch r.URL.Path {
			case "/requests/" + idArg:
				_, _ = w.Write(body)
			case "/status":
				_, _ = w.Write(stBody)
			default:
				http.NotFound(w, r)
			}
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

	// Cross-checking with the chain. Once settled, the request is gone
	// from the contract: the result still verifies, saying loudly that
	// only the node's copy of the request could be checked.
	chainFlags := []string{"--near-rpc", tn.Chain.RPCURL(), "--contract", tn.Contract}
	viewRequest := func(id uint64) *contracts.ExecutionRequest {
		t.Helper()
		var r *contracts.ExecutionRequest
		if err := tn.Client.ViewFunction(ctx, tn.Contract, contracts.MethodGetRequest, contracts.RequestIDArgs{RequestID: id}, &r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	for deadline := time.Now().Add(time.Minute); viewRequest(id) != nil; {
		if time.Now().After(deadline) {
			t.Fatalf("request %d is still in the contract's state a minute after its result", id)
		}
		time.Sleep(50 * time.Millisecond) // polling a condition with a deadline
	}
	code, stdout, stderr = outlayerd(t, append([]string{"attest", "verify-result", idArg, "--node", node, "--dev"}, chainFlags...)...)
	if code != exitOK || !strings.Contains(stderr, "no longer in contract "+tn.Contract) || !strings.Contains(stderr, "only the node's copy") ||
		!strings.Contains(stdout, "could not be compared") {
		t.Fatalf("verify-result of a settled request with the chain: exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
	code, stdout, stderr = outlayerd(t, append([]string{"attest", "verify-result", idArg, "--node", node, "--dev", "--json"}, chainFlags...)...)
	var chainVerdict struct {
		Verified    bool   `json:"verified"`
		Chain       string `json:"chain"`
		ChainNotice string `json:"chain_notice"`
		Signatures  *struct {
			Required       uint64 `json:"required"`
			ClaimHash      string `json:"claim_hash"`
			ChainClaimHash string `json:"chain_claim_hash"`
			Signers        []struct {
				Key                         string
				Valid, Registered, Attested bool
				Attestation                 string
			} `json:"signers"`
		} `json:"signatures"`
	}
	if code != exitOK || json.Unmarshal([]byte(stdout), &chainVerdict) != nil || !chainVerdict.Verified || chainVerdict.Chain != "settled" ||
		!strings.Contains(chainVerdict.ChainNotice, "only the node's copy") {
		t.Fatalf("verify-result --json of a settled request with the chain: exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
	// The testnet's contract requires executor signatures (k = 1 with one
	// node): the resolve carried the node's, valid, registered, over the
	// claim the contract logged, and the node's result is attested.
	sv := chainVerdict.Signatures
	if sv == nil || sv.Required != 1 || len(sv.Signers) != 1 || sv.ClaimHash == "" || sv.ClaimHash != sv.ChainClaimHash ||
		!sv.Signers[0].Valid || !sv.Signers[0].Registered || !sv.Signers[0].Attested || sv.Signers[0].Attestation != "simulated" {
		t.Fatalf("the resolve's signatures: %+v\nstdout %s", sv, stdout)
	}
	// The signer's key removed since (as the cluster removes a replaced
	// identity's): the contract accepted it at the resolve, so the
	// settled result still verifies with the key counted as registered.
	signer, err := near.ParsePublicKey(sv.Signers[0].Key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tn.Owner.CallFunction(ctx, tn.Contract, contracts.MethodRemoveExecutorKey, contracts.ExecutorKeyArgs{PublicKey: signer}, 30*near.TGas, near.U128{}); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = outlayerd(t, append([]string{"attest", "verify-result", idArg, "--node", node, "--dev", "--json"}, chainFlags...)...)
	chainVerdict.Signatures = nil
	if code != exitOK || json.Unmarshal([]byte(stdout), &chainVerdict) != nil || !chainVerdict.Verified ||
		chainVerdict.Signatures == nil || len(chainVerdict.Signatures.Signers) != 1 || !chainVerdict.Signatures.Signers[0].Registered {
		t.Fatalf("verify-result after the signer's key was removed: exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
	if _, err := tn.Owner.CallFunction(ctx, tn.Contract, contracts.MethodAddExecutorKey, contracts.AddExecutorKeyArgs{PublicKey: signer}, 30*near.TGas, near.U128{}); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := outlayerd(t, "attest", "verify-result", idArg, "--node", node, "--dev", "--near-rpc", tn.Chain.RPCURL()); code != exitUsage || !strings.Contains(stderr, "go together") {
		t.Errorf("--near-rpc without --contract: exit %d, %q", code, stderr)
	}
	if code, _, stderr := outlayerd(t, "attest", "verify-result", idArg, "--node", node, "--dev",
		"--near-rpc", tn.Chain.RPCURL(), "--contract", "nobody.test.near"); code != exitFailure || !strings.Contains(stderr, "cross-checking request") {
		t.Errorf("a contract that is not there: exit %d, %q", code, stderr)
	}

	// A pending request: with the cluster stopped nothing settles it, so
	// the contract still holds it while a node (here a fake one serving
	// the first request's result under its id) claims things about it.
	stopCtx, stopCancel := context.WithTimeout(ctx, 30*time.Second)
	if err := tn.Nodes[0].Stop(stopCtx); err != nil {
		t.Fatalf("stopping the node: %v", err)
	}
	stopCancel()
	pendingInput := "still pending"
	args, err := json.Marshal(contracts.RequestExecutionArgs{
		CodeSource:     contracts.CodeSource{WasmURL: &contracts.WasmURLSource{URL: files.URL + "/echo.wasm", Hash: hex.EncodeToString(sum[:])}},
		ResourceLimits: &limits, InputData: &pendingInput, ResponseFormat: contracts.FormatText,
	})
	if err != nil {
		t.Fatal(err)
	}
	st, err := tn.User.Sign(ctx, tn.Contract, near.FunctionCall{MethodName: contracts.MethodRequestExecution, Args: args, Gas: 300_000_000_000_000, Deposit: deposit})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tn.Client.BroadcastTxAsync(ctx, st); err != nil {
		t.Fatal(err)
	}
	pendingID := id + 1 // the contract numbers requests in order
	var pending *contracts.ExecutionRequest
	for deadline := time.Now().Add(time.Minute); ; {
		if pending = viewRequest(pendingID); pending != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("request %d never appeared in the contract's state", pendingID)
		}
		time.Sleep(20 * time.Millisecond) // polling a condition with a deadline
	}
	if pending.InputData == nil || *pending.InputData != pendingInput || pending.SenderID != tn.User.AccountID() {
		t.Fatalf("request %d on chain is not the one sent: %+v", pendingID, pending)
	}
	pendingArg := strconv.FormatUint(pendingID, 10)
	chainEdits := []struct {
		name string
		edit func(job map[string]any)
		want string
	}{
		// Same input, sender and code as the chain: the chain check passes
		// and the (borrowed) attestation is what fails.
		{"nothing", func(map[string]any) {}, "report data mismatch"},
		{"input", func(job map[string]any) { job["input"] = "an input the chain never saw" }, "the input data is"},
		{"sender", func(job map[string]any) { job["sender"] = "mallory." + tn.Chain.RootAccount() }, "the sender is"},
		{"code", func(job map[string]any) {
			job["code"].(map[string]any)["wasm"].(map[string]any)["hash"] = strings.Repeat("ab", 32)
		}, "the code source is"},
	}
	for _, e := range chainEdits {
		var job map[string]any
		raw, _ := json.Marshal(served)
		_ = json.Unmarshal(raw, &job)
		job["id"], job["input"] = pendingID, pendingInput
		e.edit(job)
		body, _ := json.Marshal(job)
		fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/requests/"+pendingArg {
				http.NotFound(w, r)
				return
			}
			_, _ = w.Write(body)
		}))
		code, stdout, stderr := outlayerd(t, append([]string{"attest", "verify-result", pendingArg, "--node", fake.URL, "--dev"}, chainFlags...)...)
		fake.Close()
		mismatch := strings.Contains(stderr, "does not match the chain")
		if code != exitFailure || !strings.Contains(stderr, "NOT VERIFIED") || !strings.Contains(stderr, e.want) || mismatch != (e.name != "nothing") {
			t.Errorf("pending request, %s changed: exit %d\nstdout %s\nstderr %s", e.name, code, stdout, stderr)
		}
	}
	if viewRequest(pendingID) == nil {
		t.Fatalf("request %d left the contract's state during the checks (yield timeout?); the mismatch cases above did not test the chain", pendingID)
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
