package main

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/outlayer/outlayer/contracts"
	"github.com/outlayer/outlayer/contracts/near"
	"github.com/outlayer/outlayer/daemon/keystore"
)

// Flags shared by the secrets subcommands that name one secrets profile.
var secretsIdentityFlags = []nearFlagSpec{
	{name: "repo", usage: "`REPO` whose programs may see the secrets (github.com/owner/name)"},
	{name: "branch", usage: "only this `BRANCH` of the repository (default: every branch)"},
	{name: "commit", usage: "only this `COMMIT` (40 hex digits) of the repository: requests must name exactly it"},
	{name: "wasm-hash", usage: "the sha256 `HEX` of the WASM module that may see the secrets (instead of --repo)"},
	{name: "project", usage: "`OWNER/NAME`: every version of this project may see the secrets (instead of --repo)"},
	{name: "profile", usage: "secrets `PROFILE` name", def: keystore.DefaultProfile},
}

var secretsContractFlag = nearFlagSpec{name: "contract", usage: "the OutLayer contract `ACCOUNT`", env: "OUTLAYER_CONTRACT"}
var secretsNodeFlag = nearFlagSpec{name: "node", usage: "HTTP `URL` of any outlayerd node", env: "OUTLAYER_NODE"}

func secretsCommand() *cli.Command {
	sub, with := nearSubcommand, slices.Concat[[]nearFlagSpec]
	account := []nearFlagSpec{{name: "account", usage: "the owner `ACCOUNT` (signs the transaction)"}}
	return &cli.Command{
		Name:  "secrets",
		Usage: "encrypt secrets for programs and manage them on the OutLayer contract",
		Flags: nearFlags(nearCommonFlags),
		Description: `Secrets are encrypted on your machine to a public key the cluster derives for
(code, owner, profile), stored on the contract, and decrypted only inside a node
that runs a request whose caller satisfies the access condition.

  outlayerd secrets pubkey --node http://127.0.0.1:8080 --repo github.com/alice/app --owner alice.near
  outlayerd secrets encrypt --pubkey HEX '{"API_KEY":"..."}'
  outlayerd secrets store --node URL --contract outlayer.near --repo github.com/alice/app --account alice.near \
      --access '{"Whitelist":{"accounts":["bob.near"]}}' '{"API_KEY":"..."}'
  outlayerd secrets list --contract outlayer.near --account alice.near
  outlayerd secrets delete --contract outlayer.near --repo github.com/alice/app --account alice.near
  outlayerd secrets generate --node URL --repo github.com/alice/app --account alice.near PROTECTED_KEY:ed25519`,
		Subcommands: []*cli.Command{
			sub("pubkey", "print the public key to encrypt secrets to (asks a node)", "",
				with(secretsIdentityFlags, []nearFlagSpec{secretsNodeFlag, {name: "owner", usage: "the owner `ACCOUNT`"}}), secretsPubkey),
			sub("encrypt", "encrypt a JSON object of secrets to a public key, locally; prints base64", "JSON|-",
				[]nearFlagSpec{{name: "pubkey", usage: "the `HEX` public key from `secrets pubkey`"}}, secretsEncrypt),
			sub("store", "encrypt (or take --encrypted) and store secrets on the contract, paying the storage deposit", "[JSON|-]",
				with(secretsIdentityFlags, account, []nearFlagSpec{secretsContractFlag, secretsNodeFlag,
					{name: "access", usage: "access condition `JSON` (externally tagged, as the contract takes it)", def: `"AllowAll"`},
					{name: "encrypted", usage: "already encrypted `BASE64` (from `secrets encrypt`)"}}), secretsStore),
			sub("list", "list an account's secrets profiles (no ciphertext)", "",
				with(account, []nearFlagSpec{secretsContractFlag}), secretsList),
			sub("delete", "delete a secrets profile and get its storage deposit back", "",
				with(secretsIdentityFlags, account, []nearFlagSpec{secretsContractFlag}), secretsDelete),
			sub("generate", "have the cluster generate secrets nobody sees (NAME:TYPE, TYPE hex16|hex32|hex64|ed25519|ed25519_seed|password[:N])", "NAME:TYPE...",
				with(secretsIdentityFlags, account, []nearFlagSpec{secretsNodeFlag}), secretsGenerate),
		},
	}
}

