package testnet

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/outlayer/outlayer/consensus"
	"github.com/outlayer/outlayer/contracts"
	"github.com/outlayer/outlayer/contracts/near"
	"github.com/outlayer/outlayer/daemon"
	"github.com/outlayer/outlayer/exec/build"
	"github.com/outlayer/outlayer/testnet/devchain"
	examplecontracts "github.com/outlayer/outlayer/testnet/examples/contracts"
)

const tgas = 1_000_000_000_000

// Config configures a local testnet.
type Config struct {
	// Home holds the chain's root key, every account's key file, the
	// nodes' data directories and logs, and the demo program's git repo.
	Home string
	// Nodes is the cluster size (default 3).
	Nodes int
	// BlockTime is the devchain's block interval (default 200ms).
	BlockTime time.Duration
	// RPCAddr is the devchain's JSON-RPC address (default 127.0.0.1:3030;
	// "127.0.0.1:0" picks a port).
	RPCAddr string
	// HTTPBasePort: node i serves its API on 127.0.0.1:HTTPBasePort+i
	// (default 8081; 0 in tests picks ports).
	HTTPBasePort int
	// GoCacheDir is shared by builds (default Home/gocache).
	GoCacheDir string
	// Logger receives the testnet's own lines; each node logs to its file.
	Logger *slog.Logger
}

// Testnet is a running local network.
type Testnet struct {
	cfg      Config
	Chain    *devchain.Chain
	Client   *near.Client
	Root     *near.Signer
	Owner    *near.Signer
	Operator *near.Signer
	User     *near.Signer
	Caller   string // the sample caller contract
	Contract string // the OutLayer contract
	Nodes    []*daemon.Node
	LogFiles []string
	logs     []*os.File
}

