package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/outlayer/outlayer/contracts/near"
	"github.com/outlayer/outlayer/daemon"
)

// callCommand is `outlayerd call`: the HTTPS integration mode, a program
// run through any node's POST /call/{owner}/{project}, paid with a payment
// key.
func callCommand() *cli.Command {
	return &cli.Command{
		Name:      "call",
		Usage:     "run a project's program over HTTPS, paid with a payment key",
		ArgsUsage: "OWNER/PROJECT",
		Description: "Sends POST /call/OWNER/PROJECT to a node with the payment key in X-Payment-Key and prints\n" +
			"the program's JSON output. The key's budget for the call is --compute-limit (payment-token\n" +
			"units, default 10000 = $0.01); only what the run costs is charged. With --async the call\n" +
			"id is printed at once; --result CALL_ID fetches a call's result later. --secrets-owner\n" +
			"names whose secrets stored for the project the program gets (secrets_ref): the key's\n" +
			"owner must satisfy their access condition, or the call is refused and costs nothing.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "node", Usage: "HTTP API of any node (URL or host:port)", Value: "127.0.0.1:8080", EnvVars: []string{"OUTLAYER_NODE"}},
			&cli.StringFlag{Name: "payment-key", Usage: "the key: OWNER:NONCE:SECRET (64 hex characters)", EnvVars: []string{"OUTLAYER_PAYMENT_KEY"}},
			&cli.StringFlag{Name: "input", Usage: "the program's input, as JSON (text needs quotes: '\"hello\"')"},
			&cli.StringFlag{Name: "version", Usage: "a project version key (default: the active version)"},
			&cli.StringFlag{Name: "secrets-owner", Usage: "give the program the project's secrets stored by `ACCOUNT` (secrets_ref.account_id)"},
			&cli.StringFlag{Name: "secrets-profile", Usage: "the secrets `PROFILE` (with --secrets-owner)", Value: "default"},
			&cli.Uint64Flag{Name: "compute-limit", Usage: "budget for the call in payment-token units (default: the node's, 10000)"},
			&cli.Uint64Flag{Name: "deposit", Usage: "payment to the project's owner, in payment-token units (X-Attached-Deposit)"},
			&cli.Uint64Flag{Name: "max-instructions", Usage: "instruction limit (default 10000000000)"},
			&cli.UintFlag{Name: "max-memory-mb", Usage: "memory limit (default 128)"},
			&cli.Uint64Flag{Name: "max-seconds", Usage: "time limit (default 60, at most 180)"},
			&cli.BoolFlag{Name: "async", Usage: "print the call id at once instead of waiting for the result"},
			&cli.StringFlag{Name: "result", Usage: "fetch the result of an earlier call by its `CALL_ID` instead of calling"},
			&cli.DurationFlag{Name: "timeout", Usage: "how long to wait for the answer", Value: 6 * time.Minute},
		},
		Action: runCall,
	}
}

