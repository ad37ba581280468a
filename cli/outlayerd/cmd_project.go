package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/outlayer/outlayer/contracts"
	"github.com/outlayer/outlayer/contracts/near"
)

// Flags that name a version's code.
var projectSourceFlags = []nearFlagSpec{
	{name: "wasm-url", usage: "`URL` of a prebuilt WASM module (with --wasm-hash)"},
	{name: "wasm-hash", usage: "the module's sha256 `HEX` (with --wasm-url)"},
	{name: "repo", usage: "git `REPO` to build (with --commit), e.g. https://github.com/alice/app"},
	{name: "commit", usage: "the `COMMIT` (or branch) to build (with --repo)"},
	{name: "build-target", usage: "`TARGET` of the build, e.g. wasm32-wasip1 (default: the node's)"},
}

var projectAccountFlag = nearFlagSpec{name: "account", usage: "the project owner `ACCOUNT` (signs the transaction)"}
var projectDepositFlag = nearFlagSpec{name: "deposit", usage: "storage deposit to attach, in `NEAR`; the contract keeps what the bytes cost and refunds the rest", def: "0.1"}

func projectCommand() *cli.Command {
	sub, with := nearSubcommand, slices.Concat[[]nearFlagSpec]
	owner := []nearFlagSpec{projectAccountFlag, secretsContractFlag}
	return &cli.Command{
		Name:  "project",
		Usage: "create and manage projects (OWNER/NAME) and their versions on the OutLayer contract",
		Flags: nearFlags(nearCommonFlags),
		Description: `A project is OWNER/NAME with versions (a WASM URL and hash, or a git repository at a
commit) and an active version. Callers run it with {"Project":{"project_id":"OWNER/NAME"}}
on chain or with outlayerd call OWNER/NAME over HTTPS; secrets stored for the project
(outlayerd secrets store --project OWNER/NAME) reach every version.

  outlayerd project create app --wasm-url https://host/app.wasm --wasm-hash HEX --account alice.near --contract outlayer.near
  outlayerd project add-version app --repo https://github.com/alice/app --commit 4f2a... --activate --account alice.near --contract outlayer.near
  outlayerd project activate app HEX --account alice.near --contract outlayer.near
  outlayerd project list --account alice.near --contract outlayer.near
  outlayerd project show alice.near/app --contract outlayer.near`,
		Subcommands: []*cli.Command{
			sub("create", "create OWNER/NAME (the signer owns it) with its first, active version", "NAME",
				with(projectSourceFlags, owner, []nearFlagSpec{projectDepositFlag}), projectCreate),
			sub("add-version", "add a version to one of your projects", "NAME",
				with(projectSourceFlags, owner, []nearFlagSpec{projectDepositFlag,
					{name: "activate", usage: "make the new version the active one", isBool: true}}), projectAddVersion),
			sub("activate", "make a version the active one", "NAME VERSION_KEY", owner, projectActivate),
			sub("remove-version", "remove a version that is not active and get its storage deposit back", "NAME VERSION_KEY", owner, projectRemoveVersion),
			sub("delete", "delete a project with all its versions and get every storage deposit back", "NAME", owner, projectDelete),
			sub("list", "list an account's projects", "", []nearFlagSpec{{name: "account", usage: "the owner `ACCOUNT`"}, secretsContractFlag}, projectList),
			sub("show", "show a project and its versions", "OWNER/NAME", []nearFlagSpec{secretsContractFlag}, projectShow),
		},
	}
}

// projectSource is the version the flags name.
func projectSource(e *nearEnv) (contracts.CodeSource, error) {
	url, hash, repo, commit := e.flags["wasm-url"], e.flags["wasm-hash"], e.flags["repo"], e.flags["commit"]
	var target *string
	if t := e.flags["build-target"]; t != "" {
		target = &t
	}
	switch {
	case (url != "" || hash != "") && repo == "" && commit == "":
		if url == "" || hash == "" {
			return contracts.CodeSource{}, usageError("%s: a WASM version needs both --wasm-url and --wasm-hash", e.what())
		}
		if len(hash) != 64 || strings.Trim(strings.ToLower(hash), "0123456789abcdef") != "" {
			return contracts.CodeSource{}, usageError("%s: --wasm-hash must be the module's sha256, 64 hex characters", e.what())
		}
		return contracts.CodeSource{WasmURL: &contracts.WasmURLSource{URL: url, Hash: strings.ToLower(hash), BuildTarget: target}}, nil
	case (repo != "" || commit != "") && url == "" && hash == "":
		if repo == "" || commit == "" {
			return contracts.CodeSource{}, usageError("%s: a git version needs both --repo and --commit", e.what())
		}
		return contracts.CodeSource{GitHub: &contracts.GitHubSource{Repo: repo, Commit: commit, BuildTarget: target}}, nil
	}
	return contracts.CodeSource{}, usageError("%s: give the version's code: --wasm-url URL --wasm-hash HEX, or --repo REPO --commit COMMIT", e.what())
}

// projectCall signs method with args and attached deposit, and reports.
func projectCall(e *nearEnv, s *near.Signer, contract, method string, args any, deposit near.U128) error {
	out, err := s.CallFunction(e.ctx, contract, method, args, 100*near.TGas, deposit)
	return e.report(out, err)
}