func secretsAccessor(e *nearEnv) (contracts.SecretAccessor, error) {
	repo, hash, project := e.flags["repo"], e.flags["wasm-hash"], e.flags["project"]
	switch {
	case project != "" && repo == "" && hash == "":
		if e.flags["branch"] != "" || e.flags["commit"] != "" {
			return contracts.SecretAccessor{}, usageError("%s: --branch and --commit go with --repo, not --project", e.what())
		}
		return contracts.SecretAccessor{Project: &contracts.ProjectAccessor{ProjectID: project}}, nil
	case repo != "" && hash == "" && project == "":
		r := &contracts.RepoAccessor{Repo: keystore.NormalizeRepo(repo)}
		if b := e.flags["branch"]; b != "" {
			r.Branch = &b
		}
		if c := e.flags["commit"]; c != "" {
			r.Commit = &c
		}
		return contracts.SecretAccessor{Repo: r}, nil
	case hash != "" && repo == "" && project == "":
		if e.flags["branch"] != "" || e.flags["commit"] != "" {
			return contracts.SecretAccessor{}, usageError("%s: --branch and --commit go with --repo, not --wasm-hash", e.what())
		}
		return contracts.SecretAccessor{WasmHash: &contracts.WasmHashAccessor{Hash: strings.ToLower(hash)}}, nil
	}
	return contracts.SecretAccessor{}, usageError("%s: give exactly one of --repo, --wasm-hash and --project", e.what())
}

func secretsIdentity(e *nearEnv, owner string) (keystore.Identity, error) {
	acc, err := secretsAccessor(e)
	if err != nil {
		return keystore.Identity{}, err
	}
	id, err := keystore.Identity{Accessor: acc, Owner: owner, Profile: e.flags["profile"]}.Normalize()
	if err != nil {
		return id, usageError("%s: %v", e.what(), err)
	}
	return id, nil
}

// secretsNode is --node (or $OUTLAYER_NODE), required, as a base URL.
func secretsNode(e *nearEnv) (string, error) {
	if v := e.flags["node"]; v != "" {
		return nodeURL(v), nil
	}
	return "", usageError("%s: --node (any outlayerd node) is required (or set $OUTLAYER_NODE)", e.what())
}

// secretsFetchPubkey asks a node for id's public key.
func secretsFetchPubkey(e *nearEnv, id keystore.Identity) (*keystore.PubkeyResponse, error) {
	node, err := secretsNode(e)
	if err != nil {
		return nil, err
	}
	q := url.Values{"owner": {id.Owner}, "profile": {id.Profile}}
	if r := id.Accessor.Repo; r != nil {
		q.Set("repo", r.Repo)
		if r.Branch != nil {
			q.Set("branch", *r.Branch)
		}
		if r.Commit != nil {
			q.Set("commit", *r.Commit)
		}
	} else if p := id.Accessor.Project; p != nil {
		q.Set("project", p.ProjectID)
	} else {
		q.Set("wasm_hash", id.Accessor.WasmHash.Hash)
	}
	req, err := http.NewRequestWithContext(e.ctx, http.MethodGet, node+keystore.HTTPPrefix+"pubkey?"+q.Encode(), nil)
	if err != nil {
		return nil, usageError("%s: --node %q: %v", e.what(), node, err)
	}
	var pr keystore.PubkeyResponse
	if err := secretsHTTP(req, &pr); err != nil {
		return nil, e.fail("asking %s for the public key: %v", node, err)
	}
	// Never trust the node to echo what we asked: a key for another
	// identity would make the secrets undecryptable for our programs.
	if pr.Seed != id.Seed() || pr.Profile != id.Profile {
		return nil, e.fail("the node answered for %q profile %q, not %q profile %q", pr.Seed, pr.Profile, id.Seed(), id.Profile)
	}
	return &pr, nil
}

func secretsHTTP(req *http.Request, out any) error {
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			return fmt.Errorf("%s: %s", resp.Status, e.Error)
		}
		return fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	return json.Unmarshal(body, out)
}

