package main

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/outlayer/outlayer/exec"
)

func execCommand() *cli.Command {
	return &cli.Command{
		Name:      "exec",
		Usage:     "run a WASM program locally, exactly as a node runs a paid request",
		ArgsUsage: "FILE.wasm",
		Description: `Runs FILE.wasm (a WASI preview 1 command module, e.g. built with
GOOS=wasip1 GOARCH=wasm go build) in the same metered sandbox the cluster uses:
the input on stdin, the output from stdout, NEAR_* context variables and
secrets in the environment, and a clock and random numbers that come from
--timestamp and --seed, so the same command prints the same bytes and the
same instruction count every time.

Prints the output on stdout and the resources used on stderr (with --json, one
JSON object on stdout instead). Exit status: 0 when the program succeeded, 1
when it failed (trap, non-zero exit, a limit hit, output not matching
--format), 2 when the command line is wrong. Flags may come before or after FILE.wasm.

--env NAME=VALUE sets a secret; NEAR_* context variables (NEAR_SENDER_ID,
NEAR_CONTRACT_ID, NEAR_BLOCK_HEIGHT, NEAR_BLOCK_TIMESTAMP, NEAR_REQUEST_ID, ...)
can be set the same way to test how the program reacts to them.

Examples:
  outlayerd exec --input 'hello' echo.wasm
  outlayerd exec --format json --input '{"name":"Ada","numbers":[1,2]}' jsontransform.wasm
  outlayerd exec --env API_KEY=s3cret --env NEAR_SENDER_ID=alice.near --json envinfo.wasm`,
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "input", Usage: "the program's input (stdin)"},
			&cli.StringFlag{Name: "input-file", Usage: "read the input from `PATH` (- for this command's stdin)"},
			&cli.Uint64Flag{Name: "max-instructions", Usage: fmt.Sprintf("instruction limit (default %d, cap %d)", exec.DefaultMaxInstructions, exec.MaxInstructionsCap)},
			&cli.UintFlag{Name: "max-memory-mb", Usage: fmt.Sprintf("memory limit in MiB (default %d, cap %d)", exec.DefaultMaxMemoryMB, exec.MaxMemoryMBCap)},
			&cli.DurationFlag{Name: "timeout", Usage: fmt.Sprintf("wall-time limit (default %s, cap %s)", exec.DefaultTimeout, exec.TimeoutCap)},
			&cli.GenericFlag{Name: "env", Value: &envFlag{}, Usage: "set `NAME=VALUE` in the program's environment (repeatable): a secret, or a NEAR_* context variable"},
			&cli.StringFlag{Name: "format", Value: "text", Usage: "response format: text, json or bytes"},
			&cli.StringFlag{Name: "seed", Usage: "random seed, up to 32 bytes in `HEX` (default all zero; a node derives each request's seed privately from its keystore, so pass any seed to reproduce a run locally)"},
			&cli.StringFlag{Name: "timestamp", Usage: "where the program's clock starts: RFC 3339 or Unix nanoseconds (default NEAR_BLOCK_TIMESTAMP, else 1970-01-01)"},
			&cli.BoolFlag{Name: "json", Usage: `print one JSON object {"success","output","error","resources_used"} instead`},
			&cli.StringFlag{Name: "cache-dir", Usage: "keep compiled machine code here between runs (default: the user cache dir; \"none\" to disable)"},
		}, execHostFlags()...),
		Action: runExec,
	}
}

// envFlag collects repeated --env NAME=VALUE flags. It is a flag.Value so
// that values may contain commas, which a string slice flag would split.
type envFlag struct{ pairs [][2]string }

func (e *envFlag) Set(s string) error {
	name, value, ok := strings.Cut(s, "=")
	if !ok || name == "" {
		return fmt.Errorf("%q is not NAME=VALUE", s)
	}
	e.pairs = append(e.pairs, [2]string{name, value})
	return nil
}

func (e *envFlag) String() string {
	if e == nil {
		return ""
	}
	parts := make([]string, len(e.pairs))
	for i, p := range e.pairs {
		parts[i] = p[0] + "=" + p[1]
	}
	return strings.Join(parts, ",")
}

