package web_test

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"golang.org/x/crypto/chacha20poly1305"

	"github.com/outlayer/outlayer/contracts"
	"github.com/outlayer/outlayer/contracts/near"
	"github.com/outlayer/outlayer/daemon"
	"github.com/outlayer/outlayer/daemon/keystore"
	"github.com/outlayer/outlayer/exec/build"
	"github.com/outlayer/outlayer/testnet/devchain"
	"github.com/outlayer/outlayer/testnet/fixture"
	"github.com/outlayer/outlayer/web"
)

// chromium finds the browser, or skips (fails when
// OUTLAYER_REQUIRE_CHROMIUM is set, as CI sets it).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("OUTLAYER_REQUIRE_CHROMIUM") != "" {
		t.Fatal("chromium is not installed (apt-get install chromium), and OUTLAYER_REQUIRE_CHROMIUM is set")
	}
	t.Skip("chromium is not installed (apt-get install chromium)")
	return ""
}

// browser is one headless Chromium tab that records every console error,
// uncaught exception and browser-log error (a failed load, a CSP refusal).
type browser struct {
	t    *testing.T
	ctx  context.Context
	mu   sync.Mutex
	errs []string
}

// pageAlone serves the UI's static files alone (no node behind them) and
// opens path in a new browser, waiting for ready; it returns the browser
// and the server's base URL.
func pageAlone(t *testing.T, path, ready string) (*browser, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	mux := http.NewServeMux()
	if err := web.Mount(mux); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	b := newBrowser(t, ctx)
	b.do("load", chromedp.Navigate(srv.URL+path), chromedp.WaitVisible(css(ready)))
	return b, srv.URL
}

func newBrowser(t *testing.T, parent context.Context) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)), chromedp.NoSandbox, chromedp.WindowSize(1100, 800),
		chromedp.Flag("disable-gpu", true), chromedp.Flag("disable-dev-shm-usage", true))
	actx, cancelA := chromedp.NewExecAllocator(parent, opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelA() })
	b := &browser{t: t, ctx: ctx}
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("starting chromium: %v", err)
	}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				b.mu.Lock()
				b.errs = append(b.errs, m.String()+" "+m.URL)
				b.mu.Unlock()
			}
		}
	}()
	return b
}

func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 45*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		dctx, dcancel := context.WithTimeout(b.ctx, 5*time.Second)
		defer dcancel()
		page, _ := chromedp.Run(dctx, chromedp.Evaluate[string](`document.querySelector("main")?.innerText ?? ""`))
		b.t.Fatalf("%s: %v (browser errors so far: %q)\nthe page shows:\n%s", what, err, b.errors(), page)
	}
}

// eval runs a JavaScript expression (awaiting a promise) in the page.
func eval[T any](b *browser, what, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 45*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("%s: %v (browser errors so far: %q)", what, err, b.errors())
	}
	return v
}

func (b *browser) errors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.errs...)
}

// screenshot saves the viewport as NAME.png in $OUTLAYER_UI_SCREENSHOTS
// (the README's pictures), when that is set.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	dir := os.Getenv("OUTLAYER_UI_SCREENSHOTS")
	if dir == "" {
		return
	}
	// Let the new-row highlight fade: a picture, not a synchronisation.
	time.Sleep(2600 * time.Millisecond)
	png, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// text waits for the element sel and returns its text.
func (b *browser) text(sel string) string {
	b.t.Helper()
	b.do("waiting for "+sel, chromedp.WaitVisible(css(sel)))
	s, err := chromedp.Run(b.ctx, chromedp.Text(css(sel)))
	if err != nil {
		b.t.Fatalf("reading %s: %v", sel, err)
	}
	return s
}

func css(sel string) chromedp.CSS { return chromedp.CSS(sel) }

// eventually polls cond until it holds or within passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(50 * time.Millisecond) // polling a condition with a deadline
	}
}

func getJSON(u string, out any) error {
	resp, err := http.Get(u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s: %s", u, resp.Status, body)
	}
	return json.Unmarshal(body, out)
}

// buildEnvinfo builds testnet/examples/programs/envinfo (prints its
// NEAR_* context and the secret API_KEY as JSON).
func buildEnvinfo(t *testing.T) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "envinfo.wasm")
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, "../testnet/examples/programs/envinfo")
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building envinfo: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// goCache is the toolchain's own build cache, which already holds the
// standard library for wasip1 (built by buildEnvinfo at the latest): a
// cold cache costs more than a request's yield window.
func goCache(t *testing.T) string {
	out, err := exec.Command("go", "env", "GOCACHE").Output()
	if err != nil || strings.TrimSpace(string(out)) == "" {
		t.Fatalf("go env GOCACHE: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// gitProgram makes a git repository holding a one-file Go program and
// returns its path and commit.
func gitProgram(t *testing.T) (string, string) {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"go.mod":  "module example.com/hello\n\ngo 1.24\n",
		"main.go": "package main\n\nimport \"os\"\n\nfunc main() { os.Stdout.WriteString(`{\"hello\":\"from git\"}`) }\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	git := func(args ...string) string {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t",
			"GIT_COMMITTER_EMAIL=t@example.com", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("init", "--quiet", "--initial-branch=main")
	git("add", "-A")
	git("commit", "--quiet", "-m", "hello")
	return dir, git("rev-parse", "HEAD")
}

// testnet is a devchain, the contracts, three nodes and a file server for
// the envinfo program.
type testnet struct {
	t       *testing.T
	ctx     context.Context
	w       *fixture.World
	nodes   []*daemon.Node
	code    contracts.CodeSource
	wasmHex string
	sent    []near.CryptoHash
}

func startTestnet(t *testing.T, ctx context.Context) *testnet {
	t.Helper()
	wasm := buildEnvinfo(t)
	files := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(wasm) }))
	t.Cleanup(files.Close)
	sum := sha256.Sum256(wasm)
	w := fixture.NewWorld(t, ctx, fixture.WorldConfig{ChainConfig: fixture.ChainConfig{Devchain: devchain.Config{BlockTime: 150 * time.Millisecond}}})
	cl := w.NewCluster(t, ctx, fixture.ClusterConfig{Nodes: 3, Tune: func(_ int, c *daemon.Config) {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
		c.Agreement = 2 // two executors per request: the request page shows their agreement
		c.Build = build.Config{GoCacheDir: goCache(t), AllowLocalRepos: true, Limits: build.Limits{Timeout: 2 * time.Minute}}
	}})
	// The contract requires both executors' signatures on every request
	// (registered keys, k = 2): the request page checks them.
	if err := w.RequireSignatures(ctx, 2, cl.Nodes); err != nil {
		t.Fatal(err)
	}
	return &testnet{t: t, ctx: ctx, w: w, nodes: cl.Nodes, wasmHex: hex.EncodeToString(sum[:]),
		code: contracts.CodeSource{WasmURL: &contracts.WasmURLSource{URL: files.URL + "/envinfo.wasm", Hash: hex.EncodeToString(sum[:])}}}
}