func secretsPubkey(e *nearEnv) error {
	if err := e.need(0, 0, "--node URL (--repo R [--branch B] | --wasm-hash H | --project OWNER/NAME) --owner ACCOUNT [--profile P]"); err != nil {
		return err
	}
	if e.flags["owner"] == "" {
		return usageError("%s: --owner is required", e.what())
	}
	id, err := secretsIdentity(e, e.flags["owner"])
	if err != nil {
		return err
	}
	pr, err := secretsFetchPubkey(e, id)
	if err != nil {
		return err
	}
	if e.flags["json"] != "" {
		return e.printJSON(pr)
	}
	fmt.Fprintln(e.out, pr.PublicKey)
	return nil
}

// secretsPlaintext reads the JSON argument ("-": stdin).
func secretsPlaintext(e *nearEnv, arg string) ([]byte, error) {
	if arg != "-" {
		return []byte(arg), nil
	}
	b, err := io.ReadAll(io.LimitReader(os.Stdin, 64<<10))
	if err != nil {
		return nil, e.fail("reading secrets from stdin: %v", err)
	}
	return b, nil
}

func secretsEncrypt(e *nearEnv) error {
	if err := e.need(1, 1, `--pubkey HEX '{"NAME":"value"}' (or - to read stdin)`); err != nil {
		return err
	}
	pub, err := keystore.ParsePublicKey(e.flags["pubkey"])
	if err != nil {
		return usageError("%s: --pubkey: %v", e.what(), err)
	}
	pt, err := secretsPlaintext(e, e.args[0])
	if err != nil {
		return err
	}
	b64, err := keystore.EncryptSecrets(rand.Reader, pub, pt)
	if err != nil {
		return usageError("%s: %v", e.what(), err)
	}
	fmt.Fprintln(e.out, b64)
	return nil
}

func secretsStore(e *nearEnv) error {
	contract, s, err := e.contractSigner(0, 1, `(--repo R [--branch B] | --wasm-hash H | --project OWNER/NAME) --account OWNER [--profile P] [--access JSON] ('{"NAME":"value"}' --node URL | --encrypted BASE64)`)
	if err != nil {
		return err
	}
	owner := s.AccountID()
	id, err := secretsIdentity(e, owner)
	if err != nil {
		return err
	}
	var access contracts.AccessCondition
	if err := json.Unmarshal([]byte(e.flags["access"]), &access); err != nil {
		return usageError("%s: --access: %v", e.what(), err)
	}
	blob := e.flags["encrypted"]
	switch {
	case blob != "" && len(e.args) == 0:
	case blob == "" && len(e.args) == 1:
		pt, err := secretsPlaintext(e, e.args[0])
		if err != nil {
			return err
		}
		if _, err := keystore.ParseSecrets(pt); err != nil {
			return usageError("%s: %v", e.what(), err)
		}
		pr, err := secretsFetchPubkey(e, id)
		if err != nil {
			return err
		}
		pub, err := keystore.ParsePublicKey(pr.PublicKey)
		if err != nil {
			return e.fail("the node's public key: %v", err)
		}
		if blob, err = keystore.EncryptSecrets(rand.Reader, pub, pt); err != nil {
			return e.fail("%v", err)
		}
	default:
		return usageError("%s: give either the secrets JSON (encrypted here with the node's key) or --encrypted, not both", e.what())
	}
	deposit, out, err := keystore.StoreSecrets(e.ctx, s, contract, contracts.StoreSecretsArgs{
		Accessor: id.Accessor, Profile: id.Profile, EncryptedSecretsBase64: blob, Access: access})
	if out == nil && err != nil {
		return e.fail("%v", err)
	}
	fmt.Fprintf(e.errOut, "Stored secrets profile %q of %s for %s (storage deposit %s NEAR)\n", id.Profile, owner, id.Seed(), near.FormatNEAR(deposit))
	return e.report(out, err)
}

