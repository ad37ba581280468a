package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/urfave/cli/v2"

	"github.com/outlayer/outlayer/contracts/near"
)

// nearDefaultRPC is the devchain's default address.
const nearDefaultRPC = "http://127.0.0.1:3030"

// nearFlagSpec describes one flag of `near` and `secrets`: the subcommands
// read every flag, their own and their parent's, by name into nearEnv.flags.
type nearFlagSpec struct {
	name, usage, def string
	env              string // environment variable read when the flag is not given
	isBool           bool
}

// nearCommonFlags belong to the `near` and `secrets` commands themselves;
// normalizeArgs lets them be written before or after the subcommand.
var nearCommonFlags = []nearFlagSpec{
	{name: "rpc", usage: "JSON-RPC `URL` of a NEAR node or the devchain", def: nearDefaultRPC, env: "NEAR_RPC_URL"},
	{name: "key-file", usage: "near-cli credentials `FILE` ({account_id, public_key, private_key}) of the signing account"},
	{name: "keys-dir", usage: "credentials `DIR`: keys are looked up as DIR/<account>.json and DIR/<network>/<account>.json (default ~/.near-credentials)"},
	{name: "network", usage: "network `NAME` of the keys dir layout (default: the node's chain_id)"},
	{name: "json", usage: "print the raw JSON result", isBool: true},
	{name: "timeout", usage: "give up after `DURATION`", def: "2m"},
}

// nearSubcommand is a subcommand of `near` or `secrets`: run gets its
// arguments and every flag in a nearEnv, under --timeout.
func nearSubcommand(name, usage, argsUsage string, extra []nearFlagSpec, run func(*nearEnv) error) *cli.Command {
	specs := append(append([]nearFlagSpec(nil), extra...), nearCommonFlags...)
	common := make([]string, len(nearCommonFlags))
	for i, f := range nearCommonFlags {
		common[i] = "--" + f.name
	}
	return &cli.Command{
		Name: name, Usage: usage, ArgsUsage: argsUsage,
		Description: "Also takes the parent command's flags (" + strings.Join(common, ", ") +
			"),\nbefore or after the subcommand; see its --help.",
		Flags: nearFlags(extra),
		Action: func(c *cli.Context) error {
			env, err := newNearEnv(c, specs)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(c.Context, env.timeout)
			defer cancel()
			env.ctx = ctx
			return run(env)
		},
	}
}

func nearCommand() *cli.Command {
	sub := nearSubcommand
	return &cli.Command{
		Name:  "near",
		Usage: "a small near-cli for any NEAR RPC (real networks or the devchain)",
		Flags: nearFlags(nearCommonFlags),
		Description: `Talks JSON-RPC to a NEAR node: --rpc URL (default $NEAR_RPC_URL, else
` + nearDefaultRPC + `, the devchain). Signing commands find the account's key in
--key-file, or in --keys-dir (near-cli layout: ~/.near-credentials/<network>/<account>.json;
a devchain home directory, which holds <account>.json, works too).

Amounts are in NEAR ("1.5"), gas in Tgas. Flags may come before or after the
subcommand and its arguments.

Examples:
  outlayerd near --keys-dir devchain-home create-account alice.test.near --master test.near --balance 10
  outlayerd near deploy alice.test.near counter.wasm --init-method new --init-args '{}'
  outlayerd near call alice.test.near increment '{"by":2}' --account alice.test.near
  outlayerd near view alice.test.near get '{}'
  outlayerd near send test.near alice.test.near 2.5
  outlayerd near state alice.test.near
  outlayerd near keys alice.test.near
  outlayerd near tx 4GXvjMFN6wSxnU9jEVT8HbXP5Yk6yELX9faRSKp6n9fX --sender alice.test.near`,
		Subcommands: []*cli.Command{
			sub("create-account", "create an account with a new full-access key (saved in the keys dir) and a balance",
				"NEW_ACCOUNT", []nearFlagSpec{
					{name: "master", usage: "`ACCOUNT` that pays for and creates the new account (its parent on real NEAR)"},
					{name: "balance", usage: "initial balance in `NEAR`", def: "1"},
					{name: "public-key", usage: "use this `KEY` (ed25519:...) instead of generating one"},
				}, nearCreateAccount),
			sub("deploy", "deploy a contract to an account (signed by that account)", "ACCOUNT FILE.wasm", []nearFlagSpec{
				{name: "init-method", usage: "call `METHOD` in the same transaction (e.g. new)"},
				{name: "init-args", usage: "`JSON` arguments of the init method", def: "{}"},
				{name: "gas", usage: "gas for the init call in `TGAS`", def: "30"},
			}, nearDeploy),
			sub("call", "call a contract method in a transaction; prints the return value and the logs", "CONTRACT METHOD [JSON]", []nearFlagSpec{
				{name: "account", usage: "signing `ACCOUNT`"},
				{name: "deposit", usage: "attached deposit in `NEAR`", def: "0"},
				{name: "gas", usage: "prepaid gas in `TGAS`", def: "30"},
			}, nearCall),
			sub("send", "transfer NEAR from one account to another", "SENDER RECEIVER NEAR", nil, nearSend),
			sub("view", "call a view method (no transaction, no key)", "CONTRACT METHOD [JSON]", nil, nearView),
			sub("state", "show an account's balance, storage and code hash", "ACCOUNT", nil, nearState),
			sub("keys", "list an account's access keys", "ACCOUNT", nil, nearKeys),
			sub("tx", "show a transaction's status, logs and return value", "HASH", []nearFlagSpec{
				{name: "sender", usage: "the transaction's signer `ACCOUNT` (real nodes need it)"},
			}, nearTx),
		},
	}
}

