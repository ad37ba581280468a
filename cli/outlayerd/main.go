// Command outlayerd is the single binary of OutLayer: a node of the execution
// cluster, the local NEAR devchain and testnet, and the tools program authors
// and operators use by hand (exec, build, near, attest, secrets).
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/urfave/cli/v2"
)

// Exit statuses shared by every subcommand.
const (
	exitOK      = 0
	exitFailure = 1 // the work ran and failed (a program trapped, a request failed)
	exitUsage   = 2 // the command line was wrong
)

func main() {
	os.Exit(run(os.Args))
}

func run(args []string) int {
	app := newApp()
	err := app.Run(interspersedArgs(app, args))
	if err == nil {
		return exitOK
	}
	var coder cli.ExitCoder
	if errors.As(err, &coder) {
		if msg := err.Error(); msg != "" {
			fmt.Fprintln(os.Stderr, "outlayerd:", msg)
		}
		return coder.ExitCode()
	}
	fmt.Fprintln(os.Stderr, "outlayerd:", err)
	return exitFailure
}

func newApp() *cli.App {
	return &cli.App{
		Name:  "outlayerd",
		Usage: "verifiable off-chain computation for NEAR smart contracts",
		// Each subcommand lives in its own cmd_*.go file; add it to this list.
		Commands: []*cli.Command{
			buildCommand(),
			attestCommand(),
			execCommand(),
			devchainCommand(),
			nearCommand(),
			runCommand(), joinCommand(), statusCommand(), testnetCommand(), requestCommand(),
			secretsCommand(),
		},
		// Errors are printed once, by run, with the right exit status.
		ExitErrHandler: func(*cli.Context, error) {},
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return cli.Exit(err.Error(), exitUsage)
		},
	}
}

// usageError marks a bad command line (exit status 2).
func usageError(format string, a ...any) error {
	return cli.Exit(fmt.Sprintf(format, a...), exitUsage)
}
