package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/outlayer/outlayer/contracts"
	"github.com/outlayer/outlayer/contracts/near"
	"github.com/outlayer/outlayer/daemon"
)

func paymentKeyCommand() *cli.Command {
	sub := nearSubcommand
	owner := []nearFlagSpec{{name: "account", usage: "the key's owner `ACCOUNT` (signs the transaction)"}, secretsContractFlag}
	return &cli.Command{
		Name:  "payment-key",
		Usage: "create, top up, inspect and delete payment keys for HTTPS calls",
		Flags: nearFlags(nearCommonFlags),
		Description: `A payment key (OWNER:NONCE:SECRET) pays for outlayerd call. create makes the secret
on this machine and registers only its SHA-256 on the contract; top-up sends the contract's
payment token (a NEP-141 ft_transfer_call) to the key; balance shows what the chain and,
with --node, the cluster know; delete removes it and returns its storage deposit (an
unspent balance is not returned).

  outlayerd payment-key create --account alice.near --contract outlayer.near --projects alice.near/app
  outlayerd payment-key top-up 1 5000000 --account alice.near --contract outlayer.near
  outlayerd payment-key balance alice.near:1 --contract outlayer.near --node 127.0.0.1:8080
  outlayerd payment-key delete 1 --account alice.near --contract outlayer.near`,
		Subcommands: []*cli.Command{
			sub("create", "make a key; prints OWNER:NONCE:SECRET once (the chain keeps only its hash)", "",
				append([]nearFlagSpec{
					{name: "nonce", usage: "the key's `NONCE` (default: the next unused one)"},
					{name: "projects", usage: "comma-separated `OWNER/NAME` list the key may call (default: every project)"},
					{name: "max-per-call", usage: "most a call may reserve, in payment-token `UNITS` (default: no limit)"},
					projectDepositFlag,
				}, owner...), paymentKeyCreate),
			sub("top-up", "send AMOUNT payment-token units to the key NONCE (of --owner, default --account)", "NONCE AMOUNT",
				append([]nearFlagSpec{
					{name: "owner", usage: "the key's owner `ACCOUNT`, when topping up someone else's key"},
					{name: "token", usage: "the payment token `ACCOUNT` (default: the contract's)"},
				}, owner...), paymentKeyTopUp),
			sub("balance", "show a key's total top-ups on chain and, with --node, what the cluster has spent", "OWNER:NONCE",
				[]nearFlagSpec{secretsContractFlag, {name: "node", usage: "HTTP `URL` of any outlayerd node", env: "OUTLAYER_NODE"}}, paymentKeyBalance),
			sub("delete", "delete the key NONCE and get its storage deposit back", "NONCE", owner, paymentKeyDelete),
		},
	}
}

func parseNonce(e *nearEnv, s string) (uint32, error) {
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n == 0 || n > uint64(contracts.MaxPaymentKeyNonce) {
		return 0, usageError("%s: nonce %q must be an integer from 1 to %d", e.what(), s, contracts.MaxPaymentKeyNonce)
	}
	return uint32(n), nil
}