func (tn *testnet) url(i int) string { return "http://" + tn.nodes[i].HTTPAddr() }

// request sends request_execution from the user without waiting.
func (tn *testnet) request(input string, secrets *contracts.SecretsRef) {
	tn.t.Helper()
	tn.requestCode(tn.code, input, secrets)
}

// requestCode sends request_execution for code from the user without waiting.
func (tn *testnet) requestCode(code contracts.CodeSource, input string, secrets *contracts.SecretsRef) {
	tn.t.Helper()
	limits := contracts.ResourceLimits{MaxInstructions: 200_000_000, MaxMemoryMB: 64, MaxExecutionSeconds: 5}
	dep, _ := near.ParseNEAR("1")
	h, err := fixture.Send(tn.ctx, tn.w.User, tn.w.Contract, contracts.MethodRequestExecution, contracts.RequestExecutionArgs{
		CodeSource: code, ResourceLimits: &limits, InputData: &input, ResponseFormat: contracts.FormatJSON, SecretsRef: secrets,
	}, dep)
	if err != nil {
		tn.t.Fatal(err)
	}
	tn.sent = append(tn.sent, h)
}

// job waits until the node knows the user's request with this input and
// cond holds for it.
func (tn *testnet) job(input string, what string, cond func(daemon.JobView) bool) daemon.JobView {
	tn.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	var last any
	for {
		var page struct{ Requests []daemon.JobView }
		err := getJSON(tn.url(0)+"/ui/api/requests?sender="+url.QueryEscape(tn.w.User.AccountID()), &page)
		last = err
		for _, j := range page.Requests {
			if j.Input == input {
				if cond(j) {
					return j
				}
				last = j
			}
		}
		if time.Now().After(deadline) {
			raw, _ := json.MarshalIndent(last, "", "  ")
			for _, h := range tn.sent {
				out, err := tn.w.Client.TxStatus(tn.ctx, h, tn.w.User.AccountID(), near.TxFinal)
				if err != nil {
					tn.t.Logf("transaction %s: %v", h, err)
				} else if ferr := out.Err(); ferr != nil {
					tn.t.Logf("transaction %s failed: %v", h, ferr)
				}
			}
			var all struct{ Requests []daemon.JobView }
			_ = getJSON(tn.url(0)+"/requests", &all)
			for _, j := range all.Requests {
				tn.t.Logf("request %d from %s status %s input %q error %q attempts %+v", j.ID, j.Sender, j.Status, j.Input, j.Error, j.Attempts)
			}
			tn.t.Fatalf("%s: not within 90s; last seen: %s", what, raw)
		}
		time.Sleep(50 * time.Millisecond) // polling a condition with a deadline
	}
}

// resolved holds once the request is resolved; a request resolved
// without a successful result (given up, failed) stops the test.
func (tn *testnet) resolved(j daemon.JobView) bool {
	if j.Status != "resolved" {
		return false
	}
	if j.Result == nil || !j.Result.Success {
		tn.t.Fatalf("request %d was resolved without a successful result: %s %+v", j.ID, j.Error, j.Result)
	}
	return true
}

