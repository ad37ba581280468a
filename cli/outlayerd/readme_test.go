package main

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	tdxtesting "github.com/google/go-tdx-guest/testing"
	"github.com/google/go-tdx-guest/testing/testdata"

	"github.com/outlayer/outlayer/contracts"
	"github.com/outlayer/outlayer/contracts/near"
	"github.com/outlayer/outlayer/daemon"
	"github.com/outlayer/outlayer/exec/build"
	"github.com/outlayer/outlayer/testnet/devchain"
	examplecontracts "github.com/outlayer/outlayer/testnet/examples/contracts"
	"github.com/outlayer/outlayer/testnet/fixture"
)

// The README's command examples are run by TestReadmeExamples with the
// built outlayerd, through sh, as a reader would paste them. Each example is
// listed here with the scenario that runs it; TestReadmeExamples fails when
// the README has a command this table does not know, or the table one the
// README no longer has, so an example cannot change without its test.
//
// A scenario runs its examples in README order, as written, except for the
// substitutions it names (`go run ./cli/outlayerd` is the built binary;
// fixed ports become free ones; placeholders such as <sha> become values
// from the earlier steps).
var readmeExamples = map[string]string{
	// The two commands.
	"go run ./cli/outlayerd testnet --home ./outlayer-testnet": "testnet",
	"go test ./...": "gotest",
	"go run ./cli/outlayerd request --near-rpc http://127.0.0.1:3030 --contract outlayer.test.near --account-key outlayer-testnet/keys/user.test.near.json --repo https://github.com/you/prog --commit <sha> --input 'hello' --format Text": "testnet",
	// Running a node.
	"outlayerd run --data-dir /var/lib/outlayer --near-rpc https://rpc.mainnet.near.org --contract outlayer.near --operator operator.near --operator-key node-key.json --listen /ip4/0.0.0.0/tcp/4001 --http-addr 127.0.0.1:8080 --cluster outlayer-eu": "node",
	"outlayerd join /ip4/10.0.0.1/tcp/4001/p2p/12D3Koo...": "node",
	"outlayerd join 10.0.0.1:4001":                         "node",
	"outlayerd join --cluster outlayer-eu":                 "node",
	"outlayerd status --node 127.0.0.1:8080":               "node",
	`outlayerd near --rpc https://rpc.mainnet.near.org --keys-dir keys deploy outlayer.near contracts/wasm/outlayer.wasm --init-method new --init-args '{"owner_id":"owner.near","operator_id":"operator.near","chain_id":"mainnet"}'`: "node",
	"outlayerd node executor-key --data-dir /var/lib/outlayer": "node",
	`outlayerd near --rpc https://rpc.mainnet.near.org --keys-dir keys call outlayer.near add_executor_key '{"public_key":"<KEY>"}' --account owner.near`: "node",
	// exec.
	"GOOS=wasip1 GOARCH=wasm go build -trimpath -o echo.wasm ./testnet/examples/programs/echo":                                                 "exec",
	"go run ./cli/outlayerd exec --input 'hello' echo.wasm":                                                                                    "exec",
	`go run ./cli/outlayerd exec --format json --json --input '{"name":"Ada","numbers":[3,1,2]}' jsontransform.wasm`:                           "exec",
	"go run ./cli/outlayerd exec --env API_KEY=s3cret --env NEAR_SENDER_ID=alice.near --seed 01 --timestamp 2026-06-01T12:00:00Z envinfo.wasm": "exec",
	"outlayerd exec --input oops exitcode.wasm":                                                                                                "exec",
	"outlayerd exec --max-instructions 100000000 loop.wasm":                                                                                    "exec",
	"outlayerd exec --timeout 2s --max-instructions 500000000000 loop.wasm":                                                                    "exec",
	"outlayerd exec --max-memory-mb 32 membomb.wasm":                                                                                           "exec",
	"outlayerd exec spam.wasm":                                      "exec",
	"go run ./cli/outlayerd exec --storage counter.db counter.wasm": "exec",
	"go run ./cli/outlayerd exec --storage counter.db --env NEAR_SENDER_ID=bob.near --record run.rec counter.wasm":                        "exec",
	"go run ./cli/outlayerd exec --env NEAR_SENDER_ID=bob.near --replay run.rec counter.wasm":                                             "exec",
	"go run ./cli/outlayerd exec --vrf-key 0707070707070707070707070707070707070707070707070707070707070707 --input game-1 coinflip.wasm": "exec",
	// build.
	"go run ./cli/outlayerd build https://github.com/you/prog --commit v1.2.0 -o prog.wasm": "build",
	"go run ./cli/outlayerd build ./myrepo --commit main --path cmd/prog -o prog.wasm":      "build",
	// The contracts: rebuilt and compared byte for byte by .ci/run (needs Rust).
	"contracts/build.sh":         "ci",
	"contracts/build.sh --check": "ci",
	"contracts/build.sh --test":  "ci",
	"go test ./contracts/":       "gotest",
	// Secrets, against the testnet.
	"export OUTLAYER_NODE=http://127.0.0.1:8081 OUTLAYER_CONTRACT=outlayer.test.near": "testnet",
	"outlayerd secrets pubkey --repo github.com/alice/app --owner user.test.near":     "testnet",
	`outlayerd secrets encrypt --pubkey <HEX> '{"API_KEY":"sk-..."}'`:                 "testnet",
	`outlayerd secrets store --repo github.com/alice/app --account user.test.near --access '{"Whitelist":{"accounts":["caller.test.near"]}}' '{"API_KEY":"sk-..."}' --keys-dir outlayer-testnet/keys`: "testnet",
	"outlayerd secrets generate --repo github.com/alice/app --account user.test.near PROTECTED_KEY:ed25519 --keys-dir outlayer-testnet/keys":                                                          "testnet",
	"outlayerd secrets list --account user.test.near":                                                                "testnet",
	"outlayerd secrets delete --repo github.com/alice/app --account user.test.near --keys-dir outlayer-testnet/keys": "testnet",
	// Projects and payment keys on chain.
	"export OUTLAYER_CONTRACT=outlayer.test.near NEAR_RPC_URL=http://127.0.0.1:3030":                                                                            "projects",
	"outlayerd project create echo --wasm-url https://example.com/echo.wasm --wasm-hash <HEX> --account user.test.near --keys-dir outlayer-testnet/keys":        "projects",
	"outlayerd project add-version echo --repo https://github.com/you/prog --commit <sha> --activate --account user.test.near --keys-dir outlayer-testnet/keys": "projects",
	"outlayerd project activate echo <HEX> --account user.test.near --keys-dir outlayer-testnet/keys":                                                           "projects",
	"outlayerd project show user.test.near/echo":      "projects",
	"outlayerd project list --account user.test.near": "projects",
	"outlayerd payment-key create --account user.test.near --projects user.test.near/echo --keys-dir outlayer-testnet/keys": "projects",
	"outlayerd payment-key top-up 1 1000000 --account user.test.near --keys-dir outlayer-testnet/keys":                      "projects",
	"outlayerd payment-key balance user.test.near:1 --node 127.0.0.1:8081":                                                  "projects",
	"outlayerd payment-key delete 1 --account user.test.near --keys-dir outlayer-testnet/keys":                              "projects",
	// Calling over HTTPS.
	"export KEY=alice.near:1:<64 hex secret>": "calls",
	`outlayerd call alice.near/echo --node 127.0.0.1:8080 --payment-key "$KEY" --input '{"hello":"outlayer"}'`:                                                                                         "calls",
	`curl -s http://127.0.0.1:8080/payment-keys/balance -H "X-Payment-Key: $KEY"`:                                                                                                                      "calls",
	`outlayerd secrets store --project alice.near/env --account alice.near --contract outlayer.near --node 127.0.0.1:8080 --access '{"Whitelist":{"accounts":["alice.near"]}}' '{"API_KEY":"sk-..."}'`: "calls",
	`outlayerd call alice.near/env --node 127.0.0.1:8080 --payment-key "$KEY" --secrets-owner alice.near --input '{}'`:                                                                                 "calls",
	// Attestation.
	"outlayerd attest quote --key-file node.pub --nonce 0102 -o ev.json":                                             "attest",
	"outlayerd attest verify ev.json --policy policy.json --collateral collateral/ --key-file node.pub --nonce 0102": "attest",
	"outlayerd attest verify quote.dat --at 2023-07-01T00:00:00Z --json --insecure-accept-any-measurement":           "attest",
	"outlayerd attest verify-result 42 --node 127.0.0.1:8081 --policy policy.json [--collateral ./collateral]":       "testnet",
	"outlayerd attest verify-result 42 --node 127.0.0.1:8081 --dev":                                                  "testnet",
	// near, against a devchain.
	"outlayerd near --keys-dir dc create-account alice.test.near --master test.near --balance 10":                                 "near",
	"outlayerd near --keys-dir dc deploy alice.test.near counter.wasm [--init-method reset --init-args '{}']":                     "near",
	`outlayerd near --keys-dir dc call alice.test.near increment '{"by":2}' --account alice.test.near [--deposit 0.1] [--gas 30]`: "near",
	"outlayerd near --keys-dir dc send test.near alice.test.near 2.5":                                                             "near",
	"outlayerd near view alice.test.near get_num '{}'":                                                                            "near",
	"outlayerd near state alice.test.near":                                                                                        "near",
	"outlayerd near keys alice.test.near":                                                                                         "near",
	"outlayerd near tx <HASH> --sender alice.test.near":                                                                           "near",
	// devchain.
	"go run ./cli/outlayerd devchain --home ./devchain-home --rpc-addr 127.0.0.1:3030 --block-time 1s [--persist]":                                           "devchain",
	`curl -s localhost:3030 -H 'content-type: application/json' -d '{"jsonrpc":"2.0","id":1,"method":"sandbox_fast_forward","params":{"delta_height":200}}'`: "devchain",
	// Benchmarks and test runs: checked to name packages, tests and
	// benchmarks that exist (running them is CI's and the benchmarker's job).
	"go test -run '^$' -bench Overhead -benchtime 10x ./exec/meter":                                "gotest",
	"go test -run '^$' -bench EnginesInterleaved -benchtime 5x ./exec/benchcmp":                    "gotest",
	"go test -run '^$' -bench CompileAtTheCap -benchtime 1x ./exec":                                "gotest",
	"go test -run Counts -v ./exec/benchcmp":                                                       "gotest",
	"go test ./daemon -run '^$' -bench 'RequestToResolveLatency|ClusterThroughput' -benchtime 40x": "gotest",
	"go test ./daemon -run '^$' -bench 'HTTPSCall' -benchtime 200x":                                "gotest",
	"go test ./daemon -run '^$' -bench Agreement -benchtime 20x":                                   "gotest",
	"go test ./daemon/hostcall -run XXX -bench HostCall -benchtime 20x":                            "gotest",
	"go test ./daemon -run XXX -bench OracleRequest -benchtime 8x":                                 "gotest",
	"go test ./exec -run XXX -bench WarmRun -benchmem":                                             "gotest",
	"go test ./consensus/ -run '^$' -bench 'Enqueue|Startup' -benchtime 3s":                        "gotest",
	"go test ./store -run '^$' -bench . -benchmem":                                                 "gotest",
	"go test -run XXX -bench CounterTransactions -benchtime 1000x -benchmem ./testnet/devchain/":   "gotest",
	"go test -run XXX -bench FastForwardMillion -benchtime 1x -benchmem ./testnet/devchain/":       "gotest",
	"go test -run XXX -bench . -benchmem ./contracts/near":                                         "gotest",
	"go test ./contracts/ -run '^$' -bench . -benchmem":                                            "gotest",
	"go test ./consensus/ -run '^$' -bench JoinTDX -benchtime 20x":                                 "gotest",
	"go test ./daemon/keystore/ -run '^$' -bench HandOverTDX -benchtime 50x":                       "gotest",
	"go test -run XXX -bench . -benchmem ./attest":                                                 "gotest",
	"go test -bench . -benchmem ./daemon/keystore/":                                                "gotest",
	"go test -short ./exec/...":                                                                    "gotest",
	"go test ./web/ -run TestDashboard -v":                                                         "gotest",
}