func paymentKeyCreate(e *nearEnv) error {
	contract, s, err := e.contractSigner(0, 0, "--account OWNER --contract C [--projects P,...] [--max-per-call UNITS] [--nonce N]")
	if err != nil {
		return err
	}
	var args contracts.CreatePaymentKeyArgs
	if v := e.flags["nonce"]; v != "" {
		n, err := parseNonce(e, v)
		if err != nil {
			return err
		}
		args.Nonce = &n
	}
	if v := e.flags["projects"]; v != "" {
		for _, p := range strings.Split(v, ",") {
			p = strings.TrimSpace(p)
			if o, n, ok := strings.Cut(p, "/"); !ok || o == "" || n == "" {
				return usageError("payment-key create: --projects: %q is not OWNER/NAME", p)
			}
			args.ProjectIDs = append(args.ProjectIDs, p)
		}
		if len(args.ProjectIDs) > contracts.MaxPaymentKeyProjects {
			return usageError("payment-key create: --projects: at most %d projects", contracts.MaxPaymentKeyProjects)
		}
	}
	if v := e.flags["max-per-call"]; v != "" {
		m, err := near.ParseU128(v)
		if err != nil {
			return usageError("payment-key create: --max-per-call %q is not a whole number of payment-token units", v)
		}
		args.MaxPerCall = &m
	}
	deposit, err := e.nearAmount("deposit")
	if err != nil {
		return err
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return e.fail("making the secret: %v", err)
	}
	secret := hex.EncodeToString(raw)
	args.KeyHash = contracts.PaymentKeyHash(secret)
	out, err := s.CallFunction(e.ctx, contract, contracts.MethodCreatePaymentKey, args, 100*near.TGas, deposit)
	if err != nil {
		return e.report(out, err)
	}
	var nonce uint32
	if err := out.DecodeResult(&nonce); err != nil {
		return e.fail("the contract's answer: %v", err)
	}
	key := contracts.PaymentKey{Owner: s.AccountID(), Nonce: nonce, Secret: secret}
	fmt.Fprintf(e.errOut, "Created payment key %s:%d (hash %s). Keep the key below: it is shown only now.\n"+
		"Top it up with: outlayerd payment-key top-up %d AMOUNT --account %s --contract %s\n",
		key.Owner, nonce, args.KeyHash, nonce, key.Owner, contract)
	fmt.Fprintln(e.out, key.String())
	return nil
}

func paymentKeyTopUp(e *nearEnv) error {
	contract, s, err := e.contractSigner(2, 2, "NONCE AMOUNT --account SENDER --contract C [--owner OWNER] [--token T]")
	if err != nil {
		return err
	}
	nonce, err := parseNonce(e, e.args[0])
	if err != nil {
		return err
	}
	amount, err := near.ParseU128(e.args[1])
	if err != nil || amount.Cmp(contracts.MinTopUpAmount) < 0 {
		return usageError("payment-key top-up: AMOUNT %q must be a whole number of payment-token units, at least %s", e.args[1], contracts.MinTopUpAmount)
	}
	owner := e.flags["owner"]
	if owner == "" {
		owner = s.AccountID()
	} else if err := e.validAccount("--owner", owner); err != nil {
		return err
	}
	token := e.flags["token"]
	if token == "" {
		var t *string
		if err := e.client.ViewFunction(e.ctx, contract, contracts.MethodGetPaymentTokenContract, nil, &t); err != nil {
			return e.fail("asking %s for its payment token: %v", contract, err)
		}
		if t == nil {
			return e.fail("%s has no payment token configured", contract)
		}
		token = *t
	}
	// Check the key first: a top-up of a missing key is refunded, but only
	// after a round trip that costs gas.
	var k *contracts.PaymentKeyView
	if err := e.client.ViewFunction(e.ctx, contract, contracts.MethodGetPaymentKey, contracts.PaymentKeyArgs{Owner: owner, Nonce: nonce}, &k); err != nil {
		return e.fail("%v", err)
	}
	if k == nil {
		return e.fail("%s has no payment key %s:%d", contract, owner, nonce)
	}
	msg, _ := json.Marshal(contracts.TopUpMsg{Action: contracts.FtActionTopUpPaymentKey, Nonce: nonce, Owner: owner})
	out, err := s.CallFunction(e.ctx, token, "ft_transfer_call", contracts.FtTransferCallArgs{
		ReceiverID: contract, Amount: amount, Msg: string(msg),
	}, 100*near.TGas, near.U128{Lo: 1})
	if err != nil {
		return e.report(out, err)
	}
	var used near.U128
	if err := out.DecodeResult(&used); err != nil {
		return e.fail("the token's answer: %v", err)
	}
	if used != amount {
		reason := "no reason logged"
		for _, f := range out.ReceiptFailures() {
			reason = f.Err.Error()
		}
		return e.fail("the contract refused the top-up and the token returned %s units: %s", sub128(amount, used), reason)
	}
	if err := e.client.ViewFunction(e.ctx, contract, contracts.MethodGetPaymentKey, contracts.PaymentKeyArgs{Owner: owner, Nonce: nonce}, &k); err != nil || k == nil {
		return e.fail("reading the key back: %v", err)
	}
	fmt.Fprintf(e.out, "Topped up %s:%d with %s; total topped up %s\n", owner, nonce, amount, k.InitialBalance)
	return nil
}