// TestDashboard drives every page in Chromium against a live three-node
// testnet: live data on each page, a new request appearing in the list
// without a reload, the request page's verdict (and a red one for a
// tampered answer), secrets encrypted in the page that the keystore
// decrypts for a run, and no console errors anywhere.
func TestDashboard(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a testnet and a browser")
	}
	chromium(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	tn := startTestnet(t, ctx)
	b := newBrowser(t, ctx)
	base := tn.url(0)

	tn.request(`{"n":1}`, nil)
	first := tn.job(`{"n":1}`, "the first request to resolve", tn.resolved)

	// Overview: the three members, their roles, simulated attestation, the chain.
	b.do("overview", chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(css(`#ov-members tbody tr:nth-child(3)`)),
		chromedp.WaitVisible(css(`#sim-banner`)))
	members := b.text("#ov-members tbody")
	if strings.Count(members, "voter") != 3 || !strings.Contains(members, "leader") || !strings.Contains(members, "SIMULATED") {
		t.Fatalf("members table: %q", members)
	}
	if banner := b.text("#sim-banner"); !strings.Contains(banner, "SIMULATED ATTESTATION") {
		t.Fatalf("simulated banner: %q", banner)
	}
	eventually(t, 20*time.Second, "the chain cursor and head", func() bool {
		ch := eval[[]string](b, "chain cells", `[document.querySelector("#ov-cursor")?.textContent ?? "", document.querySelector("#ov-head")?.textContent ?? ""]`)
		return len(ch) == 2 && ch[0] != "" && ch[0] != "—" && ch[1] != "" && ch[1] != "—"
	})
	if total := b.text("#ov-total"); total != "1" {
		t.Fatalf("total requests %q, want 1", total)
	}
	b.do("throughput chart", chromedp.WaitVisible(css(`#ov-tput svg circle`)))
	b.screenshot("overview")
	// A program built from git, sent now (after the overview counted one
	// request) and checked on the Programs page.
	repo, commit := gitProgram(t)
	tn.requestCode(contracts.CodeSource{GitHub: &contracts.GitHubSource{Repo: repo, Commit: commit}}, `{"git":true}`, nil)

	// Executions: the first request is listed; a new one appears without a reload.
	b.do("executions", chromedp.Navigate(base+"/executions"),
		chromedp.WaitVisible(css(fmt.Sprintf(`#ex-table tr[data-id="%d"]`, first.ID))))
	eval[string](b, "mark this page load", `window.__sameLoad = "yes"`)
	tn.request(`{"n":2}`, nil)
	second := tn.job(`{"n":2}`, "the second request to be known", func(daemon.JobView) bool { return true })
	b.do("the new request in the live list", chromedp.WaitVisible(css(fmt.Sprintf(`#ex-table tr[data-id="%d"]`, second.ID))))
	same := eval[string](b, "no reload", `window.__sameLoad || "reloaded"`)
	if same != "yes" {
		t.Fatalf("the page reloaded to show the new request (%q)", same)
	}
	b.screenshot("executions")
	// Filters: a sender that sent nothing empties the list; status filters.
	b.do("filter by sender", chromedp.Navigate(base+"/executions?sender=nobody.test"),
		chromedp.WaitVisible(css(`#ex-table td.muted`)))
	if empty := b.text("#ex-table tbody"); !strings.Contains(empty, "No requests match") {
		t.Fatalf("filtered by an unknown sender: %q", empty)
	}
	b.do("filter by status and program", chromedp.Navigate(base+"/executions?status=resolved&program="+tn.wasmHex[:12]),
		chromedp.WaitVisible(css(fmt.Sprintf(`#ex-table tr[data-id="%d"]`, first.ID))))

	// The request page: output, resources, verdict re-checked in the browser.
	b.do("request page", chromedp.Navigate(fmt.Sprintf("%s/executions/%d", base, first.ID)),
		chromedp.WaitVisible(css(`#verdict[data-verdict="simulated"]`)))
	verdict := b.text("#verdict")
	for _, want := range []string{"SIMULATED", "Report data matches this result", "Signature valid", "Signer is the reporting node", "Chain cross-check settled"} {
		if !strings.Contains(verdict, want) {
			t.Fatalf("verdict lacks %q:\n%s", want, verdict)
		}
	}
	if strings.Contains(verdict, "✗") {
		t.Fatalf("a check failed:\n%s", verdict)
	}
	if ag := b.text("#agreement"); !strings.Contains(ag, "k = 2") || strings.Count(ag, "agrees") != 2 {
		t.Fatalf("the agreement of two executors:\n%s", ag)
	}
	agreementChecks(t, b, base, first)
	firstAgreement := b.text("#agreement-verdict")
	if out := b.text("#rq"); !strings.Contains(out, "NEAR_SENDER_ID") || !strings.Contains(out, "JSON,") {
		t.Fatalf("the output is not shown as JSON:\n%s", out)
	}

	// A node that changes the output it serves: the verdict turns red.
	tamper := tamperingProxy(t, base, fmt.Sprintf("/requests/%d", first.ID), func(j map[string]any) {
		j["result"].(map[string]any)["output"] = base64.StdEncoding.EncodeToString([]byte(`{"answer":"forged"}`))
	})
	b.do("tampered request page", chromedp.Navigate(fmt.Sprintf("%s/executions/%d", tamper, first.ID)),
		chromedp.WaitVisible(css(`#verdict[data-verdict="fail"]`)))
	if v := b.text("#verdict"); !strings.Contains(v, "NOT VERIFIED") || !strings.Contains(v, "different result") {
		t.Fatalf("tampered verdict:\n%s", v)
	}
	if ag := b.text("#agreement-verdict"); !strings.Contains(ag, "the result this node serves is not the one the executors signed") {
		t.Fatalf("the agreement of a tampered output:\n%s", ag)
	}
	border := eval[string](b, "the verdict's colour", `getComputedStyle(document.querySelector("#verdict")).borderTopColor`)
	if border != "rgb(179, 23, 31)" {
		t.Fatalf("tampered verdict border %q, want the red rgb(179, 23, 31)", border)
	}
	b.screenshot("request-tampered")
	// A chain that asked for something else than the node serves: red too.
	other := tamperingProxy(t, base, fmt.Sprintf("/ui/api/chain/requests/%d", first.ID), func(j map[string]any) {
		j["request"] = map[string]any{"request_id": first.ID, "sender_id": "mallory.test.near", "input_data": first.Input,
			"code_source": map[string]any{"WasmUrl": map[string]any{"url": first.Code.Wasm.URL, "hash": first.Code.Wasm.Hash}}}
	})
	b.do("request page, other chain", chromedp.Navigate(fmt.Sprintf("%s/executions/%d", other, first.ID)),
		chromedp.WaitVisible(css(`#verdict[data-verdict="fail"]`)))
	if v := b.text("#verdict"); !strings.Contains(v, "does not match the chain") || !strings.Contains(v, "mallory.test.near") {
		t.Fatalf("verdict against another chain request:\n%s", v)
	}

	// Programs: the envinfo module in the cache.
	b.do("programs", chromedp.Navigate(base+"/programs"),
		chromedp.WaitVisible(css(fmt.Sprintf(`#pg-table tr[data-hash="%s"]`, tn.wasmHex))))
	if row := b.text(fmt.Sprintf(`#pg-table tr[data-hash="%s"]`, tn.wasmHex)); !strings.Contains(row, "envinfo.wasm") {
		t.Fatalf("programs row: %q", row)
	}
	built := tn.job(`{"git":true}`, "the request built from git to resolve", tn.resolved)
	gitRow := fmt.Sprintf(`#pg-table tr[data-hash="%s"]`, built.Result.WasmHash)
	b.do("programs: the module built from git", chromedp.Navigate(base+"/programs"), chromedp.WaitVisible(css(gitRow)))
	if row := b.text(gitRow); !strings.Contains(row, repo) || !strings.Contains(row, commit[:7]) || !strings.Contains(row, "build note") {
		t.Fatalf("the git module's row: %q", row)
	}
	// Its small answer went back in resolve_execution's response, the
	// first request's larger one through submit_execution_output_and_resolve
	// (contracts' fitResponse): the page checks the agreement of both ways.
	b.do("the git request's agreement", chromedp.Navigate(fmt.Sprintf("%s/executions/%d", base, built.ID)),
		chromedp.WaitVisible(css(`#agreement-verdict[data-verdict="ok"]`)))
	both := firstAgreement + b.text("#agreement-verdict")
	if !strings.Contains(both, "called resolve_execution") || !strings.Contains(both, "called submit_execution_output_and_resolve") {
		t.Fatalf("the two requests' agreements do not cover both resolve methods:\n%s", both)
	}
	b.do("programs again", chromedp.Navigate(base+"/programs"), chromedp.WaitVisible(css(gitRow)))
	b.do("open the build note", chromedp.Click(css(gitRow+` details summary`)))
	if note := b.text(gitRow + ` details pre`); !strings.Contains(note, "go") {
		t.Fatalf("the build note: %q", note)
	}
	b.screenshot("programs")

	// Secrets: encrypted in the page, stored on chain, decrypted by the
	// keystore for a run that prints it.
	owner := tn.w.User.AccountID()
	eventually(t, 30*time.Second, "the keystore to be ready", func() bool {
		var st map[string]any
		return getJSON(base+keystore.HTTPPrefix+"status", &st) == nil && st["ready"] == true
	})
	b.do("secrets: public key", chromedp.Navigate(base+"/secrets?account="+owner),
		chromedp.Click(css(`input[name=kind][value=wasm]`)),
		chromedp.SendKeys(css(`input[name=wasm_hash]`), tn.wasmHex),
		chromedp.Click(css(`#sc-pubkey`)),
		chromedp.WaitVisible(css(`#sc-pubkey-hex`)),
		chromedp.SetValue(css(`textarea[name=plaintext]`), `{"API_KEY":"typed-in-the-browser"}`),
		chromedp.Click(css(`#sc-encrypt`)),
		chromedp.WaitVisible(css(`#ciphertext`)))
	blob := strings.TrimSpace(b.text("#ciphertext"))
	if cli := b.text("#sc-cli"); !strings.Contains(cli, "outlayerd secrets store --rpc "+tn.w.RPCURL()+" --contract "+tn.w.Contract+" --wasm-hash "+tn.wasmHex) || !strings.Contains(cli, blob) {
		t.Fatalf("the CLI line: %q", cli)
	}
	if js := b.text("#sc-js"); !strings.Contains(js, `methodName: "store_secrets"`) || !strings.Contains(js, blob) {
		t.Fatalf("the near-api-js call: %q", js)
	}
	b.screenshot("secrets")
	if _, _, err := keystore.StoreSecrets(ctx, tn.w.User, tn.w.Contract, contracts.StoreSecretsArgs{
		Accessor: contracts.SecretAccessor{WasmHash: &contracts.WasmHashAccessor{Hash: tn.wasmHex}}, Profile: keystore.DefaultProfile,
		EncryptedSecretsBase64: blob, Access: contracts.AccessCondition{Kind: contracts.AccessAllowAll},
	}); err != nil {
		t.Fatalf("storing the browser's ciphertext: %v", err)
	}
	tn.request(`{"n":3}`, &contracts.SecretsRef{Profile: keystore.DefaultProfile, AccountID: owner})
	third := tn.job(`{"n":3}`, "the request with secrets to resolve", tn.resolved)
	var report struct{ Secret string }
	if third.Result == nil || !third.Result.Success || json.Unmarshal(third.Result.Output, &report) != nil || report.Secret != "typed-in-the-browser" {
		t.Fatalf("the run did not see the browser-encrypted secret: %+v", third.Result)
	}
	b.do("secrets list", chromedp.Navigate(base+"/secrets?account="+owner), chromedp.WaitVisible(css(`#sc-table`)))
	if list := b.text("#sc-table"); !strings.Contains(list, "AllowAll") || !strings.Contains(list, "default") {
		t.Fatalf("secrets list: %q", list)
	}

	// Pricing: the contract's prices and the estimator's deposit.
	b.do("pricing", chromedp.Navigate(base+"/fees"), chromedp.WaitVisible(css(`#est-deposit`)))
	want := contracts.DefaultPricing().Estimate(contracts.ResourceLimits{MaxInstructions: 1_000_000_000, MaxExecutionSeconds: 10})
	if got := b.text("#est-deposit"); got != near.FormatNEAR(want)+" NEAR" {
		t.Fatalf("estimated deposit %q, want %s NEAR", got, near.FormatNEAR(want))
	}
	b.screenshot("pricing")

	// Dark theme and a phone.
	b.do("dark theme", chromedp.Navigate(base+"/"), chromedp.WaitVisible(css(`#ov-members tbody tr`)),
		chromedp.Click(css(`#theme`)), chromedp.Click(css(`#theme`)))
	bg := eval[string](b, "dark background", `getComputedStyle(document.documentElement).backgroundColor`)
	if bg != "rgb(15, 18, 22)" {
		t.Fatalf("dark theme background %q", bg)
	}
	b.screenshot("overview-dark")
	b.do("phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile),
		chromedp.Navigate(fmt.Sprintf("%s/executions/%d", base, first.ID)),
		chromedp.WaitVisible(css(`#verdict[data-verdict="simulated"]`)))
	overflow := eval[bool](b, "sideways scrolling", `document.documentElement.scrollWidth > document.documentElement.clientWidth + 1`)
	if overflow {
		t.Fatal("the request page scrolls sideways on a phone")
	}
	b.screenshot("request-phone")
	b.do("desktop again", chromedp.EmulateReset())

	if errs := b.errors(); len(errs) > 0 {
		t.Fatalf("the browser reported errors:\n%s", strings.Join(errs, "\n"))
	}
	measure(t, b, base)
	uiAPILimits(t, base, first.ID)
}