// readmeCommand is one command example and the output the README shows
// after it (comment lines, or a transcript's lines).
type readmeCommand struct {
	text   string
	output []string
}

var (
	commandPrefixes = []string{"go ", "outlayerd ", "GOOS=", "curl ", "export ", "contracts/build.sh"}
	inlineGoTest    = regexp.MustCompile("`(go test [^`]+)`")
	trailingComment = regexp.MustCompile(`\s+#\s.*$`)
)

func isCommand(s string) bool {
	for _, p := range commandPrefixes {
		if strings.HasPrefix(s, p) || s == strings.TrimSpace(p) {
			return true
		}
	}
	return false
}

// readmeCommands extracts the command lines of README.md's code blocks
// (fenced sh/plain blocks and indented blocks, `$ ` prompts, backslash
// continuations) and the `go test` commands quoted inline, in order. The
// text is normalised: trailing `# comments` dropped, spaces collapsed.
func readmeCommands(t *testing.T) []readmeCommand {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	var out []readmeCommand
	fenced, lang := false, ""
	var last *readmeCommand
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if strings.HasPrefix(l, "```") {
			if !fenced {
				lang = strings.TrimPrefix(l, "```")
			}
			fenced = !fenced
			last = nil
			continue
		}
		inCode := fenced && (lang == "sh" || lang == "") || !fenced && strings.HasPrefix(l, "    ")
		if !inCode {
			for _, m := range inlineGoTest.FindAllStringSubmatch(l, -1) {
				if m[1] != "go test ./..." || !slices.ContainsFunc(out, func(c readmeCommand) bool { return c.text == m[1] }) {
					out = append(out, readmeCommand{text: m[1]})
				}
			}
			last = nil
			continue
		}
		s := strings.TrimSpace(l)
		if s == "" {
			last = nil
			continue
		}
		s = strings.TrimPrefix(s, "$ ")
		if !isCommand(s) {
			if last != nil {
				last.output = append(last.output, s)
			}
			continue
		}
		for strings.HasSuffix(s, `\`) && i+1 < len(lines) {
			i++
			s = strings.TrimSuffix(s, `\`) + " " + strings.TrimSpace(lines[i])
		}
		s = strings.Join(strings.Fields(trailingComment.ReplaceAllString(s, "")), " ")
		out = append(out, readmeCommand{text: s})
		last = &out[len(out)-1]
	}
	return out
}

// TestReadmeExamples runs every command example of the README.
func TestReadmeExamples(t *testing.T) {
	cmds := readmeCommands(t)
	byScenario := map[string][]readmeCommand{}
	seen := map[string]bool{}
	for _, c := range cmds {
		sc, ok := readmeExamples[c.text]
		if !ok {
			t.Errorf("the README has a command example no test runs; add it to readmeExamples:\n\t%s", c.text)
			continue
		}
		if !seen[c.text] {
			byScenario[sc] = append(byScenario[sc], c)
		}
		seen[c.text] = true
	}
	for text := range readmeExamples {
		if !seen[text] {
			t.Errorf("readmeExamples lists a command the README no longer has:\n\t%s", text)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	bin := buildOutlayerd(t)
	scenarios := map[string]func(*testing.T, *shell, []readmeCommand){
		"exec": readmeExec, "build": readmeBuild, "near": readmeNear, "devchain": readmeDevchain,
		"testnet": readmeTestnet, "node": readmeNode, "attest": readmeAttest, "gotest": readmeGoTest, "ci": readmeCI,
		"calls": readmeCalls, "projects": readmeProjects,
	}
	for name, cs := range byScenario {
		run := scenarios[name]
		if run == nil {
			t.Fatalf("no scenario %q", name)
		}
		t.Run(name, func(t *testing.T) { run(t, newShell(t, bin), cs) })
	}
}

// buildOutlayerd builds the command once for the README test.
func buildOutlayerd(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "outlayerd")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building outlayerd: %v\n%s", err, out)
	}
	return dir
}

// shell runs README commands with sh in a scratch directory, with the
// built outlayerd first in PATH and its caches kept out of the user's.
type shell struct {
	t   *testing.T
	dir string
	env []string
}

func newShell(t *testing.T, binDir string) *shell {
	dir := t.TempDir()
	goEnv := func(name string) string {
		out, err := exec.Command("go", "env", name).Output()
		if err != nil {
			t.Fatalf("go env %s: %v", name, err)
		}
		return strings.TrimSpace(string(out))
	}
	env := append(os.Environ(), "PATH="+binDir+string(os.PathListSeparator)+os.Getenv("PATH"),
		"GOCACHE="+goEnv("GOCACHE"), "GOMODCACHE="+goEnv("GOMODCACHE"), "XDG_CACHE_HOME="+filepath.Join(dir, ".cache"),
		"NEAR_RPC_URL=", "OUTLAYER_NODE=", "OUTLAYER_CONTRACT=")
	return &shell{t: t, dir: dir, env: env}
}

// readmeText is what sh runs for a README command: `go run ./cli/outlayerd`
// is the built binary; then the scenario's replacements, in order.
func readmeText(c readmeCommand, replace ...string) string {
	s := strings.ReplaceAll(c.text, "go run ./cli/outlayerd ", "outlayerd ")
	for i := 0; i+1 < len(replace); i += 2 {
		if !strings.Contains(s, replace[i]) {
			panic(fmt.Sprintf("README test: %q does not contain %q", s, replace[i]))
		}
		s = strings.ReplaceAll(s, replace[i], replace[i+1])
	}
	return s
}

// optional removes the brackets around a usage line's optional parts,
// keeping them.
func optional(s string) string {
	return strings.NewReplacer("[--", "--", "]", "").Replace(s)
}

// withoutOptional drops a usage line's optional parts.
func withoutOptional(s string) string {
	return regexp.MustCompile(`\s*\[[^]]*\]`).ReplaceAllString(s, "")
}

func (sh *shell) command(ctx context.Context, dir, text string, extraEnv []string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "sh", "-c", text)
	cmd.Dir = dir
	if cmd.Dir == "" {
		cmd.Dir = sh.dir
	}
	cmd.Env = append(append([]string(nil), sh.env...), extraEnv...)
	return cmd
}

// run runs text to completion and returns its exit status and output.
func (sh *shell) run(text string, extraEnv ...string) (int, string, string) {
	return sh.runIn("", text, extraEnv...)
}

func (sh *shell) runIn(dir, text string, extraEnv ...string) (int, string, string) {
	sh.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := sh.command(ctx, dir, text, extraEnv)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		sh.t.Fatalf("%s: %v", text, err)
	}
	sh.t.Logf("$ %s\n(exit %d)\n%s%s", text, code, stdout.String(), stderr.String())
	return code, stdout.String(), stderr.String()
}

// expect runs text and fails the test unless it exits with code and its
// stdout contains every string in want.
func (sh *shell) expect(text string, code int, want ...string) (string, string) {
	sh.t.Helper()
	got, stdout, stderr := sh.run(text)
	if got != code {
		sh.t.Fatalf("%s: exit %d, want %d\nstdout: %s\nstderr: %s", text, got, code, stdout, stderr)
	}
	for _, w := range want {
		if !strings.Contains(stdout+stderr, w) {
			sh.t.Fatalf("%s: the output lacks %q\nstdout: %s\nstderr: %s", text, w, stdout, stderr)
		}
	}
	return stdout, stderr
}

// background is a long-running README command (a devchain, a testnet, a node).
type background struct {
	t    *testing.T
	text string
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  strings.Builder
	done chan error
}

func (sh *shell) start(text string, extraEnv ...string) *background {
	sh.t.Helper()
	// exec: Ctrl-C goes to outlayerd itself, not to sh.
	cmd := sh.command(context.Background(), "", "exec "+text, extraEnv)
	b := &background{t: sh.t, text: text, cmd: cmd, done: make(chan error, 1)}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		sh.t.Fatalf("%s: %v", text, err)
	}
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			b.mu.Lock()
			b.out.WriteString(sc.Text() + "\n")
			b.mu.Unlock()
		}
	}()
	go func() {
		err := cmd.Wait()
		pw.Close()
		b.done <- err
	}()
	sh.t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
		}
		sh.t.Logf("$ %s\n%s", text, b.output())
	})
	return b
}

func (b *background) output() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.out.String()
}

// waitFor polls the output until re matches, and returns the submatches.
func (b *background) waitFor(re string, within time.Duration) []string {
	b.t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(within)
	for {
		if m := rx.FindStringSubmatch(b.output()); m != nil {
			return m
		}
		select {
		case err := <-b.done:
			b.done <- err
			b.t.Fatalf("%s exited (%v) before printing %q:\n%s", b.text, err, re, b.output())
		default:
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("%s did not print %q within %s:\n%s", b.text, re, within, b.output())
		}
		time.Sleep(50 * time.Millisecond) // polling the output with a deadline
	}
}

// interrupt sends Ctrl-C and requires a clean exit.
func (b *background) interrupt() {
	b.t.Helper()
	if err := b.cmd.Process.Signal(syscall.SIGINT); err != nil {
		b.t.Fatalf("interrupting %s: %v", b.text, err)
	}
	select {
	case err := <-b.done:
		b.done <- err
		if err != nil {
			b.t.Fatalf("%s after Ctrl-C: %v\n%s", b.text, err, b.output())
		}
	case <-time.After(60 * time.Second):
		b.t.Fatalf("%s did not stop within 60s of Ctrl-C", b.text)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// outputPattern turns a line of output the README shows into a pattern:
// numbers (with units) may differ, a space may be any white space, and "…"
// stands for anything (across lines).
func outputPattern(line string) *regexp.Regexp {
	var b strings.Builder
	num := regexp.MustCompile(`[0-9][0-9.]*(ns|µs|ms|s)?`)
	parts := strings.Split(line, "…")
	for i, p := range parts {
		if i > 0 {
			b.WriteString(`.*`)
		}
		last := 0
		for _, m := range num.FindAllStringIndex(p, -1) {
			b.WriteString(regexp.QuoteMeta(p[last:m[0]]))
			b.WriteString(`[0-9][0-9.]*(ns|µs|ms|s)?`)
			last = m[1]
		}
		b.WriteString(regexp.QuoteMeta(p[last:]))
	}
	return regexp.MustCompile("(?s)" + strings.ReplaceAll(b.String(), " ", `\s+`))
}

// readmeExec builds the sample programs with the README's command and runs
// the exec examples; the output each shows must match.
func readmeExec(t *testing.T, sh *shell, cmds []readmeCommand) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cmds {
		if strings.HasPrefix(c.text, "GOOS=") {
			for _, prog := range []string{"echo", "jsontransform", "envinfo", "exitcode", "loop", "membomb", "spam", "counter", "coinflip"} {
				text := readmeText(c, "echo", prog, "-o "+prog+".wasm", "-o "+filepath.Join(sh.dir, prog+".wasm"))
				if code, _, stderr := sh.runIn(root, text); code != 0 {
					t.Fatalf("%s: exit %d: %s", text, code, stderr)
				}
			}
			continue
		}
		text := readmeText(c)
		code, stdout, stderr := sh.run(text)
		// On a loaded machine a run can be starved of CPU; exec then says
		// so instead of blaming the program (exec's "node too slow" rule).
		// Try again; if the machine never gives it the CPU, the example
		// cannot be judged here.
		for try := 0; try < 4 && strings.Contains(stderr, starved); try++ {
			code, stdout, stderr = sh.run(text)
		}
		if strings.Contains(stderr, starved) {
			t.Logf("%s: starved of CPU on every try; not judged on this machine", text)
			continue
		}
		failure := slices.ContainsFunc(c.output, func(l string) bool { return strings.HasPrefix(l, "outlayerd:") })
		if failure != (code == exitFailure) || !failure && code != 0 {
			t.Errorf("%s: exit %d\nstdout: %s\nstderr: %s", text, code, stdout, stderr)
		}
		var shown []string
		for _, l := range c.output {
			shown = append(shown, strings.TrimPrefix(l, "# "))
		}
		switch {
		case strings.Contains(text, "--json"):
			// Shown as one JSON object over two comment lines.
			joined := ""
			for _, l := range shown {
				joined += strings.TrimSpace(l)
			}
			if !outputPattern(joined).MatchString(strings.TrimSpace(stdout)) {
				t.Errorf("%s: stdout %q does not match the README's %q", text, stdout, joined)
			}
		case strings.Contains(text, "envinfo"):
			var r struct {
				Env    map[string]string `json:"env"`
				Secret string            `json:"secret"`
				Now    string            `json:"now"`
			}
			if err := json.Unmarshal([]byte(stdout), &r); err != nil || r.Secret != "s3cret" ||
				r.Env["NEAR_SENDER_ID"] != "alice.near" || !strings.HasPrefix(r.Now, "2026-06-01T12:00:00") {
				t.Errorf("%s: %+v %v", text, r, err)
			}
		default:
			for _, l := range shown {
				target := stderr
				if strings.HasSuffix(l, "<- on stderr") {
					l = strings.TrimSpace(strings.TrimSuffix(l, "<- on stderr"))
				} else if !failure {
					target = stdout
				}
				if !outputPattern(l).MatchString(target) {
					t.Errorf("%s: the output does not match the README's line %q\nstdout: %s\nstderr: %s", text, l, stdout, stderr)
				}
			}
		}
	}
}

// starved is how exec reports a run the machine gave too little CPU time.
const starved = "too slow to run the program fairly"

// buildSandboxAvailable reports whether `outlayerd build` can run here.
func buildSandboxAvailable(t *testing.T) bool {
	_, err := build.New(context.Background(), build.Config{WorkDir: t.TempDir(), GoCacheDir: t.TempDir()})
	if errors.Is(err, build.ErrSandboxUnavailable) {
		t.Logf("build sandbox unavailable here: %v", err)
		return false
	}
	return true
}

// git runs git in dir with a fixed identity.
func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t",
		"GIT_COMMITTER_EMAIL=t@example.com", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// goRepo makes a git repository holding a Go main package in pkgDir.
func goRepo(t *testing.T, dir, pkgDir string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, pkgDir), 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"go.mod":                         "module example.com/prog\n\ngo 1.24\n",
		filepath.Join(pkgDir, "main.go"): "package main\n\nimport \"os\"\n\nfunc main() { os.Stdout.WriteString(\"hi\") }\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	git(t, dir, "init", "--quiet", "--initial-branch=main")
	git(t, dir, "add", "-A")
	git(t, dir, "commit", "--quiet", "-m", "prog")
}

// readmeBuild builds from a local repository tagged v1.2.0 (for the
// README's github URL: no network in tests) and from ./myrepo.
func readmeBuild(t *testing.T, sh *shell, cmds []readmeCommand) {
	if !buildSandboxAvailable(t) {
		t.Skip("the build examples need the build sandbox")
	}
	remote := filepath.Join(sh.dir, "prog")
	goRepo(t, remote, ".")
	git(t, remote, "tag", "v1.2.0")
	goRepo(t, filepath.Join(sh.dir, "myrepo"), "cmd/prog")
	for _, c := range cmds {
		text := readmeText(c)
		if strings.Contains(text, "https://github.com/you/prog") {
			text = readmeText(c, "https://github.com/you/prog", "file://"+remote)
		}
		stdout, _ := sh.expect(text, 0)
		wasm, err := os.ReadFile(filepath.Join(sh.dir, "prog.wasm"))
		sum := sha256.Sum256(wasm)
		if err != nil || strings.TrimSpace(stdout) != hex.EncodeToString(sum[:]) {
			t.Errorf("%s: stdout %q, prog.wasm sha256 %x (%v)", text, stdout, sum, err)
		}
	}
}

// readmeNear runs the near examples in order against a devchain whose home
// is ./dc, as the README writes it (NEAR_RPC_URL points at it).
func readmeNear(t *testing.T, sh *shell, cmds []readmeCommand) {
	ctx := context.Background()
	chain := fixture.NewChain(t, ctx, fixture.ChainConfig{Devchain: devchain.Config{Home: filepath.Join(sh.dir, "dc")}})
	sh.env = append(sh.env, "NEAR_RPC_URL="+chain.RPCURL())
	if err := os.WriteFile(filepath.Join(sh.dir, "counter.wasm"), examplecontracts.Counter, 0o644); err != nil {
		t.Fatal(err)
	}
	var txHash string
	for _, c := range cmds {
		text := optional(readmeText(c))
		switch {
		case strings.Contains(text, "create-account"):
			sh.expect(text, 0, "Created alice.test.near")
			if _, _, err := near.LoadKeyFile(near.CredentialsPath(filepath.Join(sh.dir, "dc"), "localnet", "alice.test.near")); err != nil {
				t.Fatalf("the new account's key: %v", err)
			}
		case strings.Contains(text, " deploy "):
			sh.expect(text, 0, "Deployed counter.wasm", "Reset counter to zero")
		case strings.Contains(text, " call "):
			stdout, stderr := sh.expect(text, 0, "Increased number to 2")
			if strings.TrimSpace(stdout) != "2" {
				t.Errorf("%s: stdout %q, want 2", text, stdout)
			}
			m := regexp.MustCompile(`Transaction (\S+) `).FindStringSubmatch(stderr)
			if m == nil {
				t.Fatalf("%s: no transaction hash in %q", text, stderr)
			}
			txHash = m[1]
		case strings.Contains(text, " send "):
			sh.expect(text, 0, "Sent 2.5 NEAR from test.near to alice.test.near")
		case strings.Contains(text, " view "):
			if stdout, _ := sh.expect(text, 0); strings.TrimSpace(stdout) != "2" {
				t.Errorf("%s: %q, want 2", text, stdout)
			}
		case strings.Contains(text, " state "):
			sh.expect(text, 0, "Account:       alice.test.near", "Contract code: ")
		case strings.Contains(text, " keys "):
			sh.expect(text, 0, "full access")
		case strings.Contains(text, " tx "):
			sh.expect(readmeText(c, "<HASH>", txHash), 0, "Status: succeeded", "Increased number to 2")
		default:
			t.Fatalf("no check for %s", text)
		}
	}
}

// readmeDevchain starts the devchain as the README does (on a free port,
// with --persist), checks the lines it prints, fast-forwards it with the
// README's curl, and stops it with Ctrl-C: the state must be saved.
func readmeDevchain(t *testing.T, sh *shell, cmds []readmeCommand) {
	addr := freeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	dc := sh.start(optional(readmeText(cmds[0], "127.0.0.1:3030", addr)))
	for _, l := range cmds[0].output {
		l = strings.TrimPrefix(l, "# ")
		l, _, _ = strings.Cut(l, "   (")
		l = strings.ReplaceAll(l, "127.0.0.1:3030", addr)
		dc.waitFor(regexp.QuoteMeta(l), 30*time.Second)
	}
	stdout, _ := sh.expect(readmeText(cmds[1], "localhost:3030", "localhost:"+port), 0)
	var resp struct {
		Result json.RawMessage `json:"result"`
		Error  json.RawMessage `json:"error"`
	}
	if err := json.Unmarshal([]byte(stdout), &resp); err != nil || resp.Result == nil || resp.Error != nil {
		t.Fatalf("sandbox_fast_forward: %s (%v)", stdout, err)
	}
	dc.interrupt()
	if _, err := os.Stat(filepath.Join(sh.dir, "devchain-home", "devchain-state.json")); err != nil {
		t.Fatalf("--persist saved nothing: %v", err)
	}
}

// readmeTestnet runs README command 1 (on free ports, sharing the Go build
// cache), then the examples that need a running testnet: request, secrets
// and verify-result. Without a build sandbox the demo and the request from
// source are skipped, and a request for a prebuilt WASM gives verify-result
// its subject.
func readmeTestnet(t *testing.T, sh *shell, cmds []readmeCommand) {
	sandbox := buildSandboxAvailable(t)
	goCache := strings.TrimPrefix(sh.env[slices.IndexFunc(sh.env, func(s string) bool { return strings.HasPrefix(s, "GOCACHE=") })], "GOCACHE=")
	var tn *background
	var rpc, node, requestID string
	home := filepath.Join(sh.dir, "outlayer-testnet")
	for _, c := range cmds {
		switch {
		case strings.Contains(c.text, " testnet "):
			text := readmeText(c) + " --rpc-addr 127.0.0.1:0 --http-port 0 --go-cache-dir " + goCache
			if !sandbox {
				text += " --no-demo"
			}
			tn = sh.start(text)
			m := tn.waitFor(`NEAR RPC:\s+(\S+)\n(?s:.*)node 0:\s+http://(\S+)`, 2*time.Minute)
			rpc, node = m[1], m[2]
			if sandbox {
				requestID = tn.waitFor(`request (\d+) resolved`, 5*time.Minute)[1]
				tn.waitFor(`output:\s+Hello, NEAR developer!`, time.Second)
			}
			tn.waitFor(`running; press Ctrl-C to stop`, time.Minute)
			sh.env = append(sh.env, "NEAR_RPC_URL="+rpc)
		case strings.Contains(c.text, " request "):
			if !sandbox {
				t.Logf("skipped without a build sandbox: %s", c.text)
				continue
			}
			repo := filepath.Join(home, "demo-program")
			text := readmeText(c, "http://127.0.0.1:3030", rpc, "https://github.com/you/prog", repo, "<sha>", git(t, repo, "rev-parse", "HEAD"))
			sh.expect(text, 0, "Hello, hello!")
		case strings.HasPrefix(c.text, "export "):
			sh.env = append(sh.env, strings.Fields(readmeText(c, "http://127.0.0.1:8081", "http://"+node))[1:]...)
		case strings.Contains(c.text, "secrets pubkey"):
			stdout, _ := sh.expect(readmeText(c), 0)
			pub := strings.TrimSpace(stdout)
			if _, err := hex.DecodeString(pub); err != nil || len(pub) != 64 {
				t.Fatalf("pubkey printed %q", stdout)
			}
			sh.env = append(sh.env, "README_PUBKEY="+pub)
		case strings.Contains(c.text, "secrets encrypt"):
			stdout, _ := sh.expect(readmeText(c, "<HEX>", "$README_PUBKEY"), 0)
			if len(strings.TrimSpace(stdout)) < 64 || strings.Contains(stdout, "sk-") {
				t.Fatalf("encrypt printed %q", stdout)
			}
		case strings.Contains(c.text, "secrets store"):
			sh.expect(readmeText(c), 0, `Stored secrets profile "default" of user.test.near`)
		case strings.Contains(c.text, "secrets generate"):
			sh.expect(readmeText(c), 0, "PROTECTED_KEY")
		case strings.Contains(c.text, "secrets list"):
			sh.expect(readmeText(c), 0, "default", "Whitelist", "caller.test.near")
		case strings.Contains(c.text, "secrets delete"):
			sh.expect(readmeText(c), 0)
			sh.expect(readmeText(cmds[slices.IndexFunc(cmds, func(c readmeCommand) bool { return strings.Contains(c.text, "secrets list") })]), 0, "has no secrets")
		case strings.Contains(c.text, "verify-result"):
			if requestID == "" {
				requestID = wasmRequest(t, sh, rpc, home)
			}
			text := withoutOptional(readmeText(c, "42", requestID, "127.0.0.1:8081", node))
			if err := os.WriteFile(filepath.Join(sh.dir, "policy.json"), []byte(`{"mrtd": ["`+strings.Repeat("00", 48)+`"]}`), 0o644); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(text, "--dev") {
				sh.expect(text, 0, "simulated attestation")
			} else {
				sh.expect(text, exitFailure, "simulated")
			}
		default:
			t.Fatalf("no step for %s", c.text)
		}
	}
	tn.interrupt()
}

