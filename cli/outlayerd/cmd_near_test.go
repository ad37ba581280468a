package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/outlayer/outlayer/testnet/devchain"
	examplecontracts "github.com/outlayer/outlayer/testnet/examples/contracts"
	"github.com/outlayer/outlayer/testnet/fixture"
)

// nearCLI runs `outlayerd near ...` in-process.
func nearCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	return runCLI(t, "", append([]string{"near"}, args...)...)
}

// TestNearCommandAgainstDevchain drives every `outlayerd near` subcommand
// against a real devchain started in this process.
func TestNearCommandAgainstDevchain(t *testing.T) {
	home := t.TempDir()
	chain := fixture.NewChain(t, context.Background(), fixture.ChainConfig{Devchain: devchain.Config{Home: home}})
	wasmDir := t.TempDir()
	counter := filepath.Join(wasmDir, "counter.wasm")
	if err := os.WriteFile(counter, examplecontracts.Counter, 0o644); err != nil {
		t.Fatal(err)
	}
	panicker := filepath.Join(wasmDir, "panicker.wasm")
	if err := os.WriteFile(panicker, examplecontracts.Panicker, 0o644); err != nil {
		t.Fatal(err)
	}
	root := chain.RootAccount()
	alice := "alice." + root
	// Common flags before the subcommand, as in the help text.
	c := func(args ...string) (int, string, string) {
		return nearCLI(t, append([]string{"--rpc", chain.RPCURL(), "--keys-dir", home}, args...)...)
	}
	expect := func(wantCode int, wantOut, wantErr string, args ...string) string {
		t.Helper()
		code, out, errOut := c(args...)
		if code != wantCode || !strings.Contains(out, wantOut) || !strings.Contains(errOut, wantErr) {
			t.Fatalf("near %s: exit %d (want %d)\nstdout %q (want %q)\nstderr %q (want %q)",
				strings.Join(args, " "), code, wantCode, out, wantOut, errOut, wantErr)
		}
		return errOut
	}

	expect(0, "", "Key saved to "+filepath.Join(home, "localnet", alice+".json"),
		"create-account", alice, "--master", root, "--balance", "12.5")
	expect(0, "Balance:       12.5 NEAR", "", "state", alice)
	expect(0, "", "Sent 0.5 NEAR from "+root+" to "+alice, "send", root, alice, "0.5")
	expect(0, "Balance:       13 NEAR", "", "state", alice)
	expect(2, "", "amount", "send", root, alice, "lots")
	expect(0, "nonce ", "", "keys", alice)
	expect(0, "full access", "", "keys", alice)
	expect(0, "", "Deployed counter.wasm", "deploy", alice, counter)
	// Flags after the positionals, near-cli style; the key is found in
	// <keys-dir>/localnet/ where create-account saved it.
	errOut := expect(0, "2\n", "Log ["+alice+"]: Increased number to 2", "call", alice, "increment", `{"by":2}`, "--account", alice)
	expect(0, "2\n", "", "view", alice, "get_num")
	expect(0, `"amount": "`, "", "state", alice, "--json")

	hash := regexp.MustCompile(`Transaction (\w+) `).FindStringSubmatch(errOut)
	if hash == nil {
		t.Fatalf("no transaction hash in %q", errOut)
	}
	expect(0, "Status: succeeded", "Increased number to 2", "tx", hash[1], "--sender", alice)
	expect(0, "Status: succeeded", "", "tx", hash[1]) // the devchain does not need the sender
	expect(0, `"final_execution_status": "FINAL"`, "", "tx", hash[1], "--json")
	expect(1, "", "UNKNOWN_TRANSACTION", "tx", "11111111111111111111111111111111", "--sender", alice)
	expect(2, "", "base58", "tx", "not-a-hash")

	// A panicking contract: exit 1 with NEAR's message.
	bob := "bob." + root
	expect(0, "", "Created "+bob, "create-account", bob, "--master", root, "--balance", "5")
	expect(0, "", "Deployed", "deploy", bob, panicker, "--key-file", filepath.Join(home, "localnet", bob+".json"))
	expect(1, "", "Smart contract panicked: oops", "call", bob, "panic_msg", `{"message":"oops"}`, "--account", alice)
	// Overspending and unknown accounts are failures, not usage errors.
	expect(1, "", "NotEnoughBalance", "call", alice, "increment", "--account", alice, "--deposit", "1000")
	expect(1, "", "UNKNOWN_ACCOUNT", "state", "nobody."+root)
	expect(1, "", "no key for nobody."+root, "call", alice, "increment", "--account", "nobody."+root)
	expect(1, "", "already exists", "create-account", alice, "--master", root)

	// Usage errors exit 2 without touching the chain.
	expect(2, "", "usage: outlayerd near call", "call", alice)
	expect(2, "", "--account ACCOUNT", "call", alice, "increment")
	expect(2, "", "not valid JSON", "call", alice, "increment", "{", "--account", alice)
	expect(2, "", "uppercase", "state", "Alice.near")
	expect(2, "", "--deposit", "call", alice, "increment", "--account", alice, "--deposit", "x")
	expect(2, "", "flag provided but not defined", "state", alice, "--nope")
	expect(2, "", "not a WebAssembly module", "deploy", alice, filepath.Join(home, "test.near.json"))
}

// TestSignedCommandPreamble checks the one preamble of the commands that sign
// for the OutLayer contract (arguments, --contract, --account, the key):
// each refusal names the command it came from and exits before any RPC.
func TestSignedCommandPreamble(t *testing.T) {
	t.Setenv("OUTLAYER_CONTRACT", "")
	noKey := filepath.Join(t.TempDir(), "none.json")
	for _, c := range []struct {
		args    []string
		code    int
		wantErr string
	}{
		{[]string{"project", "delete"}, 2, "usage: outlayerd project delete NAME"},
		{[]string{"project", "delete", "app", "--account", "alice.near"}, 2, "project delete: --contract ACCOUNT (the OutLayer contract"},
		{[]string{"project", "delete", "app", "--contract", "Bad"}, 2, "project delete: --contract: "},
		{[]string{"payment-key", "delete", "1", "--contract", "outlayer.near"}, 2, "payment-key delete: --account ACCOUNT (the account that signs) is required"},
		{[]string{"payment-key", "delete", "1", "--contract", "outlayer.near", "--account", "alice.near", "--key-file", noKey}, 1, "payment-key delete: no key for alice.near"},
		{[]string{"secrets", "delete", "--contract", "outlayer.near", "--account", "alice.near", "--key-file", noKey}, 1, "secrets delete: no key for alice.near"},
		{[]string{"secrets", "list", "--contract", "outlayer.near"}, 2, "secrets list: --account ACCOUNT"},
		{[]string{"secrets", "store", "a", "b"}, 2, "usage: outlayerd secrets store"},
		{[]string{"near", "call", "c.near", "m", "--account", "alice.near", "--key-file", noKey}, 1, "near call: no key for alice.near"},
	} {
		code, _, errOut := runCLI(t, "", c.args...)
		if code != c.code || !strings.Contains(errOut, c.wantErr) {
			t.Errorf("%s: exit %d (want %d), stderr %q (want %q)", strings.Join(c.args, " "), code, c.code, errOut, c.wantErr)
		}
	}
}