// uiAPILimits tries the UI's JSON routes with bad and bounded input.
func uiAPILimits(t *testing.T, base string, id uint64) {
	t.Helper()
	for _, path := range []string{"/ui/api/requests?status=done", "/ui/api/requests?limit=0", "/ui/api/requests?limit=x",
		"/ui/api/requests?after=-1", "/ui/api/chain/requests/x", "/ui/api/chain/requests/x/resolve", "/ui/api/secrets"} {
		var e struct{ Error string }
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		_ = json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || e.Error == "" {
			t.Fatalf("%s: %d %q, want 400 with an error", path, resp.StatusCode, e.Error)
		}
	}
	// A resolve is relayed only for a request the node knows and resolved.
	for path, want := range map[string]string{
		"/ui/api/chain/requests/999999/resolve": "request 999999 is not known to the cluster",
	} {
		var e struct{ Error string }
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		_ = json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound || !strings.Contains(e.Error, want) {
			t.Fatalf("%s: %d %q, want 404 %q", path, resp.StatusCode, e.Error, want)
		}
	}
	var ex struct {
		Contract     string
		Agreement    contracts.Agreement
		ExecutorKeys []contracts.ExecutorKey `json:"executor_keys"`
	}
	if err := getJSON(base+"/ui/api/chain/executors", &ex); err != nil || ex.Contract == "" || ex.Agreement.ChainID == "" || len(ex.ExecutorKeys) != 3 {
		t.Fatalf("the relayed executor keys: %+v, %v", ex, err)
	}
	var page struct {
		Requests []daemon.JobView
	}
	if err := getJSON(base+"/ui/api/requests?limit=1", &page); err != nil || len(page.Requests) != 1 {
		t.Fatalf("limit=1: %d requests, %v", len(page.Requests), err)
	}
	var all struct{ Requests []daemon.JobView }
	if err := getJSON(base+"/ui/api/requests", &all); err != nil || len(all.Requests) < 2 {
		t.Fatalf("all requests: %d, %v", len(all.Requests), err)
	}
	if err := getJSON(fmt.Sprintf("%s/ui/api/requests?after=%d", base, id), &page); err != nil || len(page.Requests) != len(all.Requests)-1 ||
		page.Requests[len(page.Requests)-1].ID != id+1 {
		t.Fatalf("after=%d: %d of %d requests, %v", id, len(page.Requests), len(all.Requests), err)
	}
}

