package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/outlayer/outlayer/contracts"
	"github.com/outlayer/outlayer/testnet/devchain"
	"github.com/outlayer/outlayer/testnet/fixture"
)

// TestProjectAndPaymentKeyCommands drives `outlayerd project` and
// `outlayerd payment-key` against a devchain with the OutLayer contract and
// the sample payment token: every command changes the contract as it says,
// and wrong input gets a usage error (exit 2) or the contract's reason
// (exit 1) without a transaction that changes anything.
func TestProjectAndPaymentKeyCommands(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	home := t.TempDir()
	w := fixture.NewWorld(t, ctx, fixture.WorldConfig{PaymentToken: true,
		ChainConfig: fixture.ChainConfig{Devchain: devchain.Config{Home: t.TempDir()}, KeyDir: home}})
	user, contract := w.User.AccountID(), w.Contract
	flags := []string{"--rpc", w.Chain.RPCURL(), "--keys-dir", home, "--contract", contract}
	run := func(wantCode int, args ...string) (string, string) {
		t.Helper()
		code, out, errOut := outlayerd(t, append(args, flags...)...)
		if code != wantCode {
			t.Fatalf("%s: exit %d, want %d\nstdout %s\nstderr %s", strings.Join(args, " "), code, wantCode, out, errOut)
		}
		return out, errOut
	}
	hash := strings.Repeat("4e", 32)
	repo, commit := "https://github.com/alice/app", "0123456789abcdef0123456789abcdef01234567"

	// Projects.
	_, errOut := run(2, "project", "create", "app", "--account", user)
	if !strings.Contains(errOut, "--wasm-url URL --wasm-hash HEX, or --repo REPO --commit COMMIT") {
		t.Errorf("no source: %s", errOut)
	}
	run(2, "project", "create", "app", "--wasm-url", "https://e.example/a.wasm", "--account", user)
	run(2, "project", "create", "app", "--wasm-url", "https://e.example/a.wasm", "--wasm-hash", "xyz", "--account", user)
	run(2, "project", "create", user+"/app", "--wasm-url", "https://e.example/a.wasm", "--wasm-hash", hash, "--account", user)
	_, errOut = run(1, "project", "create", "a+b", "--wasm-url", "https://e.example/a.wasm", "--wasm-hash", hash, "--account", user)
	if !strings.Contains(errOut, "may contain only letters, digits") {
		t.Errorf("bad name: %s", errOut)
	}
	out, _ := run(0, "project", "create", "app", "--wasm-url", "https://e.example/a.wasm", "--wasm-hash", hash, "--account", user)
	if strings.TrimSpace(out) != `"`+user+`/app"` {
		t.Errorf("create printed %q", out)
	}
	run(0, "project", "add-version", "app", "--repo", repo, "--commit", commit, "--activate", "--account", user)
	out, _ = run(0, "project", "show", user+"/app")
	if !strings.Contains(out, "* "+repo+"@"+commit) || !strings.Contains(out, "  "+hash) || !strings.Contains(out, "uuid p0000000000000001") {
		t.Errorf("show after add-version --activate:\n%s", out)
	}
	run(0, "project", "activate", "app", hash, "--account", user)
	_, errOut = run(1, "project", "activate", "app", "nope", "--account", user)
	if !strings.Contains(errOut, "Version 'nope' not found in project") {
		t.Errorf("activate unknown version: %s", errOut)
	}
	out, _ = run(0, "project", "list", "--account", user)
	if !strings.Contains(out, user+"/app\tuuid p0000000000000001\tactive "+hash) {
		t.Errorf("list:\n%s", out)
	}
	run(0, "project", "remove-version", "app", repo+"@"+commit, "--account", user)
	var count uint64
	if err := w.Client.ViewFunction(ctx, contract, contracts.MethodGetVersionCount, contracts.ProjectIDArgs{ProjectID: user + "/app"}, &count); err != nil || count != 1 {
		t.Fatalf("versions after remove-version: %d, %v", count, err)
	}
	run(2, "project", "show", "app")
	_, errOut = run(1, "project", "show", user+"/nope")
	if !strings.Contains(errOut, "has no project") {
		t.Errorf("show unknown: %s", errOut)
	}

	// Payment keys.
	out, _ = run(0, "payment-key", "create", "--account", user, "--projects", user+"/app", "--max-per-call", "100000")
	key, err := contracts.ParsePaymentKey(strings.TrimSpace(out))
	if err != nil || key.Owner != user || key.Nonce != 1 {
		t.Fatalf("create printed %q: %v", out, err)
	}
	var view *contracts.PaymentKeyView
	if err := w.Client.ViewFunction(ctx, contract, contracts.MethodGetPaymentKey, contracts.PaymentKeyArgs{Owner: user, Nonce: 1}, &view); err != nil || view == nil ||
		view.KeyHash != key.Hash() || len(view.ProjectIDs) != 1 || view.MaxPerCall.String() != "100000" {
		t.Fatalf("the chain has %+v, %v", view, err)
	}
	run(2, "payment-key", "create", "--account", user, "--projects", "noslash")
	run(2, "payment-key", "top-up", "1", "9999", "--account", user)
	run(2, "payment-key", "top-up", "0", "20000", "--account", user)
	_, errOut = run(1, "payment-key", "top-up", "7", "20000", "--account", user)
	if !strings.Contains(errOut, "has no payment key "+user+":7") {
		t.Errorf("top-up of a missing key: %s", errOut)
	}
	out, _ = run(0, "payment-key", "top-up", "1", "5000000", "--account", user)
	if !strings.Contains(out, "total topped up 5000000") {
		t.Errorf("top-up printed %q", out)
	}
	out, _ = run(0, "payment-key", "balance", user+":1")
	if !strings.Contains(out, "topped up 5000000 (1 top-ups)") || !strings.Contains(out, "projects "+user+"/app") {
		t.Errorf("balance:\n%s", out)
	}
	_, errOut = run(2, "payment-key", "balance", key.String())
	if strings.Contains(errOut, key.Secret) {
		t.Errorf("the usage error repeats the secret: %s", errOut)
	}
	run(0, "payment-key", "delete", "1", "--account", user)
	run(1, "payment-key", "balance", user+":1")
	_, errOut = run(1, "payment-key", "delete", "1", "--account", user)
	if !strings.Contains(errOut, "Payment key not found") {
		t.Errorf("second delete: %s", errOut)
	}
	run(0, "project", "delete", "app", "--account", user)
	out, errOut = run(0, "project", "list", "--account", user)
	if out != "" || !strings.Contains(errOut, "has no projects") {
		t.Errorf("list after delete: %q %q", out, errOut)
	}
}