func runExec(c *cli.Context) error {
	switch {
	case c.NArg() == 0:
		return usageError("exec needs a FILE.wasm to run (see outlayerd exec --help)")
	case c.NArg() > 1:
		return usageError("exec runs one file, got %d arguments: %s", c.NArg(), strings.Join(c.Args().Slice(), " "))
	}
	req, err := execRequest(c)
	if err != nil {
		return err
	}
	path := c.Args().First()
	wasm, err := os.ReadFile(path)
	if err != nil {
		return usageError("reading the program: %v", err)
	}
	req.Wasm = wasm
	host, err := setupHost(c, &req)
	if err != nil {
		return err
	}
	defer host.close()

	// The program runs in a sandbox child process, as on a node: its
	// deadline is a kill, which a Go garbage collection waiting on a
	// compiled loop in this process could not delay (exec/DESIGN.md).
	cfg := exec.Config{Isolate: true, Sandboxes: 1}
	if dir := execCacheDir(c.String("cache-dir")); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err == nil {
			cfg.CacheDir = dir
		}
	}
	runner, err := exec.NewRunner(c.Context, cfg)
	if err != nil {
		return cli.Exit(err.Error(), exitFailure)
	}
	defer runner.Close(c.Context)

	res, runErr := runner.Run(c.Context, req)
	if runErr != nil && !exec.IsProgramFailure(runErr) {
		return cli.Exit(runErr.Error(), exitFailure)
	}
	hostNote, hostErr := host.finish(c, res, runErr)
	if hostErr != nil {
		return cli.Exit(hostErr.Error(), exitFailure)
	}
	if errors.Is(runErr, exec.ErrBadRequest) || errors.Is(runErr, exec.ErrInputTooLarge) {
		return usageError("%v", runErr)
	}

	out, errOut := c.App.Writer, c.App.ErrWriter
	if c.Bool("json") {
		enc := json.NewEncoder(out)
		if err := enc.Encode(res.Response(runErr)); err != nil {
			return cli.Exit(fmt.Sprintf("writing the result: %v", err), exitFailure)
		}
		if runErr != nil {
			return cli.Exit("", exitFailure)
		}
		return nil
	}

	// The program's own stderr first, as if it had run in this terminal.
	if len(res.Stderr) > 0 {
		errOut.Write(res.Stderr)
		if res.StderrTruncated {
			fmt.Fprintf(errOut, "\n[stderr truncated at %d bytes]\n", exec.MaxStderrBytes)
		}
	}
	if runErr == nil {
		out.Write(res.Output)
		if len(res.Output) > 0 && res.Output[len(res.Output)-1] != '\n' {
			// Keep the summary off the output's last line in a terminal.
			fmt.Fprintln(errOut)
		}
	}
	fmt.Fprintln(errOut, resourceSummary(res, runErr))
	if hostNote != "" {
		fmt.Fprintln(errOut, hostNote)
	}
	if runErr != nil {
		return cli.Exit(runErr.Error(), exitFailure)
	}
	return nil
}

// execRequest turns the flags into a Request, refusing bad values with a
// usage error before anything runs.
func execRequest(c *cli.Context) (exec.Request, error) {
	var req exec.Request
	req.Limits = exec.Limits{
		MaxInstructions: c.Uint64("max-instructions"),
		Timeout:         c.Duration("timeout"),
	}
	mb := c.Uint("max-memory-mb")
	if mb > uint(exec.MaxMemoryMBCap) {
		return req, usageError("--max-memory-mb %d is above the cap of %d", mb, exec.MaxMemoryMBCap)
	}
	req.Limits.MaxMemoryMB = uint32(mb)
	for name, zero := range map[string]bool{
		"max-instructions": req.Limits.MaxInstructions == 0,
		"max-memory-mb":    mb == 0,
		"timeout":          req.Limits.Timeout == 0,
	} {
		if zero && c.IsSet(name) {
			return req, usageError("--%s 0 is not a limit; leave the flag out for the default", name)
		}
	}
	if err := req.Limits.Validate(); err != nil {
		return req, usageError("%v", err)
	}

	format, err := exec.ParseFormat(c.String("format"))
	if err != nil {
		return req, usageError("--format: %v", err)
	}
	req.Format = format

	switch {
	case c.IsSet("input") && c.IsSet("input-file"):
		return req, usageError("give --input or --input-file, not both")
	case c.IsSet("input-file"):
		path := c.String("input-file")
		var r io.Reader
		if path == "-" {
			r = c.App.Reader
		} else {
			f, err := os.Open(path)
			if err != nil {
				return req, usageError("--input-file: %v", err)
			}
			defer f.Close()
			r = f
		}
		in, err := io.ReadAll(io.LimitReader(r, exec.MaxInputBytes+1))
		if err != nil {
			return req, usageError("--input-file: %v", err)
		}
		if len(in) > exec.MaxInputBytes {
			return req, usageError("--input-file: the input is larger than the cap of %d bytes", exec.MaxInputBytes)
		}
		req.Input = in
	default:
		req.Input = []byte(c.String("input"))
	}

	if s := c.String("seed"); s != "" {
		b, err := hex.DecodeString(strings.TrimPrefix(s, "0x"))
		if err != nil || len(b) > len(req.Seed) {
			return req, usageError("--seed %q: want up to 32 bytes in hex (64 hex digits)", s)
		}
		copy(req.Seed[:], b)
	}

	if f, ok := c.Generic("env").(*envFlag); ok {
		for _, kv := range f.pairs {
			if err := setEnv(&req, kv[0], kv[1]); err != nil {
				return req, usageError("--env %s=%s: %v", kv[0], kv[1], err)
			}
		}
	}

	if s := c.String("timestamp"); s != "" {
		ts, err := parseTimestamp(s)
		if err != nil {
			return req, usageError("--timestamp: %v", err)
		}
		req.Timestamp = ts
	}
	return req, nil
}