// agreementChecks checks the request page's agreement verdict for a
// request the contract settled with k = 2: green with both signers, and
// red, with the reason, for a node that relays a resolve with a changed
// signature, with a valid signature by a key the contract does not know,
// or with one signature fewer than k.
func agreementChecks(t *testing.T, b *browser, base string, job daemon.JobView) {
	t.Helper()
	b.do("the agreement verdict", chromedp.WaitVisible(css(`#agreement-verdict[data-verdict="ok"]`)))
	ag := b.text("#agreement-verdict")
	for _, want := range []string{"k = 2", "The contract checked this claim", "The result shown is the one resolved", "Every signature is valid",
		"Signers are distinct", "Signers are registered executors", "At least k = 2 signatures"} {
		if !strings.Contains(ag, want) {
			t.Fatalf("the agreement verdict lacks %q:\n%s", want, ag)
		}
	}
	if strings.Contains(ag, "✗") || strings.Count(ag, "valid") < 3 {
		t.Fatalf("the agreement verdict:\n%s", ag)
	}
	rows := eval[[]string](b, "signers", `[...document.querySelectorAll("#signers tbody tr")].map((r) => r.innerText)`)
	if len(rows) != 2 {
		t.Fatalf("%d signer rows, want 2: %q", len(rows), rows)
	}
	for _, r := range rows {
		if !strings.Contains(r, "valid") || strings.Contains(r, "invalid") || !strings.Contains(r, "yes") || strings.Contains(r, "—") {
			t.Fatalf("signer row %q: want a valid, registered, distinct signature by a known node", r)
		}
	}
	green := eval[string](b, "the agreement's colour", `getComputedStyle(document.querySelector("#agreement-verdict")).borderLeftColor`)
	if green != "rgb(10, 107, 43)" {
		t.Fatalf("agreement border %q, want the green rgb(10, 107, 43)", green)
	}
	b.screenshot("request")

	// The resolve as the chain has it, and its claim hash (result_signed).
	path := fmt.Sprintf("/ui/api/chain/requests/%d/resolve", job.ID)
	var resolve struct {
		Args struct{ Signatures []contracts.ExecutorSignature }
		Logs []string
	}
	if err := getJSON(base+path, &resolve); err != nil {
		t.Fatal(err)
	}
	var claimHash []byte
	evs, err := contracts.OutLayerEvents(resolve.Logs)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		var rs contracts.ResultSigned
		if ev.Event == contracts.EventResultSigned && ev.Decode(ev.Event, &rs) == nil && rs.RequestID == job.ID {
			claimHash, _ = hex.DecodeString(rs.ClaimHash)
		}
	}
	if len(resolve.Args.Signatures) != 2 || len(claimHash) != 32 {
		t.Fatalf("the resolve carries %d signatures, claim hash %x", len(resolve.Args.Signatures), claimHash)
	}
	_, stranger, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	strangerKey := near.PublicKeyFromEd25519(stranger.Public().(ed25519.PublicKey))
	cases := []struct {
		name, want string
		change     func([]contracts.ExecutorSignature) []contracts.ExecutorSignature
	}{
		{"a changed signature", "a signature does not verify over this result", func(s []contracts.ExecutorSignature) []contracts.ExecutorSignature {
			raw := append([]byte(nil), s[0].Signature.Bytes()...)
			raw[10] ^= 1
			s[0].Signature, _ = near.NewSignature(near.ED25519, raw)
			return s
		}},
		{"a valid signature by an unregistered key", "a signer is not a registered executor key (" + strangerKey.String() + ")", func(s []contracts.ExecutorSignature) []contracts.ExecutorSignature {
			sig, _ := near.NewSignature(near.ED25519, ed25519.Sign(stranger, claimHash))
			s[1] = contracts.ExecutorSignature{PublicKey: strangerKey, Signature: sig}
			return s
		}},
		{"fewer signatures than k", "only 1 signature(s) where the contract required k = 2", func(s []contracts.ExecutorSignature) []contracts.ExecutorSignature {
			return s[:1]
		}},
		{"one signer twice", "a key signed twice", func(s []contracts.ExecutorSignature) []contracts.ExecutorSignature {
			return []contracts.ExecutorSignature{s[0], s[0]}
		}},
	}
	for _, c := range cases {
		proxy := rawTamperingProxy(t, base, path, func(body []byte) ([]byte, error) {
			var top map[string]json.RawMessage
			if err := json.Unmarshal(body, &top); err != nil {
				return nil, err
			}
			var args map[string]json.RawMessage // the response's text stays as sent
			if err := json.Unmarshal(top["args"], &args); err != nil {
				return nil, err
			}
			var sigs []contracts.ExecutorSignature
			if err := json.Unmarshal(args["signatures"], &sigs); err != nil {
				return nil, err
			}
			var err error
			if args["signatures"], err = json.Marshal(c.change(sigs)); err != nil {
				return nil, err
			}
			if top["args"], err = json.Marshal(args); err != nil {
				return nil, err
			}
			return json.Marshal(top)
		})
		b.do("request page, "+c.name, chromedp.Navigate(fmt.Sprintf("%s/executions/%d", proxy, job.ID)),
			chromedp.WaitVisible(css(`#agreement-verdict[data-verdict="fail"]`)), chromedp.WaitVisible(css(`#verdict[data-verdict="fail"]`)))
		if head := b.text("#verdict-headline"); !strings.Contains(head, "NOT VERIFIED") || !strings.Contains(head, c.want) {
			t.Fatalf("%s: the verdict says %q, want %q", c.name, head, c.want)
		}
		if c.name == "a changed signature" {
			b.screenshot("request-bad-signature")
		}
	}
	b.do("back to the honest node", chromedp.Navigate(fmt.Sprintf("%s/executions/%d", base, job.ID)),
		chromedp.WaitVisible(css(`#agreement-verdict[data-verdict="ok"]`)))

	// What the page cannot check, it says, and never shows green: the
	// same real request and resolve, with one thing taken away each time.
	got := eval[map[string]string](b, "what cannot be checked", fmt.Sprintf(`(async () => {
  const { verifyAgreement } = await import('/ui/assets/agreement.js');
  const get = async (p) => { const r = await fetch(p); if (!r.ok) throw new Error(p + ': ' + r.status); return r.text(); };
  const [jobText, resolve, exText] = await Promise.all([get('/requests/%[1]d'), get('/ui/api/chain/requests/%[1]d/resolve'), get('/ui/api/chain/executors')]);
  const job = () => JSON.parse(jobText), ex = () => JSON.parse(exText);
  const say = (v) => v.verdict + ': ' + v.headline;
  const out = {};
  out.honest = say(await verifyAgreement(job(), resolve, ex()));
  // Keys removed since the resolve: the contract's result_signed event
  // still names them as accepted then.
  out.removedSince = say(await verifyAgreement(job(), resolve, { ...ex(), executor_keys: [] }));
  // ...but a key neither listed nor accepted is not registered.
  out.unknown = say(await verifyAgreement(job(), resolve.replaceAll('result_signed', 'result_unsigned'), { ...ex(), executor_keys: [] }));
  out.noResolve = say(await verifyAgreement(job(), undefined, ex()));
  out.noKeys = say(await verifyAgreement(job(), resolve, undefined));
  out.kThree = say(await verifyAgreement({ ...job(), required_signatures: 3 }, resolve, ex()));
  out.kZero = say(await verifyAgreement({ ...job(), required_signatures: 0 }, resolve.replace(/"signatures":\s*\[[^\]]*\]/, '"signatures":[]'), ex()));
  out.otherInput = say(await verifyAgreement({ ...job(), input: '{"n":999}' }, resolve, ex()));
  const importKey = crypto.subtle.importKey;
  crypto.subtle.importKey = function (f, k, alg, ...rest) {
    if (alg && alg.name === 'Ed25519') return Promise.reject(new DOMException('Algorithm: Unrecognized name', 'NotSupportedError'));
    return importKey.call(this, f, k, alg, ...rest);
  };
  try { out.noEd25519 = say(await verifyAgreement(job(), resolve, ex())); } finally { crypto.subtle.importKey = importKey; }
  return out;
})()`, job.ID))
	for name, want := range map[string]string{
		"honest":       "ok: Verified: 2 registered executors",
		"removedSince": "ok: Verified: 2 registered executors",
		"unknown":      "fail: NOT VERIFIED: the contract logged no signature check for this request",
		"noResolve":    "partial: the resolve transaction could not be read",
		"noKeys":       "partial: the contract's executor keys could not be read",
		"kThree":       "fail: NOT VERIFIED: only 2 signature(s) where the contract required k = 3",
		"kZero":        "none: the contract required no executor signatures",
		"otherInput":   "fail: NOT VERIFIED: the contract checked another claim than this request's",
		"noEd25519":    "partial: this browser cannot check Ed25519 signatures",
	} {
		if !strings.HasPrefix(got[name], want) {
			t.Errorf("%s: the page says %q, want %q…", name, got[name], want)
		}
	}
}