// Start brings a testnet up: a devchain, the owner, operator and user
// accounts, the OutLayer contract, the registration contract on the
// operator account, the sample caller contract, and the nodes, each with a
// resolve-only key registered through the registration contract.
func Start(ctx context.Context, cfg Config) (_ *Testnet, err error) {
	if cfg.Home == "" {
		return nil, errors.New("testnet: a home directory is required")
	}
	if cfg.Nodes <= 0 {
		cfg.Nodes = 3
	}
	if cfg.BlockTime <= 0 {
		cfg.BlockTime = 200 * time.Millisecond
	}
	if cfg.RPCAddr == "" {
		cfg.RPCAddr = "127.0.0.1:3030"
	}
	if cfg.GoCacheDir == "" {
		cfg.GoCacheDir = filepath.Join(cfg.Home, "gocache")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if err := os.MkdirAll(cfg.Home, 0o700); err != nil {
		return nil, fmt.Errorf("testnet home: %w", err)
	}
	tn := &Testnet{cfg: cfg}
	defer func() {
		if err != nil {
			_ = tn.Close(context.Background())
		}
	}()
	log := cfg.Logger
	tn.Chain, err = devchain.New(devchain.Config{Home: filepath.Join(cfg.Home, "chain"), RPCAddr: cfg.RPCAddr, BlockTime: cfg.BlockTime})
	if err != nil {
		return nil, fmt.Errorf("devchain: %w", err)
	}
	if err := tn.Chain.Start(ctx); err != nil {
		return nil, fmt.Errorf("devchain: %w", err)
	}
	log.Info("devchain started", "rpc", tn.Chain.RPCURL())
	tn.Client = near.NewClient(tn.Chain.RPCURL())
	rootID, rootKey, err := near.LoadKeyFile(tn.Chain.RootKeyFile())
	if err != nil {
		return nil, err
	}
	if tn.Root, err = near.NewSigner(tn.Client, rootID, rootKey); err != nil {
		return nil, err
	}
	if tn.Owner, err = tn.account(ctx, "owner", 100); err != nil {
		return nil, err
	}
	if tn.Operator, err = tn.account(ctx, "operator", 100); err != nil {
		return nil, err
	}
	if tn.User, err = tn.account(ctx, "user", 1000); err != nil {
		return nil, err
	}
	outlayer, err := tn.account(ctx, "outlayer", 100)
	if err != nil {
		return nil, err
	}
	tn.Contract = outlayer.AccountID()
	if _, err := outlayer.DeployContract(ctx, contracts.OutLayerWASM(), contracts.MethodNew,
		contracts.NewArgs{OwnerID: tn.Owner.AccountID(), OperatorID: tn.Operator.AccountID()}, 0); err != nil {
		return nil, fmt.Errorf("deploying the OutLayer contract: %w", err)
	}
	caller, err := tn.account(ctx, "caller", 50)
	if err != nil {
		return nil, err
	}
	if _, err := caller.DeployContract(ctx, examplecontracts.Caller, "", nil, 0); err != nil {
		return nil, fmt.Errorf("deploying the sample caller: %w", err)
	}
	tn.Caller = caller.AccountID()
	log.Info("contracts deployed", "outlayer", tn.Contract, "caller", tn.Caller)

	// The registration contract lives on the operator account; its init key
	// may only call register_node, which adds a resolve-only key per node.
	initKey, err := near.GenerateKeyPair(rand.Reader)
	if err != nil {
		return nil, err
	}
	if _, err := tn.Operator.DeployContract(ctx, contracts.RegisterWASM(), contracts.RegisterMethodNew, contracts.RegisterNewArgs{
		OwnerID: tn.Owner.AccountID(), OutLayerContractID: tn.Contract, InitPublicKey: initKey.PublicKey().String(),
	}, 0); err != nil {
		return nil, fmt.Errorf("deploying the registration contract: %w", err)
	}
	if _, err := tn.Operator.AddKey(ctx, initKey.PublicKey(), near.AccessKey{Permission: near.AccessKeyPermission{
		FunctionCall: &near.FunctionCallPermission{ReceiverID: tn.Operator.AccountID(), MethodNames: []string{contracts.RegisterMethodRegisterNode}},
	}}); err != nil {
		return nil, fmt.Errorf("adding the registration init key: %w", err)
	}
	initSigner, err := near.NewSigner(tn.Client, tn.Operator.AccountID(), initKey)
	if err != nil {
		return nil, err
	}

	for i := range cfg.Nodes {
		if err := tn.startNode(ctx, i, initSigner); err != nil {
			return nil, err
		}
	}
	return tn, nil
}

func (tn *Testnet) account(ctx context.Context, name string, balanceNEAR uint64) (*near.Signer, error) {
	kp, err := near.GenerateKeyPair(rand.Reader)
	if err != nil {
		return nil, err
	}
	id := name + "." + tn.Root.AccountID()
	amount, _ := near.OneNEAR.Mul64(balanceNEAR)
	if _, err := tn.Root.CreateAccount(ctx, id, kp.PublicKey(), amount); err != nil {
		return nil, fmt.Errorf("creating %s: %w", id, err)
	}
	if err := near.SaveKeyFile(filepath.Join(tn.cfg.Home, "keys", id+".json"), id, kp); err != nil {
		return nil, err
	}
	return near.NewSigner(tn.Client, id, kp)
}

func (tn *Testnet) startNode(ctx context.Context, i int, initSigner *near.Signer) error {
	dir := filepath.Join(tn.cfg.Home, fmt.Sprintf("node%d", i))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	key, err := near.GenerateKeyPair(rand.Reader)
	if err != nil {
		return err
	}
	keyFile := filepath.Join(dir, "operator-key.json")
	if err := near.SaveKeyFile(keyFile, tn.Operator.AccountID(), key); err != nil {
		return err
	}
	if _, err := initSigner.CallFunction(ctx, tn.Operator.AccountID(), contracts.RegisterMethodRegisterNode, contracts.RegisterNodeArgs{
		PublicKey: key.PublicKey().String(), Attestation: "simulated: local testnet node " + fmt.Sprint(i) + " (no TEE)", NodeID: fmt.Sprintf("node%d", i),
	}, 100*tgas, near.U128{}); err != nil {
		return fmt.Errorf("registering node %d's key: %w", i, err)
	}
	logPath := filepath.Join(tn.cfg.Home, fmt.Sprintf("node%d.log", i))
	lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	tn.logs = append(tn.logs, lf)
	tn.LogFiles = append(tn.LogFiles, logPath)
	httpAddr := "127.0.0.1:0"
	if tn.cfg.HTTPBasePort > 0 {
		httpAddr = fmt.Sprintf("127.0.0.1:%d", tn.cfg.HTTPBasePort+i)
	}
	cfg := daemon.Config{
		DataDir:         dir,
		ListenAddrs:     []string{"/ip4/127.0.0.1/tcp/0"},
		HTTPAddr:        httpAddr,
		RPCURL:          tn.Chain.RPCURL(),
		ContractID:      tn.Contract,
		OperatorAccount: tn.Operator.AccountID(),
		OperatorKeyFile: keyFile,
		DevMode:         true,
		// A poll at an unchanged final block costs one cheap `block` call.
		PollInterval: tn.cfg.BlockTime / 4,
		Raft: consensus.RaftTuning{HeartbeatTimeout: time.Second, ElectionTimeout: time.Second,
			LeaderLeaseTimeout: 500 * time.Millisecond, CommitTimeout: 5 * time.Millisecond},
		Build:  build.Config{GoCacheDir: tn.cfg.GoCacheDir, AllowLocalRepos: true},
		Logger: slog.New(slog.NewTextHandler(lf, &slog.HandlerOptions{Level: slog.LevelInfo})),
	}
	if i > 0 {
		cfg.Join = tn.Nodes[0].P2PAddrs()[:1]
	}
	n, err := daemon.Start(ctx, cfg)
	if err != nil {
		return fmt.Errorf("starting node %d: %w", i, err)
	}
	tn.Nodes = append(tn.Nodes, n)
	tn.cfg.Logger.Info("node started", "node", i, "http", n.HTTPAddr(), "log", logPath)
	return nil
}

// Close stops the nodes and the chain.
func (tn *Testnet) Close(ctx context.Context) error {
	var errs []error
	for i := len(tn.Nodes) - 1; i >= 0; i-- {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		errs = append(errs, tn.Nodes[i].Stop(sctx))
		cancel()
	}
	if tn.Chain != nil {
		errs = append(errs, tn.Chain.Close())
	}
	for _, f := range tn.logs {
		errs = append(errs, f.Close())
	}
	return errors.Join(errs...)
}

// demoProgram is the sample program the demo builds from git.
const demoProgram = `package main

import (
	"io"
	"os"
	"strings"
)

func main() {
	in, _ := io.ReadAll(os.Stdin)
	name := strings.TrimSpace(string(in))
	if name == "" {
		name = "world"
	}
	os.Stdout.WriteString("Hello, " + name + "! Computed off chain by OutLayer for " +
		os.Getenv("NEAR_SENDER_ID") + " (request " + os.Getenv("NEAR_REQUEST_ID") + ").")
}
`

// DemoRepo creates (once) a git repository under Home holding the demo
// program (testnet/examples/programs/greet) and returns its path and commit.
func (tn *Testnet) DemoRepo() (string, string, error) {
	dir := filepath.Join(tn.cfg.Home, "demo-program")
	git := func(args ...string) (string, error) {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=outlayer", "GIT_AUTHOR_EMAIL=demo@outlayer.local",
			"GIT_COMMITTER_NAME=outlayer", "GIT_COMMITTER_EMAIL=demo@outlayer.local",
			"GIT_AUTHOR_DATE=2026-01-01T00:00:00Z", "GIT_COMMITTER_DATE=2026-01-01T00:00:00Z",
			"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out)), nil
	}
	if _, err := os.Stat(filepath.Join(dir, ".git")); err != nil {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", "", err
		}
		files := map[string]string{"go.mod": "module example.com/greet\n\ngo 1.24\n", "main.go": demoProgram}
		for name, content := range files {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
				return "", "", err
			}
		}
		for _, args := range [][]string{{"init", "--quiet", "--initial-branch=main"}, {"add", "-A"}, {"commit", "--quiet", "-m", "greet: the demo program"}} {
			if _, err := git(args...); err != nil {
				return "", "", err
			}
		}
	}
	commit, err := git("rev-parse", "HEAD")
	return dir, commit, err
}

