package keystore

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/outlayer/outlayer/consensus"
	"github.com/outlayer/outlayer/contracts"
	"github.com/outlayer/outlayer/contracts/near"
	outexec "github.com/outlayer/outlayer/exec"
	"github.com/outlayer/outlayer/store"
	"github.com/outlayer/outlayer/testnet/devchain"
)

func quietLogger() *slog.Logger {
	if os.Getenv("KEYSTORE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// refusingVerifier is simulated attestation that refuses chosen peers, as
// a TDX verifier refuses a quote that fails the measurement policy.
type refusingVerifier struct {
	mu     sync.Mutex
	refuse map[peer.ID]bool
}

func (v *refusingVerifier) VerifyJoin(ctx context.Context, p peer.ID, nonce, evidence []byte) ([]byte, error) {
	v.mu.Lock()
	bad := v.refuse[p]
	v.mu.Unlock()
	if bad {
		return nil, fmt.Errorf("attestation of %s does not satisfy the measurement policy", p)
	}
	return consensus.SimulatedAttestation{}.VerifyJoin(ctx, p, nonce, evidence)
}

type testNode struct {
	dir, port string
	cons      *consensus.Node
	ks        *Keystore
}

type harness struct {
	t        testing.TB
	ctx      context.Context
	base     string
	nodes    []*testNode
	verifier *refusingVerifier
	viewer   Viewer
	contract string
	// memoryOnly starts keystores in memory-only mode (no Sealer), as a
	// TDX node outside dev mode runs; attestation stays simulated.
	memoryOnly bool
	// memoryIdentity keeps node keys in memory only, new at every start,
	// as outside dev mode (consensus.Config.MemoryIdentity).
	memoryIdentity bool
}

func newHarness(t testing.TB, viewer Viewer, contract string) *harness {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	h := &harness{t: t, ctx: ctx, base: t.TempDir(), verifier: &refusingVerifier{refuse: map[peer.ID]bool{}},
		viewer: viewer, contract: contract}
	t.Cleanup(func() {
		for i := range h.nodes {
			h.stop(i)
		}
	})
	return h
}

func (h *harness) add() int {
	i := len(h.nodes)
	h.nodes = append(h.nodes, &testNode{dir: filepath.Join(h.base, fmt.Sprintf("node%d", i)), port: "0"})
	h.start(i)
	return i
}

func (h *harness) start(i int) {
	h.t.Helper()
	n := h.nodes[i]
	cons, err := consensus.Open(h.ctx, consensus.Config{
		DataDir: n.dir, ListenAddrs: []string{"/ip4/127.0.0.1/tcp/" + n.port}, DevMode: true,
		MemoryIdentity: h.memoryIdentity, Verifier: h.verifier, Logger: quietLogger().With("node", i),
		Raft: consensus.RaftTuning{HeartbeatTimeout: 300 * time.Millisecond, ElectionTimeout: 300 * time.Millisecond,
			LeaderLeaseTimeout: 200 * time.Millisecond, CommitTimeout: 5 * time.Millisecond},
	})
	if err != nil {
		h.t.Fatalf("open node %d: %v", i, err)
	}
	for _, a := range cons.Host().ListenAddrs() {
		if p, err := a.ValueForProtocol(6); err == nil {
			n.port = p
		}
	}
	cfg := Config{Cluster: cons, Identity: cons.Identity(), Viewer: h.viewer, ContractID: h.contract,
		DevMode: true, MemoryOnly: h.memoryOnly, Logger: quietLogger().With("node", i)}
	if !h.memoryOnly {
		if cfg.Sealer, err = NewFileSealer(n.dir); err != nil {
			h.t.Fatal(err)
		}
	}
	ks, err := New(cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	n.cons, n.ks = cons, ks
}

func (h *harness) stop(i int) {
	n := h.nodes[i]
	if n.cons == nil {
		return
	}
	n.ks.Close()
	if err := n.cons.Close(); err != nil {
		h.t.Errorf("close node %d: %v", i, err)
	}
	n.cons, n.ks = nil, nil
}

func (h *harness) addr(i int) string { return h.nodes[i].cons.Addrs()[0].String() }

// cluster bootstraps node 0 (consensus and keystore) and joins n-1 more,
// each receiving the master secret from a member.
func (h *harness) cluster(n int) {
	h.t.Helper()
	h.add()
	if err := h.nodes[0].cons.Bootstrap(h.ctx); err != nil {
		h.t.Fatal(err)
	}
	if err := h.nodes[0].ks.Bootstrap(h.ctx); err != nil {
		h.t.Fatalf("keystore bootstrap: %v", err)
	}
	for i := 1; i < n; i++ {
		h.add()
		if err := h.nodes[i].cons.Join(h.ctx, h.addr(i-1)); err != nil {
			h.t.Fatalf("node %d join: %v", i, err)
		}
		ctx, cancel := context.WithTimeout(h.ctx, 30*time.Second)
		err := h.nodes[i].ks.Run(ctx)
		cancel()
		if err != nil {
			h.t.Fatalf("node %d keystore: %v", i, err)
		}
	}
}

func (h *harness) leader() int {
	h.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		for i, n := range h.nodes {
			if n.cons != nil && n.cons.IsLeader() {
				return i
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	h.t.Fatal("no leader")
	return -1
}

// chain is a devchain with the OutLayer contract and three users.
type chain struct {
	cl                *near.Client
	contract          string
	alice, bob, carol *near.Signer
	keys              map[string]*near.KeyPair
}

func newChain(t *testing.T, ctx context.Context) *chain {
	t.Helper()
	c, err := devchain.New(devchain.Config{Home: t.TempDir(), BlockTime: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	cl := near.NewClient(c.RPCURL())
	rootID, kp, err := near.LoadKeyFile(c.RootKeyFile())
	if err != nil {
		t.Fatal(err)
	}
	root, err := near.NewSigner(cl, rootID, kp)
	if err != nil {
		t.Fatal(err)
	}
	ch := &chain{cl: cl, keys: map[string]*near.KeyPair{}}
	account := func(sub string, balance uint64) *near.Signer {
		kp, _ := near.GenerateKeyPair(rand.Reader)
		id := sub + "." + rootID
		amount, _ := near.OneNEAR.Mul64(balance)
		if _, err := root.CreateAccount(ctx, id, kp.PublicKey(), amount); err != nil {
			t.Fatalf("create %s: %v", id, err)
		}
		s, err := near.NewSigner(cl, id, kp)
		if err != nil {
			t.Fatal(err)
		}
		ch.keys[id] = kp
		return s
	}
	owner := account("owner", 5)
	outlayer := account("outlayer", 20)
	if _, err := outlayer.DeployContract(ctx, contracts.OutLayerWASM(), contracts.MethodNew,
		contracts.NewArgs{OwnerID: owner.AccountID(), OperatorID: owner.AccountID()}, 0); err != nil {
		t.Fatalf("deploy: %v", err)
	}
	ch.contract = outlayer.AccountID()
	ch.alice = account("alice", 10)
	ch.bob = account("bob", 10)
	ch.carol = account("carol", 1)
	return ch
}

// envdump is a Go program built for wasip1 that prints its non-NEAR
// environment as JSON.
func buildEnvdump(t *testing.T) []byte {
	t.Helper()
	dir := t.TempDir()
	src := `package main

import (
	"encoding/json"
	"os"
	"strings"
)

func main() {
	m := map[string]string{}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(k, "NEAR_") {
			m[k] = v
		}
	}
	json.NewEncoder(os.Stdout).Encode(m)
}
`
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module envdump\n\ngo 1.21\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "build", "-trimpath", "-o", "envdump.wasm", ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0", "GOFLAGS=-mod=mod")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build envdump: %v\n%s", err, out)
	}
	wasm, err := os.ReadFile(filepath.Join(dir, "envdump.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	return wasm
}

func getPubkey(t *testing.T, srv *httptest.Server, q url.Values) PubkeyResponse {
	t.Helper()
	resp, err := http.Get(srv.URL + HTTPPrefix + "pubkey?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var pr PubkeyResponse
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("pubkey: %s: %s", resp.Status, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(&pr); err != nil {
		t.Fatal(err)
	}
	return pr
}

func postGenerate(t *testing.T, srv *httptest.Server, req GenerateRequest) (int, string) {
	t.Helper()
	body, _ := json.Marshal(req)
	resp, err := http.Post(srv.URL+HTTPPrefix+"generate", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestSecretsEndToEnd: a three-node cluster shares one master secret; a
// secret encrypted on the client is stored on a devchain contract, reaches
// a real wasip1 program as an environment variable only for a caller that
// satisfies the access condition, generated secrets survive a leader
// change, and a full-cluster restart recovers every node from its sealed
// copy.
func TestSecretsEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a devchain and a three-node cluster")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	wasmCh := make(chan []byte, 1)
	go func() { wasmCh <- buildEnvdump(t) }()
	ch := newChain(t, ctx)
	h := newHarness(t, ch.cl, ch.contract)
	h.cluster(3)

	// Every node holds the same master.
	fp := h.nodes[0].ks.Status().Fingerprint
	for i, n := range h.nodes {
		if st := n.ks.Status(); !st.Ready || st.Fingerprint != fp {
			t.Fatalf("node %d keystore %+v, want ready with fingerprint %s", i, st, fp)
		}
		if st := n.ks.Status(); strings.Contains(st.Sealing, "/") {
			t.Errorf("node %d: the public status shows a file path: %q", i, st.Sealing)
		}
	}

	// Every node derives the same seed for a request, and another
	// request's seed differs.
	seed0, err := h.nodes[0].ks.RequestSeed([]byte("request 1"))
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range h.nodes {
		if s, err := n.ks.RequestSeed([]byte("request 1")); err != nil || s != seed0 {
			t.Fatalf("node %d derives another seed for the same request (%v)", i, err)
		}
	}
	if s, _ := h.nodes[1].ks.RequestSeed([]byte("request 2")); s == seed0 {
		t.Fatal("two requests share a seed")
	}

	// The client asks any node for the public key.
	srv := httptest.NewServer(h.nodes[1].ks.Handler())
	defer srv.Close()
	q := url.Values{"repo": {"https://github.com/alice/prog"}, "owner": {ch.alice.AccountID()}}
	pr := getPubkey(t, srv, q)
	if pr.Seed != "github.com/alice/prog:"+ch.alice.AccountID() || pr.Profile != DefaultProfile {
		t.Fatalf("pubkey answer %+v", pr)
	}
	pub, err := ParsePublicKey(pr.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	if p2, _, _ := h.nodes[2].ks.PublicKey(Identity{Accessor: pr.Accessor, Owner: pr.Owner, Profile: pr.Profile}); p2 != pub {
		t.Fatal("two nodes derive different public keys for one identity")
	}

	// Alice encrypts on her machine and stores the blob on chain: callers
	// must be whitelisted AND hold at least 5 NEAR.
	blob, err := EncryptSecrets(rand.Reader, pub, []byte(`{"API_KEY":"sk-live-42"}`))
	if err != nil {
		t.Fatal(err)
	}
	var access contracts.AccessCondition
	json.Unmarshal([]byte(fmt.Sprintf(`{"Logic":{"operator":"And","conditions":[
		{"Whitelist":{"accounts":[%q,%q]}},{"NearBalance":{"operator":"Gte","value":"5000000000000000000000000"}}]}}`,
		ch.bob.AccountID(), ch.carol.AccountID())), &access)
	if _, _, err := StoreSecrets(ctx, ch.alice, ch.contract, contracts.StoreSecretsArgs{
		Accessor: pr.Accessor, Profile: DefaultProfile, EncryptedSecretsBase64: blob, Access: access}); err != nil {
		t.Fatal(err)
	}

	// Generated secrets, requested by the owner through another node.
	srv2 := httptest.NewServer(h.nodes[2].ks.Handler())
	defer srv2.Close()
	gen := GenerateRequest{Accessor: pr.Accessor, Profile: DefaultProfile, Owner: ch.alice.AccountID(),
		Secrets: []GenerateSpec{{Name: "PROTECTED_KEY", Type: "ed25519"}, {Name: "PROTECTED_PW", Type: "password:20"}}}
	forged := gen
	if err := forged.Sign(ch.keys[ch.bob.AccountID()], time.Now()); err != nil {
		t.Fatal(err)
	}
	forged.PublicKey = ch.keys[ch.bob.AccountID()].PublicKey()
	if code, body := postGenerate(t, srv2, forged); code != http.StatusUnauthorized {
		t.Fatalf("generate signed by bob for alice: %d %s, want 401", code, body)
	}
	if err := gen.Sign(ch.keys[ch.alice.AccountID()], time.Now()); err != nil {
		t.Fatal(err)
	}
	if code, body := postGenerate(t, srv2, gen); code != http.StatusOK || !strings.Contains(body, "PROTECTED_KEY") {
		t.Fatalf("generate: %d %s", code, body)
	}
	if code, body := postGenerate(t, srv2, gen); code != http.StatusBadRequest || !strings.Contains(body, "never replaced") {
		t.Fatalf("generating an existing name again: %d %s, want 400", code, body)
	}

	code := store.CodeSource{Git: &store.GitSource{Repo: "https://github.com/alice/prog", Commit: strings.Repeat("a", 40)}}
	reqFor := func(caller string) Request {
		r, err := RequestFor(code, store.SecretsRef{Profile: DefaultProfile, AccountID: ch.alice.AccountID()}, caller)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}

	// Bob may: the program sees the secrets.
	env, err := h.nodes[0].ks.SecretsFor(ctx, reqFor(ch.bob.AccountID()))
	if err != nil {
		t.Fatalf("secrets for bob: %v", err)
	}
	if env["API_KEY"] != "sk-live-42" || !strings.HasPrefix(env["PROTECTED_KEY"], "ed25519:") || len(env["PROTECTED_PW"]) != 20 {
		t.Fatalf("secrets for bob: %v", env)
	}
	runner, err := outexec.NewRunner(ctx, outexec.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer runner.Close(context.Background())
	wasm := <-wasmCh
	res, err := runner.Run(ctx, outexec.Request{Wasm: wasm, Secrets: env,
		Context: outexec.Context{RequestID: 1, SenderID: ch.bob.AccountID()}})
	if err != nil {
		t.Fatalf("run: %v (stderr %s)", err, res.Stderr)
	}
	var seen map[string]string
	if err := json.Unmarshal(res.Output, &seen); err != nil {
		t.Fatalf("program output %q: %v", res.Output, err)
	}
	for k, v := range env {
		if seen[k] != v {
			t.Errorf("program saw %s=%q, want %q", k, seen[k], v)
		}
	}

	// Carol is whitelisted but holds 1 NEAR (real view_account); dave is
	// not whitelisted. Both fail clearly, with no secrets.
	for _, caller := range []string{ch.carol.AccountID(), "dave." + ch.alice.AccountID()} {
		env, err := h.nodes[1].ks.SecretsFor(ctx, reqFor(caller))
		if !errors.Is(err, ErrAccessDenied) || env != nil || ErrorKind(err) != "access_denied" {
			t.Fatalf("secrets for %s: %v, %v; want access denied", caller, env, err)
		}
		if !strings.Contains(err.Error(), caller) {
			t.Errorf("the denial does not name the caller: %v", err)
		}
	}
	// Another profile does not exist.
	r := reqFor(ch.bob.AccountID())
	r.Profile = "prod"
	if _, err := h.nodes[1].ks.SecretsFor(ctx, r); !errors.Is(err, ErrSecretsNotFound) || ErrorKind(err) != "secrets_not_found" {
		t.Fatalf("missing profile: %v", err)
	}
	// A blob encrypted to another identity's key cannot be decrypted.
	otherPub, _, _ := h.nodes[0].ks.PublicKey(repoID("github.com/alice/other", "", ch.alice.AccountID(), DefaultProfile))
	wrong, _ := EncryptSecrets(rand.Reader, otherPub, []byte(`{"API_KEY":"x"}`))
	if _, _, err := StoreSecrets(ctx, ch.alice, ch.contract, contracts.StoreSecretsArgs{Accessor: pr.Accessor,
		Profile: "wrongkey", EncryptedSecretsBase64: wrong, Access: contracts.AllowAll()}); err != nil {
		t.Fatal(err)
	}
	r.Profile = "wrongkey"
	if _, err := h.nodes[1].ks.SecretsFor(ctx, r); !errors.Is(err, ErrUndecryptable) || ErrorKind(err) != "secrets_invalid" {
		t.Fatalf("blob for another key: %v", err)
	}

	// Leader change: the generated secrets are unchanged on the others.
	l := h.leader()
	h.stop(l)
	f := (l + 1) % 3
	after, err := h.nodes[f].ks.SecretsFor(ctx, reqFor(ch.bob.AccountID()))
	if err != nil {
		t.Fatalf("after the leader stopped: %v", err)
	}
	if after["PROTECTED_KEY"] != env["PROTECTED_KEY"] || after["PROTECTED_PW"] != env["PROTECTED_PW"] {
		t.Fatalf("generated secrets changed across a leader change: %v vs %v", after, env)
	}
	h.start(l)

	// Full-cluster restart: each node recovers from its own sealed copy
	// (Recover only; no member is asked).
	for i := range h.nodes {
		h.stop(i)
	}
	for i := range h.nodes {
		h.start(i)
	}
	for i, n := range h.nodes {
		deadline := time.Now().Add(30 * time.Second)
		for {
			err := n.ks.Recover(ctx)
			if err == nil {
				break
			}
			if !errors.Is(err, ErrNoSealedCopy) || time.Now().After(deadline) {
				t.Fatalf("node %d recover after a full restart: %v", i, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if got := n.ks.Status().Fingerprint; got != fp {
			t.Fatalf("node %d recovered master %s, want %s", i, got, fp)
		}
	}
	again, err := h.nodes[2].ks.SecretsFor(ctx, reqFor(ch.bob.AccountID()))
	if err != nil || again["API_KEY"] != "sk-live-42" || again["PROTECTED_KEY"] != env["PROTECTED_KEY"] {
		t.Fatalf("after a full restart: %v, %v", again, err)
	}
}