// tamperingProxy serves base's API, but passes the JSON answer for path
// through change first: a node that lies.
func tamperingProxy(t *testing.T, base, path string, change func(map[string]any)) string {
	t.Helper()
	return rawTamperingProxy(t, base, path, func(body []byte) ([]byte, error) {
		var j map[string]any
		if err := json.Unmarshal(body, &j); err != nil {
			return nil, err
		}
		change(j)
		return json.Marshal(j)
	})
}

// rawTamperingProxy serves base's API, but passes the answer for path
// through change first.
func rawTamperingProxy(t *testing.T, base, path string, change func([]byte) ([]byte, error)) string {
	t.Helper()
	target, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ModifyResponse = func(resp *http.Response) error {
		if resp.Request.URL.Path != path {
			return nil
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		if body, err = change(body); err != nil {
			return err
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
		resp.ContentLength = int64(len(body))
		resp.Header.Set("Content-Length", fmt.Sprint(len(body)))
		return nil
	}
	srv := httptest.NewServer(proxy)
	t.Cleanup(srv.Close)
	return srv.URL
}

// measure loads the overview cold and checks the page weight and time to
// first render against the budget (300 KB, 200 ms), reporting both.
func measure(t *testing.T, b *browser, base string) {
	t.Helper()
	type metrics struct {
		Bytes float64 `json:"bytes"`
		Files float64 `json:"files"`
		Data  float64 `json:"data"`
		Steps string  `json:"steps"`
	}
	b.do("cold load", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, network.ClearBrowserCache, cdp.Empty{})
		return err
	}), chromedp.Navigate(base+"/"), chromedp.WaitVisible(css(`#ov-members tbody tr`)))
	// Headless Chromium reports no paint timing, so the time to first
	// render is measured to a stricter point: when the overview first
	// shows the node's live data (app.js marks it).
	m := eval[metrics](b, "measuring", `(() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const res = performance.getEntriesByType('resource').filter((r) => r.name.includes('/ui/assets/'));
  const data = performance.getEntriesByName('outlayer:live-data')[0];
  const steps = [['html', nav.responseEnd], ...performance.getEntriesByType('resource').map((r) => [r.name.replace(location.origin, ''), r.responseEnd])]
    .map(([n, t]) => n + ' ' + Math.round(t)).join(', ');
  return { bytes: nav.encodedBodySize + res.reduce((n, r) => n + r.encodedBodySize, 0), files: res.length + 1, data: data ? data.startTime : -1, steps };
})()`)
	t.Logf("page weight %.1f KB in %v files (cold cache); overview rendered with live data %.0f ms after navigation start", m.Bytes/1024, m.Files, m.Data)
	t.Logf("each answer's end, ms after navigation start: %s", m.Steps)
	if m.Bytes <= 0 || m.Bytes > 300*1024 {
		t.Errorf("page weight %.0f bytes is outside the 300 KB budget", m.Bytes)
	}
	// The budget is 200 ms; the shared CI machine (and -race) gets 5x.
	if m.Data < 0 || m.Data > 1000 {
		t.Errorf("the overview showed live data after %.0f ms (budget 200 ms on an idle machine)", m.Data)
	}
	var total int64
	assets, err := web.Assets()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"index.html", "app.js", "lib.js", "chart.js", "verify.js", "claim.js", "agreement.js", "crypto.js", "style.css"} {
		fi, err := os.Stat(filepath.Join("static", f))
		if err != nil {
			t.Fatal(err)
		}
		total += fi.Size()
		if _, err := assets.Open(f); err != nil {
			t.Fatalf("%s is not embedded: %v", f, err)
		}
	}
	t.Logf("embedded assets: %.1f KB", float64(total)/1024)
}