// wasmRequest sends a request for the echo program, served over HTTP, with
// `outlayerd request --wasm-url`, and returns its id.
func wasmRequest(t *testing.T, sh *shell, rpc, home string) string {
	t.Helper()
	b, err := os.ReadFile(buildSample(t, t.TempDir(), "echo"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(b) }))
	t.Cleanup(srv.Close)
	stdout, stderr := sh.expect(fmt.Sprintf("outlayerd request --near-rpc %s --contract outlayer.test.near --account-key %s --wasm-url %s --wasm-hash %x --input hi",
		rpc, filepath.Join(home, "keys", "user.test.near.json"), srv.URL, sum), 0)
	m := regexp.MustCompile(`request (\d+): success=true`).FindStringSubmatch(stdout + stderr)
	if m == nil {
		t.Fatalf("no request id in %q %q", stdout, stderr)
	}
	return m[1]
}

// readmeNode runs `run`, `join` and `status` as the README writes them,
// against a devchain with the OutLayer contract: the README's mainnet
// names become the devchain's, addresses become loopback ones, and --dev
// with a join secret is added (no TDX here; dev joins need the secret).
// The contract's deploy runs on an account of its own (the nodes serve the
// fixture's, deployed the same way), whose defaults must then refuse a
// request; the first node's executor key is registered as the README says.
func readmeNode(t *testing.T, sh *shell, cmds []readmeCommand) {
	ctx := context.Background()
	w := fixture.NewWorld(t, ctx, fixture.WorldConfig{ChainConfig: fixture.ChainConfig{KeyDir: filepath.Join(sh.dir, "keys")}})
	st, err := w.Client.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	scratch := w.MustAccount(t, ctx, "scratch", 20)
	if err := os.MkdirAll(filepath.Join(sh.dir, "contracts", "wasm"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sh.dir, "contracts", "wasm", "outlayer.wasm"), contracts.OutLayerWASM(), 0o644); err != nil {
		t.Fatal(err)
	}
	var executorKey string
	keys := []string{"node-key.json", "node-key-2.json", "node-key-3.json", "node-key-4.json"}
	for i, name := range keys {
		kp, err := w.NodeKey(ctx, fmt.Sprintf("node%d", i))
		if err != nil {
			t.Fatal(err)
		}
		if err := near.SaveKeyFile(filepath.Join(sh.dir, name), w.Operator.AccountID(), kp); err != nil {
			t.Fatal(err)
		}
	}
	// A cluster name of this run's own: another README test on the same
	// LAN must not answer for it.
	cluster := fmt.Sprintf("readme-%d", time.Now().UnixNano()%1e9)
	var runText, httpAddr, joinAddr, hostPort string
	var nodes []*background
	joins := 0
	// joinFlags are run's flags, for the next node: "same flags, on
	// another machine" is here another data directory and key.
	joinFlags := func() string {
		joins++
		flags := strings.TrimPrefix(runText, "outlayerd run ")
		return strings.NewReplacer(filepath.Join(sh.dir, "data1"), filepath.Join(sh.dir, fmt.Sprintf("data%d", joins+1)), "node-key.json", keys[joins]).Replace(flags)
	}
	for _, c := range cmds {
		switch {
		case strings.HasPrefix(c.text, "outlayerd run "):
			runText = readmeText(c, "/var/lib/outlayer", filepath.Join(sh.dir, "data1"), "https://rpc.mainnet.near.org", w.RPCURL(),
				"outlayer.near", w.Contract, "operator.near", w.Operator.AccountID(), "/ip4/0.0.0.0/tcp/4001", "/ip4/127.0.0.1/tcp/0",
				"127.0.0.1:8080", "127.0.0.1:0", "outlayer-eu", cluster) + " --dev --dev-join-secret readme-dev-cluster-secret"
			first := sh.start(runText)
			nodes = append(nodes, first)
			m := first.waitFor(`join through: \[(\S+)[\] ](?s:.*)HTTP API:\s+http://(\S+)`, time.Minute)
			joinAddr, httpAddr = m[1], m[2]
			hostPort = regexp.MustCompile(`^/ip4/([^/]+)/tcp/(\d+)/`).ReplaceAllString(joinAddr, "$1:$2 ")
			hostPort = strings.Fields(hostPort)[0]
		case strings.HasPrefix(c.text, "outlayerd join /"):
			j := sh.start(readmeText(c, "/ip4/10.0.0.1/tcp/4001/p2p/12D3Koo...", joinAddr) + " " + joinFlags())
			nodes = append(nodes, j)
			j.waitFor(`HTTP API:`, time.Minute)
		case strings.HasPrefix(c.text, "outlayerd join 10.0.0.1:4001"):
			j := sh.start(readmeText(c, "10.0.0.1:4001", hostPort) + " " + joinFlags())
			nodes = append(nodes, j)
			j.waitFor(`HTTP API:`, time.Minute)
			// The peer id it learned is shown for the operator to check.
			j.waitFor(`learned a member's peer id`, time.Second)
		case strings.HasPrefix(c.text, "outlayerd join --cluster "):
			var st daemon.Status
			if err := fetchJSON(ctx, "http://"+httpAddr+"/status", &st); err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(st.LANDiscovery, "on") || strings.Contains(st.LANDiscovery, "did not start") {
				t.Logf("skipping the join by cluster name: LAN discovery here is %q (no multicast?)", st.LANDiscovery)
				continue
			}
			j := sh.start(readmeText(c, "outlayer-eu", cluster) + " " + joinFlags())
			nodes = append(nodes, j)
			j.waitFor(`HTTP API:`, time.Minute)
		case strings.Contains(c.text, " deploy outlayer.near "):
			sh.expect(readmeText(c, "https://rpc.mainnet.near.org", w.RPCURL(), "outlayer.near", scratch.AccountID(),
				"owner.near", w.Owner.AccountID(), "operator.near", w.Operator.AccountID(), `"mainnet"`, `"`+st.ChainID+`"`), 0)
			var ag contracts.Agreement
			if err := w.Client.ViewFunction(ctx, scratch.AccountID(), contracts.MethodGetAgreement, nil, &ag); err != nil ||
				ag.ChainID != st.ChainID || ag.DefaultSignatures != 1 {
				t.Fatalf("the README's deploy: get_agreement = %+v, %v; want chain %q, k = 1", ag, err, st.ChainID)
			}
			limits := contracts.DefaultResourceLimits()
			_, err := w.User.CallFunction(ctx, scratch.AccountID(), contracts.MethodRequestExecution, contracts.RequestExecutionArgs{
				CodeSource: contracts.CodeSource{GitHub: &contracts.GitHubSource{Repo: "github.com/you/prog", Commit: "main"}}, ResourceLimits: &limits,
			}, 300*near.TGas, contracts.DefaultPricing().Estimate(limits))
			if err == nil || !strings.Contains(err.Error(), "only 0 executor keys are registered") {
				t.Fatalf("a request to the README's fresh contract: %v, want a refusal naming the missing executor keys", err)
			}
		case strings.HasPrefix(c.text, "outlayerd node executor-key "):
			stdout, _ := sh.expect(readmeText(c, "/var/lib/outlayer", filepath.Join(sh.dir, "data1")), 0, "ed25519:")
			executorKey = strings.TrimSpace(stdout)
		case strings.Contains(c.text, " add_executor_key "):
			sh.expect(readmeText(c, "https://rpc.mainnet.near.org", w.RPCURL(), "outlayer.near", w.Contract,
				"owner.near", w.Owner.AccountID(), "<KEY>", executorKey), 0)
			var keys []contracts.ExecutorKey
			if err := w.Client.ViewFunction(ctx, w.Contract, contracts.MethodListExecutorKeys, nil, &keys); err != nil ||
				len(keys) != 1 || keys[0].PublicKey != executorKey || keys[0].AddedBy != w.Owner.AccountID() {
				t.Fatalf("list_executor_keys after the README's add_executor_key = %+v, %v; want %s", keys, err, executorKey)
			}
		case strings.HasPrefix(c.text, "outlayerd status "):
			deadline := time.Now().Add(30 * time.Second)
			for {
				code, stdout, _ := sh.run(readmeText(c, "127.0.0.1:8080", httpAddr))
				// "voter" also counts in "nonvoter": one per node.
				if code == 0 && strings.Count(stdout, "voter") == len(nodes) && strings.Contains(stdout, "* ") && strings.Contains(stdout, "health: ok") &&
					strings.Count(stdout, "found by") == len(nodes) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("status never showed a healthy node, the %d nodes, how they were found and a leader:\n%s", len(nodes), stdout)
				}
				time.Sleep(200 * time.Millisecond) // polling the cluster with a deadline
			}
		default:
			t.Fatalf("no step for %s", c.text)
		}
	}
	for i := len(nodes) - 1; i >= 0; i-- {
		nodes[i].interrupt()
	}
}