func sub128(a, b near.U128) near.U128 {
	d, _ := a.Sub(b)
	return d
}

func paymentKeyBalance(e *nearEnv) error {
	if err := e.need(1, 1, "OWNER:NONCE --contract C [--node URL]"); err != nil {
		return err
	}
	owner, nonceStr, ok := strings.Cut(e.args[0], ":")
	if !ok {
		return usageError("payment-key balance: %q is not OWNER:NONCE (never pass the secret here)", e.args[0])
	}
	if strings.Contains(nonceStr, ":") {
		return usageError("payment-key balance: give OWNER:NONCE only; the balance needs no secret")
	}
	if err := e.validAccount("owner", owner); err != nil {
		return err
	}
	nonce, err := parseNonce(e, nonceStr)
	if err != nil {
		return err
	}
	contract, err := e.contract()
	if err != nil {
		return err
	}
	var k *contracts.PaymentKeyView
	if err := e.client.ViewFunction(e.ctx, contract, contracts.MethodGetPaymentKey, contracts.PaymentKeyArgs{Owner: owner, Nonce: nonce}, &k); err != nil {
		return e.fail("%v", err)
	}
	if k == nil {
		return e.fail("%s has no payment key %s:%d", contract, owner, nonce)
	}
	var cluster *daemon.BalanceView
	if node := e.flags["node"]; node != "" {
		url := nodeURL(node) + "/public/payment-keys/" + owner + "/" + strconv.FormatUint(uint64(nonce), 10) + "/balance"
		req, err := http.NewRequestWithContext(e.ctx, http.MethodGet, url, nil)
		if err != nil {
			return usageError("payment-key balance: --node %q: %v", node, err)
		}
		cluster = new(daemon.BalanceView)
		if err := secretsHTTP(req, cluster); err != nil {
			return e.fail("asking %s: %v", node, err)
		}
	}
	if e.flags["json"] != "" {
		return e.printJSON(struct {
			Chain   *contracts.PaymentKeyView `json:"chain"`
			Cluster *daemon.BalanceView       `json:"cluster,omitempty"`
		}{k, cluster})
	}
	projects := "every project"
	if len(k.ProjectIDs) > 0 {
		projects = strings.Join(k.ProjectIDs, ", ")
	}
	fmt.Fprintf(e.out, "%s:%d\n  topped up %s (%d top-ups)\n  projects %s\n", owner, nonce, k.InitialBalance, k.TopUps, projects)
	if !k.MaxPerCall.IsZero() {
		fmt.Fprintf(e.out, "  max per call %s\n", k.MaxPerCall)
	}
	if cluster != nil {
		fmt.Fprintf(e.out, "  spent %s, reserved %s, available %s\n", cluster.Spent, cluster.Reserved, cluster.Available)
	}
	return nil
}

func paymentKeyDelete(e *nearEnv) error {
	contract, s, err := e.contractSigner(1, 1, "NONCE --account OWNER --contract C")
	if err != nil {
		return err
	}
	nonce, err := parseNonce(e, e.args[0])
	if err != nil {
		return err
	}
	out, err := s.CallFunction(e.ctx, contract, contracts.MethodDeletePaymentKey, contracts.NonceArgs{Nonce: nonce}, 100*near.TGas, near.U128{Lo: 1})
	return e.report(out, err)
}