func nearFlags(specs []nearFlagSpec) []cli.Flag {
	out := make([]cli.Flag, 0, len(specs))
	for _, s := range specs {
		var env []string
		if s.env != "" {
			env = []string{s.env}
		}
		if s.isBool {
			out = append(out, &cli.BoolFlag{Name: s.name, Usage: s.usage, EnvVars: env})
		} else {
			out = append(out, &cli.StringFlag{Name: s.name, Usage: s.usage, Value: s.def, EnvVars: env})
		}
	}
	return out
}

// nearEnv is what a subcommand runs with.
type nearEnv struct {
	ctx     context.Context
	group   string // the parent command: near, secrets, project, payment-key
	cmd     string
	args    []string
	flags   map[string]string // every flag by name; "true" or "" for booleans
	client  *near.Client
	timeout time.Duration
	out     io.Writer
	errOut  io.Writer
}

// newNearEnv reads the subcommand's arguments and the flags in specs (its
// own and its parent's, which urfave/cli finds through the context's lineage).
func newNearEnv(c *cli.Context, specs []nearFlagSpec) (*nearEnv, error) {
	name := c.Command.Name
	group := "near"
	if l := c.Lineage(); len(l) > 1 && l[1].Command != nil && l[1].Command.Name != "" {
		group = l[1].Command.Name
	}
	env := &nearEnv{group: group, cmd: name, args: c.Args().Slice(), flags: map[string]string{}, out: c.App.Writer, errOut: c.App.ErrWriter}
	if env.out == nil {
		env.out = os.Stdout
	}
	if env.errOut == nil {
		env.errOut = os.Stderr
	}
	for _, s := range specs {
		switch {
		case !s.isBool:
			env.flags[s.name] = c.String(s.name)
		case c.Bool(s.name):
			env.flags[s.name] = "true"
		}
	}
	timeout, err := time.ParseDuration(env.flags["timeout"])
	if err != nil || timeout <= 0 {
		return nil, usageError("%s: --timeout %q is not a positive duration", env.what(), env.flags["timeout"])
	}
	env.timeout = timeout
	rpc := env.flags["rpc"]
	if rpc == "" {
		rpc = nearDefaultRPC
	}
	if !strings.Contains(rpc, "://") {
		rpc = "http://" + rpc
	}
	env.client = near.NewClient(rpc)
	return env, nil
}

// what names the command in messages: "near call", "project create".
func (e *nearEnv) what() string {
	return e.group + " " + e.cmd
}

// need checks the number of positional arguments.
func (e *nearEnv) need(min, max int, usage string) error {
	if len(e.args) < min || len(e.args) > max {
		return usageError("usage: outlayerd %s %s (got %d arguments: %s)", e.what(), usage, len(e.args), strings.Join(e.args, " "))
	}
	return nil
}