func secretsList(e *nearEnv) error {
	if err := e.need(0, 0, "--account ACCOUNT"); err != nil {
		return err
	}
	contract, err := e.contract()
	if err != nil {
		return err
	}
	owner, err := e.account()
	if err != nil {
		return err
	}
	var list []contracts.UserSecretInfo
	if err := e.client.ViewFunction(e.ctx, contract, contracts.MethodListUserSecrets, contracts.ListUserSecretsArgs{AccountID: owner}, &list); err != nil {
		return e.fail("%v", err)
	}
	if e.flags["json"] != "" {
		return e.printJSON(list)
	}
	if len(list) == 0 {
		fmt.Fprintf(e.errOut, "%s has no secrets on %s\n", owner, contract)
		return nil
	}
	for _, s := range list {
		access, _ := json.Marshal(s.Access)
		code := ""
		if r := s.Accessor.Repo; r != nil {
			code = "repo " + r.Repo
			if r.Branch != nil {
				code += " branch " + *r.Branch
			}
		} else if s.Accessor.WasmHash != nil {
			code = "wasm " + s.Accessor.WasmHash.Hash
		} else if s.Accessor.Project != nil {
			code = "project " + s.Accessor.Project.ProjectID
		}
		fmt.Fprintf(e.out, "%-16s %s  access %s  deposit %s NEAR  updated %s\n", s.Profile, code, access,
			near.FormatNEAR(s.StorageDeposit), time.Unix(0, int64(s.UpdatedAt)).UTC().Format(time.RFC3339))
	}
	return nil
}

func secretsDelete(e *nearEnv) error {
	contract, s, err := e.contractSigner(0, 0, "(--repo R [--branch B] | --wasm-hash H | --project OWNER/NAME) --account OWNER [--profile P]")
	if err != nil {
		return err
	}
	owner := s.AccountID()
	id, err := secretsIdentity(e, owner)
	if err != nil {
		return err
	}
	out, err := s.CallFunction(e.ctx, contract, contracts.MethodDeleteSecrets,
		contracts.SecretKeyArgs{Accessor: id.Accessor, Profile: id.Profile}, 30*near.TGas, near.U128{})
	return e.report(out, err)
}

func secretsGenerate(e *nearEnv) error {
	if len(e.args) == 0 {
		return usageError("usage: outlayerd secrets generate (--repo R | --wasm-hash H | --project OWNER/NAME) --account OWNER [--profile P] --node URL NAME:TYPE...")
	}
	owner, err := e.account()
	if err != nil {
		return err
	}
	id, err := secretsIdentity(e, owner)
	if err != nil {
		return err
	}
	req := keystore.GenerateRequest{Accessor: id.Accessor, Profile: id.Profile, Owner: owner}
	for _, a := range e.args {
		name, typ, ok := strings.Cut(a, ":")
		if !ok {
			return usageError("%s: %q is not NAME:TYPE (e.g. PROTECTED_KEY:ed25519)", e.what(), a)
		}
		spec := keystore.GenerateSpec{Name: name, Type: typ}
		if err := keystore.CheckGenerateSpec(spec); err != nil {
			return usageError("%s: %v", e.what(), err)
		}
		req.Secrets = append(req.Secrets, spec)
	}
	node, err := secretsNode(e)
	if err != nil {
		return err
	}
	kp, err := e.keyPair(owner)
	if err != nil {
		return err
	}
	if err := req.Sign(kp, time.Now()); err != nil {
		return e.fail("%v", err)
	}
	body, err := json.Marshal(req)
	if err != nil {
		return e.fail("%v", err)
	}
	hreq, err := http.NewRequestWithContext(e.ctx, http.MethodPost, node+keystore.HTTPPrefix+"generate", strings.NewReader(string(body)))
	if err != nil {
		return usageError("%s: --node %q: %v", e.what(), node, err)
	}
	hreq.Header.Set("Content-Type", "application/json")
	var resp struct {
		Names []string `json:"names"`
	}
	if err := secretsHTTP(hreq, &resp); err != nil {
		return e.fail("%v", err)
	}
	if e.flags["json"] != "" {
		return e.printJSON(resp)
	}
	fmt.Fprintf(e.errOut, "Generated secrets of %s profile %q (values are never shown):\n", id.Seed(), id.Profile)
	for _, n := range resp.Names {
		fmt.Fprintln(e.out, n)
	}
	return nil
}