func runCall(c *cli.Context) error {
	key := c.String("payment-key")
	if key == "" {
		return usageError("--payment-key is required: OWNER:NONCE:SECRET (or set OUTLAYER_PAYMENT_KEY)")
	}
	if parts := strings.SplitN(key, ":", 3); len(parts) != 3 || len(parts[2]) != 64 {
		return usageError("--payment-key must be OWNER:NONCE:SECRET with a 64-hex-character secret")
	}
	base := nodeURL(c.String("node"))
	ctx, cancel := context.WithTimeout(c.Context, c.Duration("timeout"))
	defer cancel()
	headers := map[string]string{"X-Payment-Key": key}

	if id := c.String("result"); id != "" {
		if c.Args().Len() > 0 {
			return usageError("give either OWNER/PROJECT or --result CALL_ID, not both")
		}
		resp, err := callHTTP(ctx, http.MethodGet, base+"/calls/"+id, headers, nil)
		if err != nil {
			return err
		}
		return printCall(c.App.Writer, resp)
	}

	if c.Args().Len() != 1 {
		return usageError("give the project as one argument, OWNER/PROJECT (e.g. alice.near/app)")
	}
	project := c.Args().First()
	if i := strings.IndexByte(project, '/'); i <= 0 || i == len(project)-1 || strings.Count(project, "/") != 1 {
		return usageError("the project %q is not OWNER/PROJECT (e.g. alice.near/app)", project)
	}
	if !c.IsSet("input") {
		return usageError("--input is required: the program's input as JSON, e.g. --input '{\"n\":1}'")
	}
	if !json.Valid([]byte(c.String("input"))) {
		return usageError("--input is not JSON; to send text, quote it: --input '\"%s\"'", c.String("input"))
	}
	body := map[string]any{"input": json.RawMessage(c.String("input")), "async": c.Bool("async")}
	if v := c.String("version"); v != "" {
		body["version_key"] = v
	}
	if owner := c.String("secrets-owner"); owner != "" {
		if err := near.ValidateAccountID(owner); err != nil {
			return usageError("--secrets-owner: %v", err)
		}
		body["secrets_ref"] = map[string]string{"profile": c.String("secrets-profile"), "account_id": owner}
	} else if c.IsSet("secrets-profile") {
		return usageError("--secrets-profile goes with --secrets-owner, the account that stored the secrets")
	}
	limits := map[string]uint64{}
	for flag, field := range map[string]string{"max-instructions": "max_instructions", "max-memory-mb": "max_memory_mb", "max-seconds": "max_execution_seconds"} {
		if c.IsSet(flag) {
			v := c.Uint64(flag)
			if flag == "max-memory-mb" {
				v = uint64(c.Uint(flag))
			}
			limits[field] = v
		}
	}
	if len(limits) > 0 {
		body["resource_limits"] = limits
	}
	if c.IsSet("compute-limit") {
		headers["X-Compute-Limit"] = strconv.FormatUint(c.Uint64("compute-limit"), 10)
	}
	if c.IsSet("deposit") {
		headers["X-Attached-Deposit"] = strconv.FormatUint(c.Uint64("deposit"), 10)
	}
	resp, err := callHTTP(ctx, http.MethodPost, base+"/call/"+project, headers, body)
	if err != nil {
		return err
	}
	return printCall(c.App.Writer, resp)
}

// callHTTP sends one request to the node and decodes a call answer; a
// refusal becomes an error with the node's status and message.
func callHTTP(ctx context.Context, method, url string, headers map[string]string, body any) (*daemon.CallResponse, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return nil, usageError("--node: %v", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("asking the node: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("reading the node's answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(raw, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(raw))
		}
		return nil, fmt.Errorf("the node refused (%s): %s", resp.Status, e.Error)
	}
	var out daemon.CallResponse
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("the node's answer is not a call: %w", err)
	}
	return &out, nil
}

// printCall prints the output (or error) first, then the accounting.
func printCall(w io.Writer, r *daemon.CallResponse) error {
	if w == nil {
		w = os.Stdout
	}
	switch r.Status {
	case "pending":
		fmt.Fprintf(w, "call %s is running; fetch its result with: outlayerd call --result %s\n", r.CallID, r.CallID)
		return nil
	case "completed":
		var out bytes.Buffer
		if err := json.Indent(&out, r.Output, "", "  "); err != nil {
			out.Reset()
			out.Write(r.Output)
		}
		fmt.Fprintln(w, out.String())
	default:
		fmt.Fprintf(w, "the program failed: %s\n", r.Error)
	}
	fmt.Fprintf(w, "\n  call %s: %s, cost %s", r.CallID, r.Status, r.ComputeCost)
	if r.Instructions != nil && r.TimeMs != nil {
		fmt.Fprintf(w, " (%d instructions, %d ms)", *r.Instructions, *r.TimeMs)
	}
	fmt.Fprintln(w)
	if r.Status != "completed" {
		return cli.Exit("", exitFailure)
	}
	return nil
}