func (e *nearEnv) validAccount(what, id string) error {
	if err := near.ValidateAccountID(id); err != nil {
		return usageError("%s: %s: %v", e.what(), what, err)
	}
	return nil
}

// fail is the command's failure (exit status 1), prefixed with its name.
func (e *nearEnv) fail(format string, a ...any) error {
	return cli.Exit(e.what()+": "+fmt.Sprintf(format, a...), exitFailure)
}

// accountFlag is the account in --name, required and checked; role says
// what it is for in the error.
func (e *nearEnv) accountFlag(name, role string) (string, error) {
	a := e.flags[name]
	if a == "" {
		return "", usageError("%s: --%s ACCOUNT (%s) is required", e.what(), name, role)
	}
	if err := e.validAccount("--"+name, a); err != nil {
		return "", err
	}
	return a, nil
}

// contract is --contract (or $OUTLAYER_CONTRACT), the OutLayer contract.
func (e *nearEnv) contract() (string, error) {
	return e.accountFlag("contract", "the OutLayer contract, or set $OUTLAYER_CONTRACT")
}

// account is --account, the account that signs.
func (e *nearEnv) account() (string, error) {
	return e.accountFlag("account", "the account that signs")
}

// contractSigner is the preamble of every command that signs a transaction
// to the OutLayer contract: min to max positional arguments (usage shows
// them), --contract, --account and the account's signer.
func (e *nearEnv) contractSigner(min, max int, usage string) (string, *near.Signer, error) {
	if err := e.need(min, max, usage); err != nil {
		return "", nil, err
	}
	contract, err := e.contract()
	if err != nil {
		return "", nil, err
	}
	a, err := e.account()
	if err != nil {
		return "", nil, err
	}
	s, err := e.signer(a)
	return contract, s, err
}

func (e *nearEnv) keysDir() string {
	if d := e.flags["keys-dir"]; d != "" {
		return d
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".near-credentials")
	}
	return ".near-credentials"
}

func (e *nearEnv) network() (string, error) {
	if n := e.flags["network"]; n != "" {
		return n, nil
	}
	st, err := e.client.Status(e.ctx)
	if err != nil {
		return "", fmt.Errorf("asking the node for its chain id (or pass --network): %w", err)
	}
	return st.ChainID, nil
}

// signer loads the key for account and returns a Signer.
func (e *nearEnv) signer(account string) (*near.Signer, error) {
	kp, err := e.keyPair(account)
	if err != nil {
		return nil, err
	}
	s, err := near.NewSigner(e.client, account, kp)
	if err != nil {
		return nil, e.fail("%v", err)
	}
	return s, nil
}

// keyPair finds account's key: --key-file, or in --keys-dir as
// DIR/<account>.json or the near-cli layout DIR/<network>/<account>.json.
func (e *nearEnv) keyPair(account string) (*near.KeyPair, error) {
	var candidates []string
	if f := e.flags["key-file"]; f != "" {
		candidates = []string{f}
	} else {
		dir := e.keysDir()
		candidates = append(candidates, filepath.Join(dir, account+".json"))
		if net, err := e.network(); err == nil {
			candidates = append(candidates, near.CredentialsPath(dir, net, account))
		}
	}
	var lastErr error
	for _, path := range candidates {
		if _, err := os.Stat(path); err != nil {
			lastErr = err
			continue
		}
		acct, kp, err := near.LoadKeyFile(path)
		if err != nil {
			return nil, e.fail("%v", err)
		}
		if acct != "" && acct != account {
			return nil, e.fail("key file %s is for %s, not %s", path, acct, account)
		}
		return kp, nil
	}
	return nil, e.fail("no key for %s (looked in %s: %v); pass --key-file or --keys-dir", account, strings.Join(candidates, ", "), lastErr)
}

func (e *nearEnv) nearAmount(flagName string) (near.U128, error) {
	v, err := near.ParseNEAR(e.flags[flagName])
	if err != nil {
		return near.U128{}, usageError("%s: --%s: %v", e.what(), flagName, err)
	}
	return v, nil
}

