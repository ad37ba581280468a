package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/outlayer/outlayer/contracts/near"
	"github.com/outlayer/outlayer/testnet"
)

func testnetCommand() *cli.Command {
	return &cli.Command{
		Name:  "testnet",
		Usage: "run a local OutLayer network: a devchain, the contracts, three nodes, and a demo request",
		Description: "Starts a devchain, creates the owner, operator and user accounts, deploys the OutLayer and\n" +
			"registration contracts and the sample caller, starts three nodes on loopback with keys\n" +
			"registered through the registration contract, and has the caller request a Go program\n" +
			"built from a git repository. Then it keeps running until Ctrl-C. Key files for every\n" +
			"account are in HOME/keys; use them with `outlayerd request` and `outlayerd near`.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "home", Usage: "where keys, node data and logs go", Value: "outlayer-testnet"},
			&cli.StringFlag{Name: "rpc-addr", Usage: "devchain JSON-RPC address", Value: "127.0.0.1:3030"},
			&cli.IntFlag{Name: "http-port", Usage: "first node's API port (the others follow)", Value: 8081},
			&cli.DurationFlag{Name: "block-time", Usage: "devchain block interval", Value: 200 * time.Millisecond},
			&cli.IntFlag{Name: "nodes", Usage: "cluster size", Value: 3},
			&cli.StringFlag{Name: "name", Usage: "input for the demo program", Value: "NEAR developer"},
			&cli.BoolFlag{Name: "no-demo", Usage: "skip the demo request"},
			&cli.StringFlag{Name: "go-cache-dir", Usage: "`DIR` of the Go build cache the nodes' builds share (default HOME/gocache; the output of go env GOCACHE reuses a warm one)"},
		},
		Action: runTestnet,
	}
}

func runTestnet(c *cli.Context) error {
	if c.NArg() > 0 {
		return usageError("testnet takes no arguments")
	}
	home, err := filepath.Abs(c.String("home"))
	if err != nil {
		return usageError("--home: %v", err)
	}
	w := c.App.Writer
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Fprintln(w, "starting a devchain, deploying the contracts and three nodes ...")
	tn, err := testnet.Start(ctx, testnet.Config{
		Home: home, Nodes: c.Int("nodes"), BlockTime: c.Duration("block-time"),
		RPCAddr: c.String("rpc-addr"), HTTPBasePort: c.Int("http-port"), GoCacheDir: c.String("go-cache-dir"), Logger: logger,
	})
	if err != nil {
		return cli.Exit(fmt.Sprintf("testnet: %v", err), exitFailure)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = tn.Close(sctx)
	}()
	fmt.Fprintf(w, "\nNEAR RPC:          %s\nOutLayer contract: %s\nsample caller:     %s\nuser account:      %s (key %s)\n",
		tn.Chain.RPCURL(), tn.Contract, tn.Caller, tn.User.AccountID(), filepath.Join(home, "keys", tn.User.AccountID()+".json"))
	for i, n := range tn.Nodes {
		fmt.Fprintf(w, "node %d:            http://%s  (log %s)\n", i, n.HTTPAddr(), tn.LogFiles[i])
	}
	if !c.Bool("no-demo") {
		repo, commit, err := tn.DemoRepo()
		if err != nil {
			return cli.Exit(err.Error(), exitFailure)
		}
		fmt.Fprintln(w, "\npreparing the build cache (compiles Go's standard library for wasip1 once; a minute or two the first time) ...")
		if err := tn.WarmBuildCache(ctx); err != nil {
			return cli.Exit(err.Error(), exitFailure)
		}
		fmt.Fprintf(w, "demo: %s asks %s to run the Go program in %s @ %s\n", tn.Caller, tn.Contract, repo, commit[:12])
		res, err := tn.RunDemo(ctx, c.String("name"))
		if err != nil {
			return cli.Exit(fmt.Sprintf("demo: %v", err), exitFailure)
		}
		fmt.Fprintf(w, "\nrequest %d resolved (tx %s)\n  output:   %s\n  deposit:  %s NEAR\n  cost:     %s NEAR\n  refund:   %s NEAR\n  note:     %s\n",
			res.RequestID, res.TxHash, res.Output, near.FormatNEAR(res.Deposit), near.FormatNEAR(res.Charged), near.FormatNEAR(res.Refunded), res.Note)
		fmt.Fprintf(w, "  details:  curl http://%s/requests/%d\n", tn.Nodes[0].HTTPAddr(), res.RequestID)
	}
	fmt.Fprintf(w, "\ntry: outlayerd request --near-rpc %s --contract %s --account-key %s --wasm-url ... \n",
		tn.Chain.RPCURL(), tn.Contract, filepath.Join(home, "keys", tn.User.AccountID()+".json"))
	fmt.Fprintln(w, "running; press Ctrl-C to stop")
	<-ctx.Done()
	fmt.Fprintln(w, "stopping the testnet")
	return nil
}