// readmeAttest: the TDX quote needs a TDX guest (elsewhere it must say so);
// the verify example checks simulated evidence made with `attest quote
// --simulated` (refused without --dev, as the README says); the raw quote
// is go-tdx-guest's sample.
func readmeAttest(t *testing.T, sh *shell, cmds []readmeCommand) {
	pub, _, _ := ed25519.GenerateKey(nil)
	files := map[string][]byte{
		"node.pub":    []byte(hex.EncodeToString(pub)),
		"quote.dat":   testdata.RawQuote,
		"policy.json": []byte(`{"mrtd": ["` + strings.Repeat("00", 48) + `"]}`),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(sh.dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// go-tdx-guest's sample PCS responses, laid out as a collateral dir.
	header := func(h map[string][]string, k string) []byte {
		s, err := url.QueryUnescape(h[k][0])
		if err != nil {
			t.Fatal(err)
		}
		return []byte(s)
	}
	if err := os.Mkdir(filepath.Join(sh.dir, "collateral"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{
		"tcb_info.json":                testdata.TcbInfoBody,
		"tcb_info_issuer_chain.pem":    header(tdxtesting.TcbInfoHeader, "Tcb-Info-Issuer-Chain"),
		"qe_identity.json":             testdata.QeIdentityBody,
		"qe_identity_issuer_chain.pem": header(tdxtesting.QeIdentityHeader, "Sgx-Enclave-Identity-Issuer-Chain"),
	} {
		if err := os.WriteFile(filepath.Join(sh.dir, "collateral", name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	onTDX := false
	if _, err := os.Stat("/dev/tdx_guest"); err == nil {
		onTDX = true
	}
	for _, c := range cmds {
		text := readmeText(c)
		switch {
		case strings.Contains(text, "attest quote"):
			if onTDX {
				sh.expect(text, 0)
				continue
			}
			sh.expect(text, exitFailure, "not an Intel TDX guest")
			sh.expect(text+" --simulated", 0, "simulated attestation")
		case strings.Contains(text, "ev.json"):
			if onTDX {
				continue // a real quote against a placeholder policy: nothing to assert
			}
			sh.expect(text, exitFailure, "not in dev mode")
		case strings.Contains(text, "quote.dat"):
			sh.expect(text, 0, `"kind": "tdx"`)
		default:
			t.Fatalf("no step for %s", text)
		}
	}
}

// readmeGoTest checks that each `go test` example names packages that
// exist and -run/-bench patterns that match tests or benchmarks in them.
func readmeGoTest(t *testing.T, _ *shell, cmds []readmeCommand) {
	for _, c := range cmds {
		args := shellWords(c.text)[2:]
		var pkgs []string
		patterns := map[string]string{}
		for i := 0; i < len(args); i++ {
			switch a := args[i]; {
			case a == "-run" || a == "-bench" || a == "-benchtime":
				patterns[a] = args[i+1]
				i++
			case strings.HasPrefix(a, "./"):
				pkgs = append(pkgs, a)
			}
		}
		if len(pkgs) == 0 {
			t.Errorf("%s: no package", c.text)
		}
		for _, pkg := range pkgs {
			dir := filepath.Join("../..", strings.TrimSuffix(pkg, "..."))
			funcs := testFuncs(t, dir, strings.HasSuffix(pkg, "/..."))
			if len(funcs) == 0 {
				t.Errorf("%s: %s has no tests", c.text, pkg)
			}
			for flag, prefix := range map[string]string{"-run": "Test", "-bench": "Benchmark"} {
				pat, ok := patterns[flag]
				if !ok || pat == "^$" || pat == "XXX" {
					continue
				}
				top, _, _ := strings.Cut(pat, "/")
				rx, err := regexp.Compile(top)
				if err != nil {
					t.Errorf("%s: %s %q: %v", c.text, flag, pat, err)
					continue
				}
				if !slices.ContainsFunc(funcs, func(f string) bool {
					return strings.HasPrefix(f, prefix) && rx.MatchString(f) // as go test matches: the whole name
				}) {
					t.Errorf("%s: %s %q matches nothing in %s", c.text, flag, pat, pkg)
				}
			}
			if slices.Contains(args, "-short") && !strings.Contains(strings.Join(funcs, " "), "testing.Short") {
				t.Errorf("%s: no test in %s looks at -short", c.text, pkg)
			}
		}
	}
}

// testFuncs lists the Test and Benchmark functions of the package in dir
// (and below, if recursive), and "testing.Short" if any test calls it.
func testFuncs(t *testing.T, dir string, recursive bool) []string {
	t.Helper()
	decl := regexp.MustCompile(`(?m)^func ((?:Test|Benchmark)\w*)\(`)
	var out []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != dir && !recursive {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range decl.FindAllStringSubmatch(string(b), -1) {
			out = append(out, m[1])
		}
		if strings.Contains(string(b), "testing.Short()") {
			out = append(out, "testing.Short")
		}
		return nil
	})
	if err != nil {
		t.Errorf("%s: %v", dir, err)
	}
	return out
}

// shellWords splits a command line on spaces outside single quotes.
func shellWords(s string) []string {
	var out []string
	var cur strings.Builder
	quoted, word := false, false
	for _, r := range s {
		switch {
		case r == '\'':
			quoted, word = !quoted, true
		case r == ' ' && !quoted:
			if word {
				out = append(out, cur.String())
			}
			cur.Reset()
			word = false
		default:
			cur.WriteRune(r)
			word = true
		}
	}
	if word {
		out = append(out, cur.String())
	}
	return out
}

// readmeCI: contracts/build.sh needs Debian's Rust; .ci/run runs the
// byte-for-byte check. Here: the script takes the README's flags and CI
// calls it.
func readmeCI(t *testing.T, _ *shell, cmds []readmeCommand) {
	script, err := os.ReadFile("../../contracts/build.sh")
	if err != nil {
		t.Fatal(err)
	}
	ci, err := os.ReadFile("../../.ci/run")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(ci), "contracts/build.sh --check") {
		t.Error(".ci/run does not run contracts/build.sh --check")
	}
	for _, c := range cmds {
		for _, flag := range strings.Fields(c.text)[1:] {
			if !strings.Contains(string(script), flag) {
				t.Errorf("%s: contracts/build.sh does not handle %s", c.text, flag)
			}
		}
	}
}
