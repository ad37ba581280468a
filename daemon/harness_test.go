package daemon_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/outlayer/outlayer/consensus"
	"github.com/outlayer/outlayer/contracts"
	"github.com/outlayer/outlayer/contracts/near"
	"github.com/outlayer/outlayer/daemon"
	"github.com/outlayer/outlayer/exec/build"
	"github.com/outlayer/outlayer/store"
	"github.com/outlayer/outlayer/testnet/devchain"
	"github.com/outlayer/outlayer/testnet/fixture"
)

// programs are the sample programs, built by the Go toolchain as WASI
// preview 1 modules the first time a test starts a world (the unit tests of
// the package's decisions need none of them).
var (
	programs     = map[string][]byte{}
	programsDir  string
	goCacheDir   string
	programsErr  error
	programsOnce sync.Once
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "outlayer-daemon-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	programsDir = dir
	// Builds share the toolchain's own cache, which the programs below (and
	// any earlier test run) filled with the standard library for wasip1; a
	// cold cache costs over a minute of compiling on a small machine.
	goCacheDir = filepath.Join(dir, "gocache")
	if out, err := exec.Command("go", "env", "GOCACHE").Output(); err == nil && len(strings.TrimSpace(string(out))) > 0 {
		goCacheDir = strings.TrimSpace(string(out))
	}
	code := m.Run()
	_ = exec.Command("chmod", "-R", "u+w", dir).Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// buildPrograms builds the sample programs once for the whole package.
func buildPrograms() error {
	programsOnce.Do(func() {
		for _, p := range []string{"echo", "envinfo", "loop", "membomb", "panic", "spin"} {
			out := filepath.Join(programsDir, p+".wasm")
			cmd := exec.Command("go", "build", "-trimpath", "-o", out, "../testnet/examples/programs/"+p)
			cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
			if b, err := cmd.CombinedOutput(); err != nil {
				programsErr = fmt.Errorf("building %s: %v\n%s", p, err, b)
				return
			}
			programs[p], _ = os.ReadFile(out)
		}
		programsErr = buildSource(programsDir, "secretenv", secretEnvMain)
	})
	return programsErr
}

// secretEnvMain prints the secret API_KEY it finds in its environment.
const secretEnvMain = `package main

import "os"

func main() { os.Stdout.WriteString("key=" + os.Getenv("API_KEY")) }
`

// buildSource builds a one-file program into programs[name].
func buildSource(dir, name, src string) error {
	pkg := filepath.Join(dir, name+"-src")
	if err := os.MkdirAll(pkg, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(pkg, "go.mod"), []byte("module example.com/"+name+"\n\ngo 1.24\n"), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(pkg, "main.go"), []byte(src), 0o644); err != nil {
		return err
	}
	out := filepath.Join(dir, name+".wasm")
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, ".")
	cmd.Dir = pkg
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "GOFLAGS=-mod=mod", "GOWORK=off")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building %s: %v\n%s", name, err, b)
	}
	programs[name], _ = os.ReadFile(out)
	return nil
}