func (e *nearEnv) tgas(flagName string) (uint64, error) {
	v, err := strconv.ParseFloat(e.flags[flagName], 64)
	if err != nil || v <= 0 || v > 1000 {
		return 0, usageError("%s: --%s %q must be a number of Tgas in (0, 1000]", e.what(), flagName, e.flags[flagName])
	}
	return uint64(v * near.TGas), nil
}

func (e *nearEnv) printJSON(v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return e.fail("encoding JSON: %v", err)
	}
	fmt.Fprintln(e.out, string(b))
	return nil
}

// report prints an outcome: receipts' logs, failures and the return value.
// It returns a failure error when the transaction failed.
func (e *nearEnv) report(out *near.FinalExecutionOutcome, err error) error {
	if out == nil {
		if err != nil {
			return e.fail("%v", nearErrorText(err))
		}
		return e.fail("no outcome")
	}
	if e.flags["json"] != "" {
		if perr := e.printJSON(out); perr != nil {
			return perr
		}
		if err != nil {
			return cli.Exit("", exitFailure)
		}
		return nil
	}
	if h, ok := out.TxHash(); ok {
		fmt.Fprintf(e.errOut, "Transaction %s (%s)\n", h, out.FinalExecutionStatus)
	}
	for _, r := range out.ReceiptsOutcome {
		for _, l := range r.Outcome.Logs {
			fmt.Fprintf(e.errOut, "Log [%s]: %s\n", r.Outcome.ExecutorID, l)
		}
	}
	for _, f := range out.ReceiptFailures() {
		if err != nil {
			break // the transaction's own failure is reported below
		}
		fmt.Fprintf(e.errOut, "Receipt %s on %s failed: %v\n", f.ReceiptID, f.ExecutorID, f.Err)
	}
	if err != nil {
		return e.fail("%v", nearErrorText(err))
	}
	if v, rerr := out.Result(); rerr == nil && len(v) > 0 {
		fmt.Fprintln(e.out, nearFormatValue(v))
	} else if rerr != nil {
		return e.fail("%v", rerr)
	}
	return nil
}

// nearErrorText is the message to show; NEAR's own text for contract errors.
func nearErrorText(err error) string {
	var se *near.SendError
	if errors.Is(err, near.ErrTimeout) && errors.As(err, &se) {
		return fmt.Sprintf("%v (the transaction may still execute: outlayerd near tx %s --sender ...)", err, se.TxHash)
	}
	return err.Error()
}

// nearFormatValue shows JSON and text as they are and other bytes as base64.
func nearFormatValue(v []byte) string {
	if json.Valid(v) || utf8.Valid(v) && !strings.ContainsFunc(string(v), func(r rune) bool { return r < 0x20 && r != '\n' && r != '\t' }) {
		return string(v)
	}
	return "base64:" + base64.StdEncoding.EncodeToString(v)
}

func nearCreateAccount(e *nearEnv) error {
	if err := e.need(1, 1, "NEW_ACCOUNT --master ACCOUNT [--balance NEAR]"); err != nil {
		return err
	}
	newID, master := e.args[0], e.flags["master"]
	if master == "" {
		return usageError("near create-account: --master ACCOUNT is required (the account that pays)")
	}
	if err := e.validAccount("new account", newID); err != nil {
		return err
	}
	if err := e.validAccount("--master", master); err != nil {
		return err
	}
	balance, err := e.nearAmount("balance")
	if err != nil {
		return err
	}
	var newKey *near.KeyPair
	var pk near.PublicKey
	if s := e.flags["public-key"]; s != "" {
		if pk, err = near.ParsePublicKey(s); err != nil {
			return usageError("near create-account: --public-key: %v", err)
		}
	} else {
		if newKey, err = near.GenerateKeyPair(nil); err != nil {
			return e.fail("%v", err)
		}
		pk = newKey.PublicKey()
	}
	s, err := e.signer(master)
	if err != nil {
		return err
	}
	// Save the key first: an account whose key was lost cannot be used.
	var keyPath string
	if newKey != nil {
		net, err := e.network()
		if err != nil {
			return e.fail("%v", err)
		}
		keyPath = near.CredentialsPath(e.keysDir(), net, newID)
		if _, err := os.Stat(keyPath); err == nil {
			return e.fail("%s already exists; refusing to overwrite a key (use --public-key to reuse a key)", keyPath)
		}
		if err := near.SaveKeyFile(keyPath, newID, newKey); err != nil {
			return e.fail("%v", err)
		}
	}
	out, err := s.CreateAccount(e.ctx, newID, pk, balance)
	if rerr := e.report(out, err); rerr != nil {
		if keyPath != "" {
			// The account does not exist, so its key file would only mislead.
			_ = os.Remove(keyPath)
		}
		return rerr
	}
	fmt.Fprintf(e.errOut, "Created %s with %s NEAR and key %s\n", newID, near.FormatNEAR(balance), pk)
	if keyPath != "" {
		fmt.Fprintf(e.errOut, "Key saved to %s\n", keyPath)
	}
	return nil
}

