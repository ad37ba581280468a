package testnet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/outlayer/outlayer/contracts"
	"github.com/outlayer/outlayer/contracts/near"
	"github.com/outlayer/outlayer/daemon"
	"github.com/outlayer/outlayer/exec/build"
	"github.com/outlayer/outlayer/testnet/devchain"
	"github.com/outlayer/outlayer/testnet/fixture"
)

// TestnetCluster is the testnet's cluster name on the LAN.
const TestnetCluster = "outlayer-testnet"

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
	World    *fixture.World
	Chain    *devchain.Chain
	Client   *near.Client
	Root     *near.Signer
	Owner    *near.Signer
	Operator *near.Signer
	User     *near.Signer
	Caller   string // the sample caller contract
	Contract string // the OutLayer contract
	// Token is the sample NEP-141 payment token (the user holds the whole
	// supply); payment keys are topped up with it.
	Token    string
	Nodes    []*daemon.Node
	LogFiles []string
	cluster  *fixture.Cluster
	logs     []*os.File
}

// Start brings a testnet up (see package fixture): a devchain, the owner,
// operator and user accounts (key files in Home/keys), the OutLayer
// contract, the registration contract on the operator account, the sample
// caller contract, the sample payment token (the OutLayer contract's payment
// token, its supply the user's), and the nodes, each with a resolve-only key registered
// through the registration contract and a log file Home/node<i>.log.
// TestnetAgreement is the testnet's k: results need two agreeing
// executors (of three nodes), each signing, and the contract checks both
// signatures.
const TestnetAgreement = 2

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
	w, err := fixture.StartWorld(ctx, fixture.WorldConfig{
		ChainConfig: fixture.ChainConfig{
			Devchain: devchain.Config{Home: filepath.Join(cfg.Home, "chain"), RPCAddr: cfg.RPCAddr, BlockTime: cfg.BlockTime},
			KeyDir:   filepath.Join(cfg.Home, "keys"),
		},
		Register:     true,
		PaymentToken: true,
	})
	if err != nil {
		return nil, err
	}
	tn.World, tn.Chain, tn.Client, tn.Root = w, w.Chain.Chain, w.Client, w.Root
	tn.Owner, tn.Operator, tn.User = w.Owner, w.Operator, w.User
	tn.Contract, tn.Caller, tn.Token = w.Contract, w.Caller, w.Token
	log.Info("devchain started, contracts deployed", "rpc", tn.Chain.RPCURL(), "outlayer", tn.Contract, "caller", tn.Caller, "token", tn.Token)

	var logErr error
	tn.cluster, err = w.StartCluster(ctx, fixture.ClusterConfig{
		Dir: cfg.Home, Nodes: cfg.Nodes, KeyFiles: true,
		Tune: func(i int, nc *daemon.Config) {
			logPath := filepath.Join(cfg.Home, fmt.Sprintf("node%d.log", i))
			lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
			if err != nil {
				logErr = errors.Join(logErr, err)
				return
			}
			tn.logs = append(tn.logs, lf)
			tn.LogFiles = append(tn.LogFiles, logPath)
			if cfg.HTTPBasePort > 0 {
				nc.HTTPAddr = fmt.Sprintf("127.0.0.1:%d", cfg.HTTPBasePort+i)
			}
			nc.Build = build.Config{GoCacheDir: cfg.GoCacheDir, AllowLocalRepos: true}
			// LAN discovery is on for the testnet (dev mode): its nodes
			// answer mDNS queries for this name.
			nc.Cluster = TestnetCluster
			// k = 2 of 3: two executors must agree on every result.
			nc.Agreement = TestnetAgreement // capped by the cluster's size
			nc.Logger = slog.New(slog.NewTextHandler(lf, &slog.HandlerOptions{Level: slog.LevelInfo}))
		},
	})
	if err != nil {
		return nil, err
	}
	if logErr != nil {
		return nil, fmt.Errorf("node log files: %w", logErr)
	}
	tn.Nodes = tn.cluster.Nodes
	// The contract checks what the cluster signs: every node's executor
	// key registered, k signatures required of every new request.
	if err := w.RequireSignatures(ctx, uint64(min(TestnetAgreement, len(tn.Nodes))), tn.Nodes); err != nil {
		return nil, fmt.Errorf("registering the nodes' executor keys: %w", err)
	}
	for i, n := range tn.Nodes {
		log.Info("node started", "node", i, "http", n.HTTPAddr(), "log", tn.LogFiles[i])
	}
	return tn, nil
}

// Close stops the nodes and the chain.
func (tn *Testnet) Close(ctx context.Context) error {
	var errs []error
	if tn.cluster != nil {
		errs = append(errs, tn.cluster.Close(ctx))
	}
	if tn.World != nil {
		errs = append(errs, tn.World.Close())
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
	out, err := fixture.SendAndWait(ctx, tn.User, tn.Caller, "run", args, deposit)
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