// TestSecretsCryptoMatchesGo checks the page's hand-written
// ChaCha20-Poly1305 against golang.org/x/crypto, and its whole ECIES
// blob against a Go decryption, in Chromium.
func TestSecretsCryptoMatchesGo(t *testing.T) {
	chromium(t)
	b, _ := pageAlone(t, "/secrets", `#sc-form`)

	key, nonce := make([]byte, 32), make([]byte, 12)
	_, _ = rand.Read(key)
	_, _ = rand.Read(nonce)
	for _, n := range []int{0, 1, 15, 16, 17, 63, 64, 65, 1000} {
		pt := make([]byte, n)
		_, _ = rand.Read(pt)
		aead, _ := chacha20poly1305.New(key)
		want := aead.Seal(nil, nonce, pt, nil)
		got := eval[string](b, "seal", fmt.Sprintf(`import('/ui/assets/crypto.js').then((c) => c.hexOf(c.chachaPolySeal(c.fromHex(%q), c.fromHex(%q), c.fromHex(%q))))`,
			hex.EncodeToString(key), hex.EncodeToString(nonce), hex.EncodeToString(pt)))
		if got != hex.EncodeToString(want) {
			t.Fatalf("%d bytes: the page seals %s, Go %x", n, got, want)
		}
		opened := eval[string](b, "open", fmt.Sprintf(`import('/ui/assets/crypto.js').then((c) => c.hexOf(c.chachaPolyOpen(c.fromHex(%q), c.fromHex(%q), c.fromHex(%q))))`,
			hex.EncodeToString(key), hex.EncodeToString(nonce), hex.EncodeToString(want)))
		if opened != hex.EncodeToString(pt) {
			t.Fatalf("%d bytes: the page opens Go's seal to %s", n, opened)
		}
	}
	// A changed tag is refused.
	aead, _ := chacha20poly1305.New(key)
	sealed := aead.Seal(nil, nonce, []byte("secret"), nil)
	sealed[len(sealed)-1] ^= 1
	refused := eval[bool](b, "open altered", fmt.Sprintf(`import('/ui/assets/crypto.js').then((c) => { try { c.chachaPolyOpen(c.fromHex(%q), c.fromHex(%q), c.fromHex(%q)); return false } catch { return true } })`,
		hex.EncodeToString(key), hex.EncodeToString(nonce), hex.EncodeToString(sealed)))
	if !refused {
		t.Fatal("the page opened a blob with an altered tag")
	}

	// The whole blob: encrypted by the page to a Go key, opened in Go
	// exactly as the keystore opens it.
	priv, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	plaintext := `{"API_KEY":"ünïcode ✓","B":"2"}`
	b64 := eval[string](b, "encrypt", fmt.Sprintf(`import('/ui/assets/crypto.js').then((c) => c.encryptSecrets(%q, %q))`,
		hex.EncodeToString(priv.PublicKey().Bytes()), plaintext))
	blob, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(blob) != keystore.ECIESOverhead+len(plaintext) || blob[0] != keystore.ECIESVersion {
		t.Fatalf("blob %q: %v", b64, err)
	}
	eph, err := ecdh.X25519().NewPublicKey(blob[1:33])
	if err != nil {
		t.Fatal(err)
	}
	shared, err := priv.ECDH(eph)
	if err != nil {
		t.Fatal(err)
	}
	k, err := hkdf.Key(sha256.New, shared, nil, keystore.ECIESInfo, 32)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := chacha20poly1305.New(k)
	pt, err := a.Open(nil, blob[33:45], blob[45:], nil)
	if err != nil || string(pt) != plaintext {
		t.Fatalf("Go opens the page's blob to %q, %v", pt, err)
	}
	if errs := b.errors(); len(errs) > 0 {
		t.Fatalf("the browser reported errors:\n%s", strings.Join(errs, "\n"))
	}
}

