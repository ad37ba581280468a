package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/outlayer/outlayer/contracts"
	"github.com/outlayer/outlayer/testnet/devchain"
	"github.com/outlayer/outlayer/testnet/fixture"
)

// readmeProjects runs the project and payment-key examples as written
// against a devchain laid out like the testnet (user.test.near holds the
// payment token, its key in outlayer-testnet/keys, outlayer.test.near the
// contract) and one node, with the chain's and the node's addresses and a
// module hash substituted, and checks what each command did on chain.
func readmeProjects(t *testing.T, sh *shell, cmds []readmeCommand) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	w := fixture.NewWorld(t, ctx, fixture.WorldConfig{PaymentToken: true, ChainConfig: fixture.ChainConfig{
		Devchain: devchain.Config{Home: filepath.Join(sh.dir, "chain")}, KeyDir: filepath.Join(sh.dir, "outlayer-testnet", "keys")}})
	if w.Contract != "outlayer.test.near" || w.User.AccountID() != "user.test.near" {
		t.Fatalf("the fixture's accounts are %s and %s, not the README's", w.Contract, w.User.AccountID())
	}
	cl, err := w.StartCluster(ctx, fixture.ClusterConfig{Dir: filepath.Join(sh.dir, "cluster"), Nodes: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cl.Close(context.Background()) }()
	node := cl.Nodes[0]
	hash := strings.Repeat("ec", 32)
	sha := "0123456789abcdef0123456789abcdef01234567"
	env := ""
	view := func(method string, args, out any) {
		t.Helper()
		if err := w.Client.ViewFunction(ctx, w.Contract, method, args, out); err != nil {
			t.Fatalf("%s: %v", method, err)
		}
	}
	var key contracts.PaymentKey
	for _, c := range cmds {
		text := strings.NewReplacer("http://127.0.0.1:3030", w.Chain.RPCURL(), "127.0.0.1:8081", node.HTTPAddr(),
			"<HEX>", hash, "<sha>", sha).Replace(readmeText(c))
		if strings.HasPrefix(text, "export ") {
			env = strings.TrimPrefix(text, "export ")
			continue
		}
		code, stdout, stderr := sh.run(text, strings.Fields(env)...)
		if code != 0 {
			t.Fatalf("%s: exit %d\nstdout: %s\nstderr: %s", text, code, stdout, stderr)
		}
		args := strings.Fields(text)
		switch strings.Join(args[1:3], " ") {
		case "project create", "project add-version", "project activate":
			var p *contracts.ProjectView
			view(contracts.MethodGetProject, contracts.ProjectIDArgs{ProjectID: "user.test.near/echo"}, &p)
			want := hash
			if args[2] == "add-version" {
				want = "https://github.com/you/prog@" + sha
			}
			if p == nil || p.ActiveVersion != want {
				t.Fatalf("%s: the project is %+v, want active version %s", text, p, want)
			}
		case "project show":
			if !strings.Contains(stdout, "* "+hash) || !strings.Contains(stdout, "https://github.com/you/prog@"+sha) {
				t.Fatalf("%s printed:\n%s", text, stdout)
			}
		case "project list":
			if !strings.Contains(stdout, "user.test.near/echo\tuuid p0000000000000001\tactive "+hash) {
				t.Fatalf("%s printed:\n%s", text, stdout)
			}
		case "payment-key create":
			if key, err = contracts.ParsePaymentKey(strings.TrimSpace(stdout)); err != nil || key.Nonce != 1 {
				t.Fatalf("%s printed %q: %v", text, stdout, err)
			}
		case "payment-key top-up":
			// The node follows the key on chain before the balance example asks it.
			for deadline := time.Now().Add(30 * time.Second); ; {
				if k, err := node.Consensus().Store().PaymentKey("user.test.near", 1); err == nil && k.InitialBalance == 1_000_000 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the node did not learn the topped-up key from the contract")
				}
				time.Sleep(50 * time.Millisecond) // polling a condition with a deadline
			}
		case "payment-key balance":
			if !strings.Contains(stdout, "topped up 1000000 (1 top-ups)") || !strings.Contains(stdout, "spent 0, reserved 0, available 1000000") {
				t.Fatalf("%s printed:\n%s", text, stdout)
			}
		case "payment-key delete":
			var k *contracts.PaymentKeyView
			view(contracts.MethodGetPaymentKey, contracts.PaymentKeyArgs{Owner: key.Owner, Nonce: key.Nonce}, &k)
			if k != nil {
				t.Fatalf("%s: the key is still on chain", text)
			}
		default:
			t.Fatalf("the projects scenario does not know %q", c.text)
		}
	}
}