func projectCreate(e *nearEnv) error {
	contract, s, err := e.contractSigner(1, 1, "NAME (--wasm-url URL --wasm-hash HEX | --repo REPO --commit C) --account OWNER --contract C")
	if err != nil {
		return err
	}
	name := e.args[0]
	if strings.Contains(name, "/") {
		return usageError("project create: give the NAME only; the project is <--account>/%s", name[strings.LastIndexByte(name, '/')+1:])
	}
	src, err := projectSource(e)
	if err != nil {
		return err
	}
	deposit, err := e.nearAmount("deposit")
	if err != nil {
		return err
	}
	fmt.Fprintf(e.errOut, "Creating %s/%s with version %s\n", s.AccountID(), name, src.VersionKey())
	return projectCall(e, s, contract, contracts.MethodCreateProject, contracts.CreateProjectArgs{Name: name, Source: src}, deposit)
}

func projectAddVersion(e *nearEnv) error {
	contract, s, err := e.contractSigner(1, 1, "NAME (--wasm-url URL --wasm-hash HEX | --repo REPO --commit C) [--activate] --account OWNER --contract C")
	if err != nil {
		return err
	}
	src, err := projectSource(e)
	if err != nil {
		return err
	}
	deposit, err := e.nearAmount("deposit")
	if err != nil {
		return err
	}
	fmt.Fprintf(e.errOut, "Adding version %s to %s/%s\n", src.VersionKey(), s.AccountID(), e.args[0])
	return projectCall(e, s, contract, contracts.MethodAddVersion,
		contracts.AddVersionArgs{ProjectName: e.args[0], Source: src, SetActive: e.flags["activate"] != ""}, deposit)
}

func projectVersionCommand(e *nearEnv, method string) error {
	contract, s, err := e.contractSigner(2, 2, "NAME VERSION_KEY --account OWNER --contract C")
	if err != nil {
		return err
	}
	return projectCall(e, s, contract, method, contracts.ProjectVersionArgs{ProjectName: e.args[0], VersionKey: e.args[1]}, near.U128{})
}

func projectActivate(e *nearEnv) error {
	return projectVersionCommand(e, contracts.MethodSetActiveVersion)
}

func projectRemoveVersion(e *nearEnv) error {
	return projectVersionCommand(e, contracts.MethodRemoveVersion)
}

func projectDelete(e *nearEnv) error {
	contract, s, err := e.contractSigner(1, 1, "NAME --account OWNER --contract C")
	if err != nil {
		return err
	}
	return projectCall(e, s, contract, contracts.MethodDeleteProject, contracts.ProjectNameArgs{ProjectName: e.args[0]}, near.U128{})
}

func projectList(e *nearEnv) error {
	if err := e.need(0, 0, "--account OWNER --contract C"); err != nil {
		return err
	}
	contract, err := e.contract()
	if err != nil {
		return err
	}
	owner := e.flags["account"]
	if err := e.validAccount("--account (whose projects to list)", owner); err != nil {
		return err
	}
	var list []contracts.ProjectView
	if err := e.client.ViewFunction(e.ctx, contract, contracts.MethodListUserProjects, contracts.ListUserProjectsArgs{AccountID: owner}, &list); err != nil {
		return e.fail("%v", err)
	}
	if e.flags["json"] != "" {
		return e.printJSON(list)
	}
	if len(list) == 0 {
		fmt.Fprintf(e.errOut, "%s has no projects on %s\n", owner, contract)
		return nil
	}
	for _, p := range list {
		fmt.Fprintf(e.out, "%s\tuuid %s\tactive %s\tdeposit %s NEAR\n", p.ProjectID, p.UUID, p.ActiveVersion, near.FormatNEAR(p.StorageDeposit))
	}
	return nil
}

func projectShow(e *nearEnv) error {
	if err := e.need(1, 1, "OWNER/NAME --contract C"); err != nil {
		return err
	}
	id := e.args[0]
	if o, n, ok := strings.Cut(id, "/"); !ok || o == "" || n == "" {
		return usageError("project show: %q is not OWNER/NAME (e.g. alice.near/app)", id)
	}
	contract, err := e.contract()
	if err != nil {
		return err
	}
	var p *contracts.ProjectView
	if err := e.client.ViewFunction(e.ctx, contract, contracts.MethodGetProject, contracts.ProjectIDArgs{ProjectID: id}, &p); err != nil {
		return e.fail("%v", err)
	}
	if p == nil {
		return e.fail("%s has no project %s", contract, id)
	}
	var versions []contracts.VersionView
	for from := uint64(0); ; {
		limit := uint64(100)
		var page []contracts.VersionView
		if err := e.client.ViewFunction(e.ctx, contract, contracts.MethodListVersions,
			contracts.ListVersionsArgs{ProjectID: id, FromIndex: &from, Limit: &limit}, &page); err != nil {
			return e.fail("%v", err)
		}
		versions = append(versions, page...)
		if uint64(len(page)) < limit {
			break
		}
		from += limit
	}
	if e.flags["json"] != "" {
		return e.printJSON(struct {
			Project  *contracts.ProjectView  `json:"project"`
			Versions []contracts.VersionView `json:"versions"`
		}{p, versions})
	}
	fmt.Fprintf(e.out, "%s\n  uuid %s\n  owner %s\n  storage deposit %s NEAR\n  versions:\n", p.ProjectID, p.UUID, p.Owner, near.FormatNEAR(p.StorageDeposit))
	for _, v := range versions {
		mark := " "
		if v.IsActive {
			mark = "*"
		}
		fmt.Fprintf(e.out, "  %s %s\n", mark, v.WasmHash)
	}
	return nil
}
