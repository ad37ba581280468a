package main

import (
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/outlayer/outlayer/testnet/devchain"
)

func devchainCommand() *cli.Command {
	return &cli.Command{
		Name:  "devchain",
		Usage: "run a local single-node NEAR-compatible chain (JSON-RPC, contracts, yield/resume)",
		Description: "Starts a one-process NEAR chain for development and tests. The root account's key is\n" +
			"written to HOME/<root>.json in near-cli's credentials format; point `outlayerd near` or\n" +
			"any NEAR client at the printed RPC URL. near-sandbox's sandbox_fast_forward RPC is\n" +
			"supported, so the 200-block yield timeout can be reached in seconds.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "home", Usage: "directory for the root key (and state with --persist)", Value: "devchain-home"},
			&cli.StringFlag{Name: "rpc-addr", Usage: "JSON-RPC listen address", Value: "127.0.0.1:3030"},
			&cli.DurationFlag{Name: "block-time", Usage: "block interval", Value: time.Second},
			&cli.BoolFlag{Name: "persist", Usage: "save the state in --home on exit and load it on start"},
			&cli.StringFlag{Name: "root-account", Usage: "genesis account id", Value: "test.near"},
			&cli.StringFlag{Name: "chain-id", Usage: "chain id reported by status", Value: "localnet"},
			&cli.Uint64Flag{Name: "yield-timeout", Usage: "yield/resume timeout in blocks", Value: 200},
			&cli.IntFlag{Name: "keep-blocks", Value: devchain.DefaultKeepBlocks,
				Usage: "recent blocks (with chunks) kept queryable; older ones answer UNKNOWN_BLOCK, and status reports the window's start as earliest_block_height"},
			&cli.IntFlag{Name: "keep-transactions", Value: devchain.DefaultKeepTransactions,
				Usage: "finished transactions (with receipts and outcomes) kept queryable, oldest forgotten first; older ones answer UNKNOWN_TRANSACTION"},
		},
		Action: runDevchain,
	}
}

func runDevchain(cctx *cli.Context) error {
	if cctx.NArg() > 0 {
		return usageError("devchain takes no arguments, got %q", cctx.Args().Slice())
	}
	if cctx.Duration("block-time") <= 0 {
		return usageError("--block-time must be positive")
	}
	if cctx.Int("keep-blocks") <= 0 || cctx.Int("keep-transactions") <= 0 {
		return usageError("--keep-blocks and --keep-transactions must be positive, got %d and %d", cctx.Int("keep-blocks"), cctx.Int("keep-transactions"))
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	chain, err := devchain.New(devchain.Config{
		Home: cctx.String("home"), RPCAddr: cctx.String("rpc-addr"), BlockTime: cctx.Duration("block-time"),
		Persist: cctx.Bool("persist"), RootAccount: cctx.String("root-account"), ChainID: cctx.String("chain-id"),
		YieldTimeout: cctx.Uint64("yield-timeout"), Logger: logger,
		KeepBlocks: cctx.Int("keep-blocks"), KeepTransactions: cctx.Int("keep-transactions"),
	})
	if err != nil {
		return cli.Exit(err.Error(), exitFailure)
	}
	ctx, stop := signal.NotifyContext(cctx.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := chain.Start(ctx); err != nil {
		_ = chain.Close()
		return cli.Exit(err.Error(), exitFailure)
	}
	fmt.Fprintf(cctx.App.Writer, "devchain RPC:  %s\nroot account:  %s\nroot key file: %s\n", chain.RPCURL(), chain.RootAccount(), chain.RootKeyFile())
	<-ctx.Done()
	fmt.Fprintln(cctx.App.Writer, "devchain: stopping")
	if err := chain.Close(); err != nil {
		return cli.Exit(fmt.Sprintf("devchain: %v", err), exitFailure)
	}
	return nil
}