func testLogger(t testing.TB, name string) *slog.Logger {
	if os.Getenv("DAEMON_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("n", name)
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// world is a devchain with the contracts deployed, a few accounts, a WASM
// file server, and a three-node cluster on loopback.
type world struct {
	t        testing.TB
	ctx      context.Context
	fw       *fixture.World
	chain    *devchain.Chain
	cl       *near.Client
	root     *near.Signer
	operator *near.Signer
	alice    *near.Signer
	outlayer string
	caller   string
	payer    string
	files    *httptest.Server
	yield    uint64
	// noExecutorKeys leaves the nodes' executor keys unregistered (the
	// contract then refuses every request), for tests that make none.
	noExecutorKeys bool

	mu    sync.Mutex
	nodes []*daemon.Node
	cfgs  []daemon.Config
}

func newWorld(t testing.TB, blockTime time.Duration, yield uint64) *world {
	t.Helper()
	return newWorldWith(t, blockTime, yield, nil)
}

// newWorldWith is newWorld with the fixture's configuration adjusted by
// tune (e.g. a payment token).
func newWorldWith(t testing.TB, blockTime time.Duration, yield uint64, tune func(*fixture.WorldConfig)) *world {
	t.Helper()
	if err := buildPrograms(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	t.Cleanup(cancel)
	wc := fixture.WorldConfig{
		ChainConfig: fixture.ChainConfig{Devchain: devchain.Config{BlockTime: blockTime, YieldTimeout: yield}},
		UserName:    "alice",
	}
	if tune != nil {
		tune(&wc)
	}
	fw := fixture.NewWorld(t, ctx, wc)
	w := &world{t: t, ctx: ctx, fw: fw, chain: fw.Chain.Chain, cl: fw.Client, root: fw.Root, yield: yield,
		operator: fw.Operator, alice: fw.User, payer: fw.Payer, outlayer: fw.Contract, caller: fw.Caller}

	mux := http.NewServeMux()
	for name, b := range programs {
		mux.HandleFunc("/"+name+".wasm", func(rw http.ResponseWriter, _ *http.Request) { _, _ = rw.Write(b) })
	}
	w.files = httptest.NewServer(mux)
	t.Cleanup(w.files.Close)
	return w
}

func (w *world) account(sub string, balance uint64) *near.Signer {
	w.t.Helper()
	kp, err := near.GenerateKeyPair(rand.Reader)
	if err != nil {
		w.t.Fatal(err)
	}
	id := sub + "." + w.root.AccountID()
	amount, _ := near.OneNEAR.Mul64(balance)
	if _, err := w.root.CreateAccount(w.ctx, id, kp.PublicKey(), amount); err != nil {
		w.t.Fatalf("creating %s: %v", id, err)
	}
	s, err := near.NewSigner(w.cl, id, kp, near.WithWaitUntil(near.TxFinal))
	if err != nil {
		w.t.Fatal(err)
	}
	return s
}

// nodeKey creates node i's resolve-only key on the operator account, as
// the registration contract would.
func (w *world) nodeKey(i int) *near.KeyPair {
	w.t.Helper()
	kp, err := w.fw.NodeKey(w.ctx, fmt.Sprint("node", i))
	if err != nil {
		w.t.Fatal(err)
	}
	return kp
}

// startCluster starts n nodes: the first bootstraps, the rest join it.
func (w *world) startCluster(n int, tune func(*daemon.Config)) {
	w.t.Helper()
	base := w.t.TempDir()
	for i := range n {
		cfg := daemon.Config{
			DataDir:            filepath.Join(base, fmt.Sprintf("node%d", i)),
			ListenAddrs:        []string{"/ip4/127.0.0.1/tcp/0"},
			HTTPAddr:           "127.0.0.1:0",
			RPCURL:             w.chain.RPCURL(),
			ContractID:         w.outlayer,
			OperatorAccount:    w.operator.AccountID(),
			OperatorKey:        w.nodeKey(i),
			YieldTimeoutBlocks: w.yield,
			YieldMarginBlocks:  w.yield / 10,
			PollInterval:       30 * time.Millisecond,
			Slots:              4,
			LeaseExtra:         3 * time.Second,
			BuildLease:         90 * time.Second,
			DevMode:            true,
			DevJoinSecret:      []byte("daemon test cluster join secret"),
			Raft:               fixture.FastRaft(),
			Build: build.Config{
				GoCacheDir:      goCacheDir,
				AllowLocalRepos: true,
				Limits:          build.Limits{Timeout: 2 * time.Minute},
			},
			Logger: testLogger(w.t, fmt.Sprint(i)),
		}
		if i > 0 {
			cfg.Join = w.node(0).P2PAddrs()[:1]
		}
		if tune != nil {
			tune(&cfg)
		}
		nd, err := daemon.Start(w.ctx, cfg)
		if err != nil {
			w.t.Fatalf("starting node %d: %v", i, err)
		}
		w.mu.Lock()
		w.nodes = append(w.nodes, nd)
		w.cfgs = append(w.cfgs, cfg)
		w.mu.Unlock()
	}
	w.t.Cleanup(func() {
		for i := range w.nodes {
			if nd := w.node(i); nd != nil {
				_ = nd.Kill()
			}
		}
	})
	// The late joiners must be in the Raft configuration before tests start.
	w.eventually(30*time.Second, "every node sees the leader and all members", func() bool {
		for i := range n {
			nd := w.node(i)
			srv, err := nd.Consensus().Servers()
			if err != nil || len(srv) != n || nd.Consensus().Leader() == "" {
				return false
			}
		}
		return true
	})
	// The contract takes requests once it knows their k (1 by default)
	// executor keys: register the nodes', as an operator must.
	if !w.noExecutorKeys {
		w.registerExecutorKeys()
	}
}

// registerExecutorKeys registers the running nodes' executor keys that the
// contract does not know yet (fixture.World.RegisterExecutorKeys).
func (w *world) registerExecutorKeys() {
	w.t.Helper()
	var nodes []*daemon.Node
	for i := range w.nodes {
		if nd := w.node(i); nd != nil {
			nodes = append(nodes, nd)
		}
	}
	if err := w.fw.RegisterExecutorKeys(w.ctx, nodes); err != nil {
		w.t.Fatalf("registering the nodes' executor keys: %v", err)
	}
}

func (w *world) node(i int) *daemon.Node {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.nodes[i]
}

// leader is the index of the current leader among running nodes.
func (w *world) leader() int {
	w.t.Helper()
	idx := -1
	w.eventually(20*time.Second, "a leader", func() bool {
		for i := range w.nodes {
			if nd := w.node(i); nd != nil && nd.IsLeader() {
				idx = i
				return true
			}
		}
		return false
	})
	return idx
}

func (w *world) indexOf(peerID string) int {
	for i := range w.nodes {
		if nd := w.node(i); nd != nil && nd.PeerID() == peerID {
			return i
		}
	}
	return -1
}

// kill crashes node i.
func (w *world) kill(i int) {
	w.t.Helper()
	nd := w.node(i)
	if err := nd.Kill(); err != nil {
		w.t.Logf("kill node %d: %v", i, err)
	}
	w.mu.Lock()
	w.nodes[i] = nil
	w.mu.Unlock()
}

// restart starts node i again from its data directory. Outside dev mode
// it comes back with a new executor key, which the cluster vouches in
// (vouch_executor_key); nothing here registers it.
func (w *world) restart(i int) {
	w.t.Helper()
	cfg := w.cfgs[i]
	nd, err := daemon.Start(w.ctx, cfg)
	if err != nil {
		w.t.Fatalf("restarting node %d: %v", i, err)
	}
	w.mu.Lock()
	w.nodes[i] = nd
	w.mu.Unlock()
}

// applyIdempotent applies cmd through nd, asking again while the outcome is
// unknown or no leader is known. On a loaded machine a leader can lose its
// lease while an entry commits (consensus.ErrIndeterminate), as it can in
// production; a test that is not about leadership rides that out, as the
// daemon's own loops do. Only for commands that are safe to apply twice.
func (w *world) applyIdempotent(nd *daemon.Node, cmd consensus.Command, within time.Duration) {
	w.t.Helper()
	var err error
	w.eventually(within, fmt.Sprintf("%T applied", cmd), func() bool {
		_, err = nd.Consensus().Apply(w.ctx, cmd)
		switch {
		case err == nil:
			return true
		case errors.Is(err, consensus.ErrIndeterminate), errors.Is(err, consensus.ErrNoLeader):
			w.t.Logf("%T: %v; asking again", cmd, err)
			return false
		}
		w.t.Fatalf("apply %T: %v", cmd, err)
		return false
	})
}

// anyNode is some running node.
func (w *world) anyNode() *daemon.Node {
	for i := range w.nodes {
		if nd := w.node(i); nd != nil {
			return nd
		}
	}
	w.t.Fatal("no node is running")
	return nil
}

func (w *world) eventually(d time.Duration, what string, cond func() bool) {
	w.t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			w.t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond) // polling a condition with a deadline
	}
}

func (w *world) wasmSource(name string) contracts.CodeSource {
	sum := sha256.Sum256(programs[name])
	return contracts.CodeSource{WasmURL: &contracts.WasmURLSource{URL: w.files.URL + "/" + name + ".wasm", Hash: hex.EncodeToString(sum[:])}}
}

func gitSource(repo, commit string) contracts.CodeSource {
	return contracts.CodeSource{GitHub: &contracts.GitHubSource{Repo: repo, Commit: commit}}
}

// send broadcasts a call without waiting: calls that yield end only after
// the resume or the timeout.
func (w *world) send(s *near.Signer, contract, method string, args any, deposit near.U128) near.CryptoHash {
	w.t.Helper()
	raw, err := json.Marshal(args)
	if err != nil {
		w.t.Fatal(err)
	}
	st, err := s.Sign(w.ctx, contract, near.FunctionCall{MethodName: method, Args: raw, Gas: 300 * near.TGas, Deposit: deposit})
	if err != nil {
		w.t.Fatal(err)
	}
	h, err := w.cl.BroadcastTxAsync(w.ctx, st)
	if err != nil {
		w.t.Fatalf("broadcast %s.%s: %v", contract, method, err)
	}
	return h
}

// request sends request_execution from alice directly.
func (w *world) request(code contracts.CodeSource, input string, limits contracts.ResourceLimits, format contracts.ResponseFormat, deposit near.U128) near.CryptoHash {
	w.t.Helper()
	return w.send(w.alice, w.outlayer, contracts.MethodRequestExecution, contracts.RequestExecutionArgs{
		CodeSource: code, ResourceLimits: &limits, InputData: &input, ResponseFormat: format,
	}, deposit)
}

// finals waits until every request transaction is final, all within one
// deadline, and returns their outcomes in order. Waiting in turn is as fast
// as waiting at once (the requests run meanwhile), and keeps t.Fatal on the
// test's goroutine.
func (w *world) finals(hs []near.CryptoHash, signer string, within time.Duration) []outcome {
	w.t.Helper()
	deadline := time.Now().Add(within)
	out := make([]outcome, len(hs))
	for i, h := range hs {
		out[i] = parseOutcome(w.t, w.final(h, signer, max(time.Until(deadline), time.Second)))
	}
	return out
}

// final waits until the transaction (and its yield callback) is final.
func (w *world) final(h near.CryptoHash, signer string, within time.Duration) *near.FinalExecutionOutcome {
	w.t.Helper()
	deadline := time.Now().Add(within)
	for {
		out, err := w.cl.TxStatus(w.ctx, h, signer, near.TxFinal)
		if err == nil && out.Status != nil {
			return out
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("tx %s not final after %s: %v", h, within, err)
		}
		var re *near.RPCError
		if err != nil && !errors.As(err, &re) && w.ctx.Err() != nil {
			w.t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond) // polling a condition with a deadline
	}
}

// outcome is what the chain says about one request.
type outcome struct {
	requestID uint64
	requested contracts.ExecutionRequested
	completed []contracts.ExecutionCompleted
	out       *near.FinalExecutionOutcome
}

func parseOutcome(t testing.TB, out *near.FinalExecutionOutcome) outcome {
	t.Helper()
	evs, err := contracts.OutLayerEvents(out.Logs())
	if err != nil {
		t.Fatalf("events: %v", err)
	}
	o := outcome{out: out}
	for _, ev := range evs {
		switch ev.Event {
		case contracts.EventExecutionRequested:
			if err := ev.Decode(ev.Event, &o.requested); err != nil {
				t.Fatal(err)
			}
			o.requestID = o.requested.RequestData.RequestID
		case contracts.EventExecutionCompleted:
			var c contracts.ExecutionCompleted
			if err := ev.Decode(ev.Event, &c); err != nil {
				t.Fatal(err)
			}
			o.completed = append(o.completed, c)
		}
	}
	return o
}

func (w *world) balance(account string) near.U128 {
	w.t.Helper()
	a, err := w.cl.ViewAccount(w.ctx, account, near.Final())
	if err != nil {
		w.t.Fatalf("view_account %s: %v", account, err)
	}
	return a.Amount
}

// job waits until some node's replica shows request id in a terminal state.
func (w *world) job(id uint64, within time.Duration) *store.Job {
	w.t.Helper()
	var j *store.Job
	w.eventually(within, fmt.Sprintf("request %d closed in the replica", id), func() bool {
		got, err := w.anyNode().Consensus().Store().Get(id)
		if err == nil && got.Status.Terminal() {
			j = got
			return true
		}
		return false
	})
	return j
}

func add(a, b near.U128) near.U128 { s, _ := a.Add(b); return s }
func sub(a, b near.U128) near.U128 {
	d, ok := a.Sub(b)
	if !ok {
		panic(fmt.Sprintf("%s - %s underflows", a, b))
	}
	return d
}

func nearAmount(t testing.TB, s string) near.U128 {
	t.Helper()
	u, err := near.ParseNEAR(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
