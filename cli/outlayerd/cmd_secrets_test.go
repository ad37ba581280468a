package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/outlayer/outlayer/consensus"
	"github.com/outlayer/outlayer/consensus/p2p"
	"github.com/outlayer/outlayer/contracts"
	"github.com/outlayer/outlayer/daemon/keystore"
	"github.com/outlayer/outlayer/store"
	"github.com/outlayer/outlayer/testnet/devchain"
	"github.com/outlayer/outlayer/testnet/fixture"
)

// TestSecretsCommand drives `outlayerd secrets` against a devchain with the
// OutLayer contract and a one-node cluster's keystore: what the CLI
// encrypts and stores is decrypted by the keystore only for a caller the
// access condition admits.
func TestSecretsCommand(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	home := t.TempDir()
	w := fixture.NewWorld(t, ctx, fixture.WorldConfig{ChainConfig: fixture.ChainConfig{Devchain: devchain.Config{Home: home}}})
	chain, cl, root, contract := w.Chain, w.Client, w.Root.AccountID(), w.Contract

	// A one-node cluster with its keystore, served over HTTP.
	dir := t.TempDir()
	node, err := consensus.Open(ctx, consensus.Config{DataDir: dir, ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"},
		DevMode: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = node.Close() })
	if err := node.Bootstrap(ctx); err != nil {
		t.Fatal(err)
	}
	key, _ := p2p.LoadOrCreateIdentity(dir)
	sealer, err := keystore.NewFileSealer(dir)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := keystore.New(keystore.Config{Cluster: node, Identity: key, Sealer: sealer, Viewer: cl, ContractID: contract,
		DevMode: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ks.Close)
	if err := ks.Bootstrap(ctx); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(ks.Handler())
	defer srv.Close()

	run := func(wantCode int, args ...string) (string, string) {
		t.Helper()
		code, out, errOut := outlayerd(t, append([]string{"secrets"}, args...)...)
		if code != wantCode {
			t.Fatalf("secrets %s: exit %d, want %d\nstdout %s\nstderr %s", strings.Join(args, " "), code, wantCode, out, errOut)
		}
		return out, errOut
	}
	chainFlags := []string{"--rpc", chain.RPCURL(), "--keys-dir", home, "--contract", contract}
	onChain := func(wantCode int, sub string, args ...string) (string, string) {
		t.Helper()
		return run(wantCode, append(append([]string{sub}, args...), chainFlags...)...)
	}
	repo := "https://github.com/alice/app"

	out, _ := run(0, "pubkey", "--node", srv.URL, "--repo", repo, "--owner", root)
	pubHex := strings.TrimSpace(out)
	want, _, err := ks.PublicKey(keystore.Identity{Accessor: contracts.SecretAccessor{Repo: &contracts.RepoAccessor{Repo: repo}},
		Owner: root, Profile: keystore.DefaultProfile})
	if err != nil || pubHex != want.String() {
		t.Fatalf("pubkey %q, keystore says %s (%v)", pubHex, want, err)
	}
	out, _ = run(0, "encrypt", "--pubkey", pubHex, `{"API_KEY":"cli-secret"}`)
	blob := strings.TrimSpace(out)
	if strings.Contains(blob, "cli-secret") {
		t.Fatal("the encrypted output contains the plaintext")
	}
	run(exitUsage, "encrypt", "--pubkey", pubHex, `{"NEAR_SENDER_ID":"x"}`)
	run(exitUsage, "encrypt", "--pubkey", "beef", `{"A":"x"}`)

	onChain(0, "store", "--repo", repo, "--account", root, "--encrypted", blob,
		"--access", `{"Whitelist":{"accounts":["caller.near"]}}`)
	// The other path: plaintext in, encrypted here with the node's key.
	onChain(0, "store", "--repo", repo, "--account", root, "--profile", "p2", "--node", srv.URL, `{"OTHER":"two"}`)
	out, _ = onChain(0, "list", "--account", root)
	if !strings.Contains(out, "default") || !strings.Contains(out, "p2") || !strings.Contains(out, "Whitelist") {
		t.Fatalf("list: %s", out)
	}
	out, _ = run(0, "generate", "--node", srv.URL, "--repo", repo, "--account", root, "--rpc", chain.RPCURL(), "--keys-dir", home, "PROTECTED_TOKEN:hex16")
	if !strings.Contains(out, "PROTECTED_TOKEN") {
		t.Fatalf("generate: %s", out)
	}

	req := func(caller, profile string) keystore.Request {
		r, err := keystore.RequestFor(store.CodeSource{Git: &store.GitSource{Repo: repo, Commit: strings.Repeat("b", 40)}},
			store.SecretsRef{Profile: profile, AccountID: root}, caller)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	env, err := ks.SecretsFor(ctx, req("caller.near", keystore.DefaultProfile))
	if err != nil || env["API_KEY"] != "cli-secret" || len(env["PROTECTED_TOKEN"]) != 32 {
		t.Fatalf("secrets for the whitelisted caller: %v %v", env, err)
	}
	if _, err := ks.SecretsFor(ctx, req("intruder.near", keystore.DefaultProfile)); !errors.Is(err, keystore.ErrAccessDenied) {
		t.Fatalf("intruder: %v", err)
	}
	if env, err := ks.SecretsFor(ctx, req("anyone.near", "p2")); err != nil || env["OTHER"] != "two" {
		t.Fatalf("p2: %v %v", env, err)
	}

	onChain(0, "delete", "--repo", repo, "--account", root, "--profile", "p2")
	out, _ = onChain(0, "list", "--account", root)
	if strings.Contains(out, "p2") {
		t.Fatalf("p2 still listed after delete: %s", out)
	}
	if _, err := ks.SecretsFor(ctx, req("anyone.near", "p2")); !errors.Is(err, keystore.ErrSecretsNotFound) {
		t.Fatalf("deleted profile: %v", err)
	}
	onChain(exitUsage, "store", "--account", root, "--encrypted", blob) // no --repo/--wasm-hash
}