// TestClaimVectorsInBrowser checks the page's claim v2 (static/claim.js)
// against every shared vector the Go and Rust claims are tested with
// (contracts/testdata/claim_vectors.json), in Chromium: the outcome
// preimage, the secrets identity, the encoding and the hash.
func TestClaimVectorsInBrowser(t *testing.T) {
	chromium(t)
	raw, err := os.ReadFile("../contracts/testdata/claim_vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var vectors []json.RawMessage
	if err := json.Unmarshal(raw, &vectors); err != nil {
		t.Fatal(err)
	}
	if len(vectors) < 7 {
		t.Fatalf("only %d claim vectors", len(vectors))
	}
	b, _ := pageAlone(t, "/secrets", `#sc-form`)
	type result struct {
		Preimage, SecretsID, Encoding, Hash, Error string
	}
	for _, v := range vectors {
		var want struct {
			Name            string
			OutcomePreimage string `json:"outcome_preimage"`
			SecretsID       string `json:"secrets_id"`
			Encoding, Hash  string
		}
		if err := json.Unmarshal(v, &want); err != nil {
			t.Fatal(err)
		}
		// The vector's own text, as a resolve's arguments reach the page.
		got := eval[result](b, want.Name, fmt.Sprintf(`Promise.all([import('/ui/assets/claim.js'), import('/ui/assets/crypto.js')]).then(async ([c, x]) => {
  const text = %q;
  try {
    const v = JSON.parse(text);
    v.request_id = c.rawMember(text, 'request_id'); // u64: above 2^53 in one vector
    const claim = await c.contractClaim(v, v.wasm_sha256, c.rawMember(text, 'response'));
    return { preimage: x.hexOf(claim.outcomePreimage), secretsID: x.hexOf(claim.secretsID), encoding: x.hexOf(c.encodeClaim(claim)), hash: x.hexOf(await c.claimHash(claim)) };
  } catch (e) { return { error: String(e) }; }
})`, string(v)))
		if got.Error != "" {
			t.Fatalf("%s: the page cannot compute the claim: %s", want.Name, got.Error)
		}
		if got.Preimage != want.OutcomePreimage || got.SecretsID != want.SecretsID || got.Encoding != want.Encoding || got.Hash != want.Hash {
			t.Errorf("%s: the page computes\n preimage %s\n secrets  %s\n encoding %s\n hash     %s\nthe vector has\n preimage %s\n secrets  %s\n encoding %s\n hash     %s",
				want.Name, got.Preimage, got.SecretsID, got.Encoding, got.Hash, want.OutcomePreimage, want.SecretsID, want.Encoding, want.Hash)
		}
	}
	if errs := b.errors(); len(errs) > 0 {
		t.Fatalf("the browser reported errors:\n%s", strings.Join(errs, "\n"))
	}
}