// WarmBuildCache builds the demo program once outside the cluster, so that
// the Go standard library for wasip1 is in the shared build cache: a cold
// cache takes longer to compile than the 200-block yield window at 200 ms
// blocks, and the demo request would be given up.
func (tn *Testnet) WarmBuildCache(ctx context.Context) error {
	repo, commit, err := tn.DemoRepo()
	if err != nil {
		return err
	}
	b, err := build.New(ctx, build.Config{WorkDir: filepath.Join(tn.cfg.Home, "warmup"), GoCacheDir: tn.cfg.GoCacheDir, AllowLocalRepos: true})
	if err != nil {
		return fmt.Errorf("build sandbox: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(tn.cfg.Home, "warmup"), 0o700); err != nil {
		return err
	}
	if _, err := b.Build(ctx, build.Source{Repo: repo, Commit: commit}); err != nil {
		return fmt.Errorf("warm-up build of the demo program: %w", err)
	}
	return nil
}

// DemoResult is what the demo request produced.
type DemoResult struct {
	RequestID uint64
	Output    string
	Deposit   near.U128
	Charged   near.U128
	Refunded  near.U128
	Note      string
	TxHash    string
}

// RunDemo has the sample caller contract request the demo program, built
// from its git repository, and waits for the callback.
func (tn *Testnet) RunDemo(ctx context.Context, name string) (*DemoResult, error) {
	repo, commit, err := tn.DemoRepo()
	if err != nil {
		return nil, err
	}
	deposit, _ := near.ParseNEAR("0.1")
	limits := contracts.ResourceLimits{MaxInstructions: 100_000_000, MaxMemoryMB: 64, MaxExecutionSeconds: 10}
	args := map[string]any{
		"outlayer":         tn.Contract,
		"code_source":      contracts.CodeSource{GitHub: &contracts.GitHubSource{Repo: repo, Commit: commit}},
		"resource_limits":  limits,
		"input_data":       name,
		"response_format":  "Text",
		"payer_account_id": tn.User.AccountID(),
	}
	out, err := SendAndWait(ctx, tn.User, tn.Caller, "run", args, deposit)
	if err != nil {
		return nil, err
	}
	return demoResult(out, deposit)
}

func demoResult(out *near.FinalExecutionOutcome, deposit near.U128) (*DemoResult, error) {
	res := &DemoResult{Deposit: deposit}
	if h, ok := out.TxHash(); ok {
		res.TxHash = h.String()
	}
	_ = out.DecodeResult(&res.Output)
	evs, err := contracts.OutLayerEvents(out.Logs())
	if err != nil {
		return nil, err
	}
	for _, ev := range evs {
		switch ev.Event {
		case contracts.EventExecutionRequested:
			var r contracts.ExecutionRequested
			if ev.Decode(ev.Event, &r) == nil {
				res.RequestID = r.RequestData.RequestID
			}
		case contracts.EventExecutionCompleted:
			var c contracts.ExecutionCompleted
			if ev.Decode(ev.Event, &c) == nil {
				res.Charged, res.Refunded = c.PaymentCharged, c.PaymentRefunded
				if c.CompilationNote != nil {
					res.Note = *c.CompilationNote
				}
				if !c.Success && c.ErrorMessage != nil {
					return res, fmt.Errorf("request %d failed: %s", res.RequestID, *c.ErrorMessage)
				}
			}
		}
	}
	return res, nil
}

// SendAndWait signs a function call with 300 Tgas and waits, past the
// RPC's own timeout, until the transaction and everything it caused
// (the yield callback included) is final.
func SendAndWait(ctx context.Context, s *near.Signer, contract, method string, args any, deposit near.U128) (*near.FinalExecutionOutcome, error) {
	raw, err := jsonArgs(args)
	if err != nil {
		return nil, err
	}
	st, err := s.Sign(ctx, contract, near.FunctionCall{MethodName: method, Args: raw, Gas: 300 * tgas, Deposit: deposit})
	if err != nil {
		return nil, err
	}
	h, err := s.Client().BroadcastTxAsync(ctx, st)
	if err != nil {
		return nil, fmt.Errorf("sending %s.%s: %w", contract, method, err)
	}
	for {
		out, err := s.Client().TxStatus(ctx, h, s.AccountID(), near.TxFinal)
		if err == nil && out.Status != nil {
			if ferr := out.Err(); ferr != nil {
				return out, fmt.Errorf("%s.%s failed: %w", contract, method, ferr)
			}
			return out, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("waiting for transaction %s: %w", h, ctx.Err())
		}
		t := time.NewTimer(100 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
	}
}
