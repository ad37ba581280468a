package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/outlayer/outlayer/contracts"
	"github.com/outlayer/outlayer/contracts/near"
	"github.com/outlayer/outlayer/daemon"
	"github.com/outlayer/outlayer/testnet/fixture"
)

// readmeCalls runs the HTTPS examples against one node on a devchain: the
// projects alice.near/echo and alice.near/env (the echo and envinfo
// samples) and the payment key are created through the contract (as the
// user account, who holds the payment token and whose key is in
// $HOME/.near-credentials), then the README's commands run as written with
// the node's address, the contract, the user's account and the key's
// secret.
func readmeCalls(t *testing.T, sh *shell, cmds []readmeCommand) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	home := filepath.Join(sh.dir, "home")
	w := fixture.NewWorld(t, ctx, fixture.WorldConfig{PaymentToken: true,
		ChainConfig: fixture.ChainConfig{KeyDir: filepath.Join(home, ".near-credentials")}})
	wasms := map[string][]byte{}
	for _, name := range []string{"echo", "envinfo"} {
		b, err := os.ReadFile(buildSample(t, sh.dir, name))
		if err != nil {
			t.Fatal(err)
		}
		wasms["/"+name+".wasm"] = b
	}
	files := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) { _, _ = rw.Write(wasms[r.URL.Path]) }))
	defer files.Close()
	for project, sample := range map[string]string{"echo": "echo", "env": "envinfo"} {
		sum := sha256.Sum256(wasms["/"+sample+".wasm"])
		src := contracts.CodeSource{WasmURL: &contracts.WasmURLSource{URL: files.URL + "/" + sample + ".wasm", Hash: hex.EncodeToString(sum[:])}}
		if _, err := w.User.CallFunction(ctx, w.Contract, contracts.MethodCreateProject,
			contracts.CreateProjectArgs{Name: project, Source: src}, 100*near.TGas, near.OneNEAR); err != nil {
			t.Fatalf("create_project %s: %v", project, err)
		}
	}
	cl, err := w.StartCluster(ctx, fixture.ClusterConfig{Dir: filepath.Join(sh.dir, "cluster"), Nodes: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cl.Close(context.Background()) }()
	node := cl.Nodes[0]
	owner := w.User.AccountID()
	secret := strings.Repeat("5e", 32)
	// The key, created and topped up on chain as the README says.
	if _, err := w.User.CallFunction(ctx, w.Contract, contracts.MethodCreatePaymentKey,
		contracts.CreatePaymentKeyArgs{KeyHash: contracts.PaymentKeyHash(secret)}, 100*near.TGas, near.OneNEAR); err != nil {
		t.Fatalf("create_payment_key: %v", err)
	}
	msg, _ := json.Marshal(contracts.TopUpMsg{Action: contracts.FtActionTopUpPaymentKey, Nonce: 1})
	if _, err := w.User.CallFunction(ctx, w.Token, "ft_transfer_call", contracts.FtTransferCallArgs{
		ReceiverID: w.Contract, Amount: near.U128{Lo: 1_000_000}, Msg: string(msg)}, 100*near.TGas, near.U128{Lo: 1}); err != nil {
		t.Fatalf("ft_transfer_call: %v", err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		if k, err := node.Consensus().Store().PaymentKey(owner, 1); err == nil && k.InitialBalance == 1_000_000 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the node did not learn the payment key from the contract")
		}
		time.Sleep(50 * time.Millisecond) // polling a condition with a deadline
	}
	env := ""
	for _, c := range cmds {
		// Each command has some of the placeholders.
		text := strings.NewReplacer("alice.near", owner, "127.0.0.1:8080", node.HTTPAddr(), "outlayer.near", w.Contract).Replace(readmeText(c))
		switch {
		case strings.HasPrefix(text, "export KEY="):
			env = strings.TrimPrefix(readmeText(c, "alice.near", owner, "<64 hex secret>", secret), "export ")
		case strings.HasPrefix(text, "outlayerd secrets store "):
			code, stdout, stderr := sh.run(text, "HOME="+home, "NEAR_RPC_URL="+w.Chain.RPCURL())
			if code != 0 || !strings.Contains(stderr, "Stored secrets profile \"default\" of "+owner+" for project:"+owner+"/env") {
				t.Fatalf("%s: exit %d\nstdout: %s\nstderr: %s", text, code, stdout, stderr)
			}
		case strings.HasPrefix(text, "outlayerd call ") && strings.Contains(text, "--secrets-owner"):
			code, stdout, stderr := sh.run(text, env)
			if code != 0 || !strings.Contains(stdout, `"secret": "sk-..."`) || !strings.Contains(stdout, ": completed, cost ") {
				t.Fatalf("%s: exit %d\nstdout: %s\nstderr: %s", text, code, stdout, stderr)
			}
			// Another profile does not exist for the project: refused
			// before anything is reserved.
			code, _, stderr = sh.run(text+" --secrets-profile nope", env)
			if code != 1 || !strings.Contains(stderr, "404") || !strings.Contains(stderr, `no secrets profile "nope"`) {
				t.Fatalf("a call naming a missing profile: exit %d\n%s", code, stderr)
			}
			if k, err := node.Consensus().Store().PaymentKey(owner, 1); err != nil || k.Calls != 2 || k.Reserved != 0 {
				t.Fatalf("after the refusal the key is %+v (%v), want two calls and nothing reserved", k, err)
			}
		case strings.HasPrefix(text, "outlayerd call "):
			code, stdout, stderr := sh.run(text, env)
			if code != 0 || !strings.Contains(stdout, `"hello": "outlayer"`) || !strings.Contains(stdout, ": completed, cost ") {
				t.Fatalf("%s: exit %d\nstdout: %s\nstderr: %s", text, code, stdout, stderr)
			}
		case strings.HasPrefix(text, "curl "):
			code, stdout, stderr := sh.run(text, env)
			var bal daemon.BalanceView
			if code != 0 || json.Unmarshal([]byte(stdout), &bal) != nil || bal.InitialBalance != "1000000" || bal.Spent == "0" || bal.Reserved != "0" {
				t.Fatalf("%s: exit %d\nstdout: %s\nstderr: %s", text, code, stdout, stderr)
			}
		default:
			t.Fatalf("the calls scenario does not know %q", c.text)
		}
	}
}