func nearDeploy(e *nearEnv) error {
	if err := e.need(2, 2, "ACCOUNT FILE.wasm [--init-method M --init-args JSON]"); err != nil {
		return err
	}
	account, path := e.args[0], e.args[1]
	if err := e.validAccount("account", account); err != nil {
		return err
	}
	code, err := os.ReadFile(path)
	if err != nil {
		return usageError("near deploy: %v", err)
	}
	if len(code) < 8 || string(code[:4]) != "\x00asm" {
		return usageError("near deploy: %s is not a WebAssembly module", path)
	}
	initArgs := e.flags["init-args"]
	if e.flags["init-method"] != "" && !json.Valid([]byte(initArgs)) {
		return usageError("near deploy: --init-args is not valid JSON: %s", initArgs)
	}
	gas, err := e.tgas("gas")
	if err != nil {
		return err
	}
	s, err := e.signer(account)
	if err != nil {
		return err
	}
	out, err := s.DeployContract(e.ctx, code, e.flags["init-method"], json.RawMessage(initArgs), gas)
	if err := e.report(out, err); err != nil {
		return err
	}
	fmt.Fprintf(e.errOut, "Deployed %s (%d bytes, code hash %s) to %s\n", filepath.Base(path), len(code), near.HashBytes(code), account)
	return nil
}

func nearArgsJSON(e *nearEnv, i int) ([]byte, error) {
	if len(e.args) <= i {
		return []byte("{}"), nil
	}
	if !json.Valid([]byte(e.args[i])) {
		return nil, usageError("%s: arguments are not valid JSON: %s", e.what(), e.args[i])
	}
	return []byte(e.args[i]), nil
}

func nearCall(e *nearEnv) error {
	if err := e.need(2, 3, "CONTRACT METHOD [JSON] --account A [--deposit NEAR] [--gas TGAS]"); err != nil {
		return err
	}
	contract, method := e.args[0], e.args[1]
	if err := e.validAccount("contract", contract); err != nil {
		return err
	}
	args, err := nearArgsJSON(e, 2)
	if err != nil {
		return err
	}
	account, err := e.account()
	if err != nil {
		return err
	}
	deposit, err := e.nearAmount("deposit")
	if err != nil {
		return err
	}
	gas, err := e.tgas("gas")
	if err != nil {
		return err
	}
	s, err := e.signer(account)
	if err != nil {
		return err
	}
	out, err := s.CallFunction(e.ctx, contract, method, args, gas, deposit)
	return e.report(out, err)
}

func nearSend(e *nearEnv) error {
	if err := e.need(3, 3, "SENDER RECEIVER NEAR"); err != nil {
		return err
	}
	if err := e.validAccount("sender", e.args[0]); err != nil {
		return err
	}
	if err := e.validAccount("receiver", e.args[1]); err != nil {
		return err
	}
	amount, err := near.ParseNEAR(e.args[2])
	if err != nil {
		return usageError("near send: amount: %v", err)
	}
	s, err := e.signer(e.args[0])
	if err != nil {
		return err
	}
	out, err := s.Transfer(e.ctx, e.args[1], amount)
	if err := e.report(out, err); err != nil {
		return err
	}
	fmt.Fprintf(e.errOut, "Sent %s NEAR from %s to %s\n", near.FormatNEAR(amount), e.args[0], e.args[1])
	return nil
}