// setEnv routes --env NAME=VALUE: NEAR_* names fill the request's context
// (so a program author can try the values a real request carries), every
// other name is a secret.
func setEnv(req *exec.Request, name, value string) error {
	c := &req.Context
	number := func(dst *uint64) error {
		n, err := strconv.ParseUint(value, 10, 64)
		if err != nil {
			return fmt.Errorf("%s must be a non-negative integer", name)
		}
		*dst = n
		return nil
	}
	switch name {
	case "NEAR_REQUEST_ID":
		return number(&c.RequestID)
	case "NEAR_SENDER_ID":
		c.SenderID = value
	case "NEAR_CONTRACT_ID":
		c.ContractID = value
	case "NEAR_BLOCK_HEIGHT":
		return number(&c.BlockHeight)
	case "NEAR_BLOCK_TIMESTAMP":
		return number(&c.BlockTimestamp)
	case "NEAR_RECEIPT_ID":
		c.ReceiptID = value
	case "NEAR_PREDECESSOR_ID":
		c.PredecessorID = value
	case "NEAR_SIGNER_PUBLIC_KEY":
		c.SignerPublicKey = value
	case "NEAR_GAS_BURNT":
		return number(&c.GasBurnt)
	case "NEAR_USER_ACCOUNT_ID":
		c.UserAccountID = value
	case "NEAR_PAYMENT_YOCTO":
		if value == "" || len(value) > 39 || strings.Trim(value, "0123456789") != "" {
			return fmt.Errorf("%s must be a decimal amount of yoctoNEAR", name)
		}
		c.PaymentYocto = value
	case "NEAR_TRANSACTION_HASH":
		c.TransactionHash = value
	case "NEAR_MAX_INSTRUCTIONS", "NEAR_MAX_MEMORY_MB", "NEAR_MAX_EXECUTION_SECONDS":
		return fmt.Errorf("%s follows the limits: use --max-instructions, --max-memory-mb or --timeout", name)
	default:
		if strings.HasPrefix(strings.ToUpper(name), exec.ReservedEnvPrefix) {
			return fmt.Errorf("%s is not one of the NEAR_* context variables, and names starting with NEAR_ are reserved", name)
		}
		if req.Secrets == nil {
			req.Secrets = map[string]string{}
		}
		req.Secrets[name] = value
	}
	return nil
}

func parseTimestamp(s string) (time.Time, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(0, n).UTC(), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither RFC 3339 (2026-01-02T15:04:05Z) nor Unix nanoseconds", s)
	}
	return t, nil
}

func execCacheDir(flagValue string) string {
	switch flagValue {
	case "none":
		return ""
	case "":
		base, err := os.UserCacheDir()
		if err != nil {
			return ""
		}
		return filepath.Join(base, "outlayer", "wazero")
	}
	return flagValue
}

func resourceSummary(res exec.Result, runErr error) string {
	status := "ok"
	if runErr != nil {
		status = "failed"
	}
	s := fmt.Sprintf("%s: %d instructions, %s", status, res.Instructions, res.Time.Round(time.Microsecond))
	if res.CompileTime > 0 {
		s += fmt.Sprintf(" (compiled in %s)", res.CompileTime.Round(time.Millisecond))
	}
	return s
}
