// Command outlayerd is the single binary of OutLayer: a node of the execution
// cluster, the local NEAR devchain and testnet, and the tools program authors
// and operators use by hand (exec, build, near, attest, secrets).
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/urfave/cli/v2"
)

// Exit statuses shared by every subcommand.
const (
	exitOK      = 0
	exitFailure = 1 // the work ran and failed (a program trapped, a request failed)
	exitUsage   = 2 // the command line was wrong
)

// main runs a command line. The sandbox children this binary starts (exec's
// runners, exec/build's jail) never get here: internal/reexec serves them
// from their packages' init functions.
func main() {
	os.Exit(run(os.Args))
}

func run(args []string) int {
	return runApp(args, os.Stdin, os.Stdout, os.Stderr)
}

// runApp runs one command line and returns its exit status; errors are
// printed once, here.
func runApp(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	app := newApp()
	app.Reader, app.Writer, app.ErrWriter = stdin, stdout, stderr
	err := app.Run(normalizeArgs(app, args))
	if err == nil {
		return exitOK
	}
	var coder cli.ExitCoder
	if errors.As(err, &coder) {
		if msg := err.Error(); msg != "" {
			fmt.Fprintln(stderr, "outlayerd:", msg)
		}
		return coder.ExitCode()
	}
	fmt.Fprintln(stderr, "outlayerd:", err)
	return exitFailure
}

func newApp() *cli.App {
	app := &cli.App{
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
			projectCommand(),
			paymentKeyCommand(),
			nodeCommand(),
			callCommand(),
		},
		// Errors are printed once, by run, with the right exit status.
		ExitErrHandler: func(*cli.Context, error) {},
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return usageError("%v (see outlayerd --help)", err)
		},
	}
	setUsageErrors(app.Commands, "outlayerd")
	return app
}

// setUsageErrors makes every command answer a bad flag with one line naming
// its help, and exit status 2, instead of urfave/cli's whole help page and
// status 1.
func setUsageErrors(commands []*cli.Command, parent string) {
	for _, c := range commands {
		name := parent + " " + c.Name
		if c.OnUsageError == nil {
			c.OnUsageError = func(_ *cli.Context, err error, _ bool) error {
				return usageError("%v (see %s --help)", err, name)
			}
		}
		setUsageErrors(c.Subcommands, name)
	}
}

// usageError marks a bad command line (exit status 2).
func usageError(format string, a ...any) error {
	return cli.Exit(fmt.Sprintf(format, a...), exitUsage)
}

// nodeURL is the base URL of an outlayerd node as people write it:
// "127.0.0.1:8080" means http://127.0.0.1:8080; no trailing slash.
func nodeURL(s string) string {
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	return strings.TrimRight(s, "/")
}