func nearView(e *nearEnv) error {
	if err := e.need(2, 3, "CONTRACT METHOD [JSON]"); err != nil {
		return err
	}
	if err := e.validAccount("contract", e.args[0]); err != nil {
		return err
	}
	args, err := nearArgsJSON(e, 2)
	if err != nil {
		return err
	}
	r, err := e.client.CallFunction(e.ctx, e.args[0], e.args[1], args, near.Final())
	if err != nil {
		return e.fail("%v", err)
	}
	if e.flags["json"] != "" {
		return e.printJSON(r)
	}
	for _, l := range r.Logs {
		fmt.Fprintf(e.errOut, "Log [%s]: %s\n", e.args[0], l)
	}
	fmt.Fprintln(e.out, nearFormatValue(r.Result))
	return nil
}

func nearState(e *nearEnv) error {
	if err := e.need(1, 1, "ACCOUNT"); err != nil {
		return err
	}
	if err := e.validAccount("account", e.args[0]); err != nil {
		return err
	}
	a, err := e.client.ViewAccount(e.ctx, e.args[0], near.Final())
	if err != nil {
		return e.fail("%v", err)
	}
	if e.flags["json"] != "" {
		return e.printJSON(a)
	}
	code := "none"
	if !a.CodeHash.IsZero() {
		code = a.CodeHash.String()
	}
	fmt.Fprintf(e.out, "Account:       %s\nBalance:       %s NEAR (%s yocto)\nLocked:        %s NEAR\nStorage:       %d bytes\nContract code: %s\nAt block:      %d %s\n",
		e.args[0], near.FormatNEAR(a.Amount), a.Amount, near.FormatNEAR(a.Locked), a.StorageUsage, code, a.BlockHeight, a.BlockHash)
	return nil
}

func nearKeys(e *nearEnv) error {
	if err := e.need(1, 1, "ACCOUNT"); err != nil {
		return err
	}
	if err := e.validAccount("account", e.args[0]); err != nil {
		return err
	}
	l, err := e.client.ViewAccessKeyList(e.ctx, e.args[0], near.Final())
	if err != nil {
		return e.fail("%v", err)
	}
	if e.flags["json"] != "" {
		return e.printJSON(l)
	}
	sort.Slice(l.Keys, func(i, j int) bool { return l.Keys[i].PublicKey.String() < l.Keys[j].PublicKey.String() })
	for _, k := range l.Keys {
		perm := "full access"
		if fc := k.AccessKey.Permission.FunctionCall; fc != nil {
			allowance := "unlimited"
			if fc.Allowance != nil {
				allowance = near.FormatNEAR(*fc.Allowance) + " NEAR"
			}
			methods := "any method"
			if len(fc.MethodNames) > 0 {
				methods = strings.Join(fc.MethodNames, ",")
			}
			perm = fmt.Sprintf("function call on %s (%s), allowance %s", fc.ReceiverID, methods, allowance)
		}
		fmt.Fprintf(e.out, "%s  nonce %d  %s\n", k.PublicKey, k.AccessKey.Nonce, perm)
	}
	return nil
}

func nearTx(e *nearEnv) error {
	if err := e.need(1, 1, "HASH [--sender ACCOUNT]"); err != nil {
		return err
	}
	h, err := near.ParseCryptoHash(e.args[0])
	if err != nil {
		return usageError("near tx: %v", err)
	}
	out, err := e.client.TxStatus(e.ctx, h, e.flags["sender"], near.TxExecutedOptimistic)
	if errors.Is(err, near.ErrTimeout) {
		// Still running (e.g. waiting on a yield): show what is known so far.
		out, err = e.client.TxStatus(e.ctx, h, e.flags["sender"], near.TxNone)
	}
	if err != nil {
		return e.fail("%v", err)
	}
	if e.flags["json"] == "" && out.Status != nil {
		fmt.Fprintf(e.out, "Status: %s\n", nearStatusText(out.Status))
	}
	return e.report(out, out.Err())
}

func nearStatusText(s *near.ExecutionStatus) string {
	switch s.Kind {
	case near.StatusFailure:
		return "failed: " + s.Failure.Error()
	case near.StatusSuccessValue:
		return "succeeded"
	}
	return s.Kind
}
