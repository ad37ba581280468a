package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/outlayer/outlayer/contracts"
	"github.com/outlayer/outlayer/contracts/near"
	"github.com/outlayer/outlayer/testnet/fixture"
)

func requestCommand() *cli.Command {
	return &cli.Command{
		Name:  "request",
		Usage: "send an execution request to the OutLayer contract and wait for the result",
		Description: "Give the code as --repo/--commit (a Go program in a git repository) or as --wasm-url with\n" +
			"--wasm-hash. The deposit must cover the estimate for the limits (see /pricing); what is\n" +
			"not used is refunded. Works against the local testnet or any NEAR network.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "near-rpc", Usage: "NEAR JSON-RPC URL", Value: "http://127.0.0.1:3030", EnvVars: []string{"OUTLAYER_NEAR_RPC"}},
			&cli.StringFlag{Name: "contract", Usage: "OutLayer contract account", EnvVars: []string{"OUTLAYER_CONTRACT"}},
			&cli.StringFlag{Name: "account-key", Usage: "key file of the account that pays (near-cli format)", Required: true, EnvVars: []string{"OUTLAYER_ACCOUNT_KEY"}},
			&cli.StringFlag{Name: "repo", Usage: "git repository of a Go main package"},
			&cli.StringFlag{Name: "commit", Usage: "commit sha, branch or tag", Value: "main"},
			&cli.StringFlag{Name: "wasm-url", Usage: "URL of a prebuilt WASI module"},
			&cli.StringFlag{Name: "wasm-hash", Usage: "its sha256 in hex"},
			&cli.StringFlag{Name: "input", Usage: "the program's stdin"},
			&cli.StringFlag{Name: "format", Usage: "response format: Text, Json or Bytes", Value: "Text"},
			&cli.Uint64Flag{Name: "max-instructions", Value: contracts.DefaultMaxInstructions},
			&cli.UintFlag{Name: "max-memory-mb", Value: uint(contracts.DefaultMaxMemoryMB)},
			&cli.Uint64Flag{Name: "max-seconds", Value: 10},
			&cli.StringFlag{Name: "deposit", Usage: "NEAR to attach (default: the contract's estimate for the limits)"},
			&cli.DurationFlag{Name: "timeout", Usage: "how long to wait for the result", Value: 5 * time.Minute},
		},
		Action: runRequest,
	}
}

func runRequest(c *cli.Context) error {
	if c.String("contract") == "" {
		return usageError("--contract is required")
	}
	var code contracts.CodeSource
	switch {
	case c.String("repo") != "" && c.String("wasm-url") != "":
		return usageError("give either --repo or --wasm-url, not both")
	case c.String("repo") != "":
		code.GitHub = &contracts.GitHubSource{Repo: c.String("repo"), Commit: c.String("commit")}
	case c.String("wasm-url") != "":
		if len(c.String("wasm-hash")) != 64 {
			return usageError("--wasm-url needs --wasm-hash, the module's sha256 in hex")
		}
		code.WasmURL = &contracts.WasmURLSource{URL: c.String("wasm-url"), Hash: strings.ToLower(c.String("wasm-hash"))}
	default:
		return usageError("give the code: --repo (and --commit) or --wasm-url and --wasm-hash")
	}
	format := contracts.ResponseFormat(c.String("format"))
	if format != contracts.FormatText && format != contracts.FormatJSON && format != contracts.FormatBytes {
		return usageError("--format must be Text, Json or Bytes")
	}
	limits := contracts.ResourceLimits{MaxInstructions: c.Uint64("max-instructions"), MaxMemoryMB: uint32(c.Uint("max-memory-mb")), MaxExecutionSeconds: c.Uint64("max-seconds")}
	account, key, err := near.LoadKeyFile(c.String("account-key"))
	if err != nil {
		return usageError("--account-key: %v", err)
	}
	ctx, cancel := context.WithTimeout(c.Context, c.Duration("timeout"))
	defer cancel()
	client := near.NewClient(c.String("near-rpc"))
	signer, err := near.NewSigner(client, account, key)
	if err != nil {
		return usageError("%v", err)
	}
	var deposit near.U128
	if d := c.String("deposit"); d != "" {
		if deposit, err = near.ParseNEAR(d); err != nil {
			return usageError("--deposit: %v", err)
		}
	} else if err := client.ViewFunction(ctx, c.String("contract"), contracts.MethodEstimateExecutionCost, contracts.EstimateArgs{ResourceLimits: &limits}, &deposit); err != nil {
		return cli.Exit(fmt.Sprintf("asking the contract for an estimate: %v", err), exitFailure)
	}
	input := c.String("input")
	w := c.App.Writer
	fmt.Fprintf(w, "requesting from %s with %s NEAR attached ...\n", account, near.FormatNEAR(deposit))
	out, err := fixture.SendAndWait(ctx, signer, c.String("contract"), contracts.MethodRequestExecution, contracts.RequestExecutionArgs{
		CodeSource: code, ResourceLimits: &limits, InputData: &input, ResponseFormat: format,
	}, deposit)
	if err != nil {
		return cli.Exit(err.Error(), exitFailure)
	}
	evs, err := contracts.OutLayerEvents(out.Logs())
	if err != nil {
		return cli.Exit(err.Error(), exitFailure)
	}
	raw, _ := out.Result()
	for _, ev := range evs {
		if ev.Event != contracts.EventExecutionCompleted {
			continue
		}
		var done contracts.ExecutionCompleted
		if err := ev.Decode(ev.Event, &done); err != nil {
			return cli.Exit(err.Error(), exitFailure)
		}
		fmt.Fprintf(w, "request %d: success=%v\n  instructions %d, time %d ms", done.RequestID, done.Success, done.ResourcesUsed.Instructions, done.ResourcesUsed.TimeMs)
		if done.ResourcesUsed.CompileTimeMs != nil {
			fmt.Fprintf(w, ", compile %d ms", *done.ResourcesUsed.CompileTimeMs)
		}
		fmt.Fprintf(w, "\n  charged %s NEAR, refunded %s NEAR to %s\n", near.FormatNEAR(done.PaymentCharged), near.FormatNEAR(done.PaymentRefunded), done.PayerAccountID)
		if !done.Success {
			msg := "unknown error"
			if done.ErrorMessage != nil {
				msg = *done.ErrorMessage
			}
			return cli.Exit("the request failed: "+msg, exitFailure)
		}
		fmt.Fprintf(w, "output: %s\n", raw)
		return nil
	}
	return cli.Exit(fmt.Sprintf("the transaction finished without a completion event (result %s)", raw), exitFailure)
}
