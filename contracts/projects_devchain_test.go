package contracts_test

import (
	"encoding/json"
	"math/big"
	"strings"
	"testing"

	"github.com/outlayer/outlayer/contracts"
	"github.com/outlayer/outlayer/contracts/near"
)

// Tests of upstream HEAD's interface: the `source` argument in every
// variant, the older `code_source`, and projects with their versions and
// storage deposits, on the devchain with the committed contract.

const headRepo = "https://github.com/alice/app"

func headGitHub(commit string) contracts.CodeSource {
	target := "wasm32-wasip2"
	return contracts.CodeSource{GitHub: &contracts.GitHubSource{Repo: headRepo, Commit: commit, BuildTarget: &target}}
}

func wasmSourceHash(h string) contracts.CodeSource {
	return contracts.CodeSource{WasmURL: &contracts.WasmURLSource{URL: "https://example.com/" + h[:8] + ".wasm", Hash: h}}
}

// createProject creates signer's project and returns what the call kept.
func (w *world) createProject(s *near.Signer, name string, src contracts.CodeSource) (near.U128, *near.FinalExecutionOutcome) {
	w.t.Helper()
	before := w.balance(s.AccountID())
	out, err := w.call(s, w.outlayer.AccountID(), contracts.MethodCreateProject, contracts.CreateProjectArgs{Name: name, Source: src}, near.OneNEAR)
	if err != nil {
		w.t.Fatalf("create_project %s: %v", name, err)
	}
	return sub(sub(before, w.balance(s.AccountID())), burnt(out)), out
}

// runThroughCaller has the sample caller forward args (raw JSON, exactly
// as a caller written against upstream sends them) to request_execution,
// checks the stored request, resolves it with output and returns the
// pending request and what the caller's callback received.
func (w *world) runThroughCaller(args map[string]json.RawMessage, output string) (contracts.ExecutionRequest, string, *near.FinalExecutionOutcome) {
	w.t.Helper()
	args["outlayer"], _ = json.Marshal(w.outlayer.AccountID())
	limits := contracts.DefaultResourceLimits()
	deposit := contracts.DefaultPricing().Estimate(limits)
	h := w.send(w.alice, w.caller, "run", args, deposit)
	req := w.waitPending(1)[0]
	if _, err := w.resolve(w.operator, req, contracts.ExecutionResponse{
		Success: true, Output: contracts.TextOutput(output), ResourcesUsed: contracts.ResourceMetrics{Instructions: 1, TimeMs: 1},
	}); err != nil {
		w.t.Fatalf("resolve: %v", err)
	}
	out := w.final(h, w.alice.AccountID())
	var got string
	if err := out.DecodeResult(&got); err != nil {
		w.t.Fatalf("caller's result: %v (logs %q)", err, out.Logs())
	}
	return req, got, out
}

func raw(t *testing.T, s string) json.RawMessage {
	t.Helper()
	if !json.Valid([]byte(s)) {
		t.Fatalf("invalid JSON %s", s)
	}
	return json.RawMessage(s)
}

func mustJSON(t *testing.T, v any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A caller sending upstream HEAD's request_execution JSON with each source
// variant, and one sending the older code_source, all get their callbacks;
// the stored request and the event carry the resolved source and, for a
// Project, its id and contract-issued uuid.
func TestSourceVariantsAndCodeSourceGetCallbacks(t *testing.T) {
	w := newWorld(t)
	v1 := wasmSourceHash(strings.Repeat("a1", 32))
	v2 := headGitHub("0123456789abcdef0123456789abcdef01234567")
	w.createProject(w.alice, "app", v1)
	if _, err := w.call(w.alice, w.outlayer.AccountID(), contracts.MethodAddVersion,
		contracts.AddVersionArgs{ProjectName: "app", Source: v2}, near.OneNEAR); err != nil {
		t.Fatalf("add_version: %v", err)
	}
	projectID := w.alice.AccountID() + "/app"
	var project contracts.ProjectView
	w.view(w.outlayer.AccountID(), contracts.MethodGetProject, contracts.ProjectIDArgs{ProjectID: projectID}, &project)

	// HEAD's params with every field a HEAD caller sends, at their defaults.
	headParams := raw(t, `{"force_rebuild":false,"store_on_fastfs":false,"compile_only":false,"project_uuid":null,"attached_usd":"0","use_bound_identity":false}`)
	limits := raw(t, `{"max_instructions":1000000000,"max_memory_mb":128,"max_execution_seconds":60}`)
	cases := []struct {
		name        string
		key         string // "source" or "code_source"
		source      json.RawMessage
		wantCode    contracts.CodeSource
		wantProject bool
	}{
		{"GitHub", "source", mustJSON(t, v2), v2, false},
		{"WasmUrl", "source", raw(t, `{"WasmUrl":{"url":"https://example.com/p.wasm","hash":"`+strings.Repeat("AB", 32)+`","build_target":null}}`), wasmSource(), false},
		{"Project active", "source", raw(t, `{"Project":{"project_id":"`+projectID+`","version_key":null}}`), v1, true},
		{"Project no version_key", "source", raw(t, `{"Project":{"project_id":"`+projectID+`"}}`), v1, true},
		{"Project named version", "source", raw(t, `{"Project":{"project_id":"`+projectID+`","version_key":"`+v2.VersionKey()+`"}}`), v2, true},
		{"code_source", "code_source", mustJSON(t, wasmSource()), wasmSource(), false},
	}
	for i, c := range cases {
		args := map[string]json.RawMessage{
			c.key:              c.source,
			"resource_limits":  limits,
			"input_data":       raw(t, `"{\"n\":1}"`),
			"secrets_ref":      raw(t, `null`),
			"response_format":  raw(t, `"Text"`),
			"payer_account_id": raw(t, `null`),
		}
		if c.key == "source" {
			args["params"] = headParams
		}
		output := "out " + c.name
		req, got, out := w.runThroughCaller(args, output)
		if got != output {
			t.Fatalf("%s: caller received %q, want %q", c.name, got, output)
		}
		wantCode, _ := json.Marshal(c.wantCode)
		gotCode, _ := json.Marshal(req.CodeSource)
		gotResolved, _ := json.Marshal(req.ResolvedSource)
		if string(gotCode) != string(wantCode) || string(gotResolved) != string(wantCode) {
			t.Errorf("%s: code_source %s, resolved_source %s, want %s", c.name, gotCode, gotResolved, wantCode)
		}
		if (req.ProjectID != nil) != c.wantProject || c.wantProject && (*req.ProjectID != projectID || req.ProjectUUID == nil || *req.ProjectUUID != project.UUID) {
			t.Errorf("%s: project %v / %v, want %v", c.name, req.ProjectID, req.ProjectUUID, c.wantProject)
		}
		if c.wantProject && req.ExecutionSource.Project == nil {
			t.Errorf("%s: execution_source %+v is not the Project source sent", c.name, req.ExecutionSource)
		}
		if req.SenderID != w.caller || req.SignerID != w.alice.AccountID() {
			t.Errorf("%s: sender %s signer %s", c.name, req.SenderID, req.SignerID)
		}
		evs, err := contracts.OutLayerEvents(out.Logs())
		if err != nil || len(evs) != 2 {
			t.Fatalf("%s: events %v, %v", c.name, evs, err)
		}
		var requested contracts.ExecutionRequested
		if err := evs[0].Decode(contracts.EventExecutionRequested, &requested); err != nil {
			t.Fatal(err)
		}
		rd := requested.RequestData
		if rd.RequestID != req.RequestID || rd.SenderID != w.alice.AccountID() || rd.PredecessorID != w.caller ||
			!rd.AttachedUSD.IsZero() || rd.UseBoundIdentity || (rd.ProjectUUID != nil) != c.wantProject {
			t.Errorf("%s: request_data %+v", c.name, rd)
		}
		if c.wantProject && (*rd.ProjectUUID != project.UUID || *rd.ProjectID != projectID) {
			t.Errorf("%s: request_data project %s %s", c.name, *rd.ProjectID, *rd.ProjectUUID)
		}
		var completed contracts.ExecutionCompleted
		if err := evs[1].Decode(contracts.EventExecutionCompleted, &completed); err != nil {
			t.Fatal(err)
		}
		if completed.SenderID != w.alice.AccountID() || completed.PredecessorID != w.caller || !completed.Success {
			t.Errorf("%s: execution_completed %+v", c.name, completed)
		}
		var count uint64
		w.view(w.caller, "get_count", nil, &count)
		if count != uint64(i+1) {
			t.Fatalf("%s: caller count %d", c.name, count)
		}
	}

	// What a HEAD caller can get wrong is refused with a message, and the
	// state is unchanged.
	before := w.state(w.outlayer.AccountID())
	deposit := contracts.DefaultPricing().Estimate(contracts.DefaultResourceLimits())
	bad := []struct {
		args map[string]any
		want string
	}{
		{map[string]any{"source": json.RawMessage(`{"Project":{"project_id":"nobody.test/app"}}`)}, "Project not found"},
		{map[string]any{"source": json.RawMessage(`{"Project":{"project_id":"` + projectID + `","version_key":"nope"}}`)}, "Version not found"},
		{map[string]any{"source": v2, "code_source": v2}, "not both"},
		{map[string]any{}, "missing field `source`"},
		{map[string]any{"source": json.RawMessage(`{"Ipfs":{}}`)}, "unknown variant, expected `GitHub`, `WasmUrl` or `Project`"},
		{map[string]any{"source": json.RawMessage(`[1]`)}, "expected {\"GitHub\""},
		{map[string]any{"source": v2, "params": map[string]any{"project_uuid": project.UUID}}, "project_uuid is set by the contract"},
		{map[string]any{"source": v2, "params": map[string]any{"attached_usd": "5"}}, "attached_usd is not supported"},
		{map[string]any{"source": v2, "params": map[string]any{"use_bound_identity": true}}, "use_bound_identity is not supported"},
		{map[string]any{"source": json.RawMessage(`{"Project":{"project_id":"` + projectID + `"}}`), "params": map[string]any{"force_rebuild": true}}, "force_rebuild is not applicable for WasmUrl"},
	}
	for _, b := range bad {
		b.args["resource_limits"] = contracts.DefaultResourceLimits()
		_, err := w.call(w.alice, w.outlayer.AccountID(), contracts.MethodRequestExecution, b.args, deposit)
		mustPanic(t, err, b.want)
	}
	if after := w.state(w.outlayer.AccountID()); after != before {
		t.Errorf("refused requests changed the contract state")
	}
}

// withoutKey drops one entry from a world.state listing.
func withoutKey(state, key string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(state, "\n") {
		if !strings.HasPrefix(l, `"`+key+`"=`) {
			b.WriteString(l)
		}
	}
	return b.String()
}

func u128(n uint64) near.U128 { return near.U128{Lo: n} }

func mulPrice(bytes uint64) near.U128 {
	v := new(big.Int).Mul(new(big.Int).SetUint64(bytes), new(big.Int).SetUint64(contracts.StoragePricePerByte))
	u, _ := near.U128FromBig(v)
	return u
}

// The project lifecycle: each call keeps exactly the deposit it records
// and refunds the rest, every recorded deposit covers the bytes the
// contract holds, and removing a version or deleting the project gives
// every deposit back and leaves no entry behind.
func TestProjectLifecycleDepositsAndRefunds(t *testing.T) {
	w := newWorld(t)
	c := w.outlayer.AccountID()
	alice := w.alice.AccountID()
	v1 := wasmSourceHash(strings.Repeat("c3", 32))
	v2 := headGitHub("main")
	stateBefore := w.state(c)
	usageBefore := w.storageUsage(c)
	contractBefore := w.balance(c)

	// Refusals change nothing.
	for _, b := range []struct {
		args    contracts.CreateProjectArgs
		deposit near.U128
		want    string
	}{
		{contracts.CreateProjectArgs{Name: "", Source: v1}, near.OneNEAR, "Project name cannot be empty"},
		{contracts.CreateProjectArgs{Name: strings.Repeat("x", 65), Source: v1}, near.OneNEAR, "too long"},
		{contracts.CreateProjectArgs{Name: "a/b", Source: v1}, near.OneNEAR, "may contain only"},
		{contracts.CreateProjectArgs{Name: "app", Source: v1}, u128(1000), "Insufficient storage deposit. Required: "},
	} {
		_, err := w.call(w.alice, c, contracts.MethodCreateProject, b.args, b.deposit)
		mustPanic(t, err, b.want)
	}
	if w.state(c) != stateBefore {
		t.Fatal("refused create_project calls changed the state")
	}

	kept, out := w.createProject(w.alice, "app", v1)
	var projectID string
	if err := out.DecodeResult(&projectID); err != nil || projectID != alice+"/app" {
		t.Fatalf("create_project returned %q, %v", projectID, err)
	}
	// Unicode names pass, as upstream's char::is_alphanumeric allows.
	keptUni, _ := w.createProject(w.alice, "прил_1", v1)
	var p contracts.ProjectView
	w.view(c, contracts.MethodGetProject, contracts.ProjectIDArgs{ProjectID: projectID}, &p)
	if p.Owner != alice || p.Name != "app" || p.ActiveVersion != v1.VersionKey() || p.StorageDeposit != kept ||
		len(p.UUID) != 17 || p.UUID[0] != 'p' || p.UUID != "p0000000000000001" {
		t.Fatalf("project = %+v, kept %s", p, kept)
	}
	if used := w.storageUsage(c) - usageBefore; mulPrice(used).Cmp(add(kept, keptUni)) > 0 {
		t.Fatalf("contract holds %d new bytes, deposits %s + %s do not cover them", used, kept, keptUni)
	}
	if got := w.balance(c); got != add(contractBefore, add(kept, keptUni)) {
		t.Fatalf("contract balance %s -> %s, want + %s + %s", contractBefore, got, kept, keptUni)
	}
	_, err := w.call(w.alice, c, contracts.MethodCreateProject, contracts.CreateProjectArgs{Name: "app", Source: v2}, near.OneNEAR)
	mustPanic(t, err, "Project '"+projectID+"' already exists")

	// A second version, not active; a duplicate is refused.
	aliceBefore := w.balance(alice)
	av, err := w.call(w.alice, c, contracts.MethodAddVersion, contracts.AddVersionArgs{ProjectName: "app", Source: v2}, near.OneNEAR)
	if err != nil {
		t.Fatalf("add_version: %v", err)
	}
	var ver contracts.VersionView
	w.view(c, contracts.MethodGetVersion, contracts.GetVersionArgs{ProjectID: projectID, VersionKey: v2.VersionKey()}, &ver)
	if ver.WasmHash != headRepo+"@main" || ver.IsActive || ver.StorageDeposit.IsZero() {
		t.Fatalf("version = %+v", ver)
	}
	if got := w.balance(alice); got != sub(sub(aliceBefore, burnt(av)), ver.StorageDeposit) {
		t.Fatalf("alice paid %s for add_version, want %s", sub(sub(aliceBefore, got), burnt(av)), ver.StorageDeposit)
	}
	_, err = w.call(w.alice, c, contracts.MethodAddVersion, contracts.AddVersionArgs{ProjectName: "app", Source: v2}, near.OneNEAR)
	mustPanic(t, err, "already exists in project")
	// Only the owner reaches a project: another account's call names its own.
	_, err = w.call(w.owner, c, contracts.MethodAddVersion, contracts.AddVersionArgs{ProjectName: "app", Source: v2}, near.OneNEAR)
	mustPanic(t, err, "Project not found")

	var versions []contracts.VersionView
	w.view(c, contracts.MethodListVersions, contracts.ListVersionsArgs{ProjectID: projectID}, &versions)
	if len(versions) != 2 || versions[0].WasmHash != v1.VersionKey() || !versions[0].IsActive || versions[1].IsActive {
		t.Fatalf("list_versions = %+v", versions)
	}
	one := uint64(1)
	w.view(c, contracts.MethodListVersions, contracts.ListVersionsArgs{ProjectID: projectID, FromIndex: &one, Limit: &one}, &versions)
	if len(versions) != 1 || versions[0].WasmHash != v2.VersionKey() {
		t.Fatalf("list_versions page = %+v", versions)
	}
	var count uint64
	w.view(c, contracts.MethodGetVersionCount, contracts.ProjectIDArgs{ProjectID: projectID}, &count)
	if count != 2 {
		t.Fatalf("get_version_count = %d", count)
	}
	var mine []contracts.ProjectView
	w.view(c, contracts.MethodListUserProjects, contracts.ListUserProjectsArgs{AccountID: alice}, &mine)
	if len(mine) != 2 || mine[0].Name != "app" || mine[1].Name != "прил_1" || mine[0].StorageDeposit != add(kept, ver.StorageDeposit) {
		t.Fatalf("list_user_projects = %+v", mine)
	}

	// Switch the active version; the active one cannot be removed.
	if _, err := w.call(w.alice, c, contracts.MethodSetActiveVersion, contracts.ProjectVersionArgs{ProjectName: "app", VersionKey: v2.VersionKey()}, near.U128{}); err != nil {
		t.Fatalf("set_active_version: %v", err)
	}
	_, err = w.call(w.alice, c, contracts.MethodSetActiveVersion, contracts.ProjectVersionArgs{ProjectName: "app", VersionKey: "nope"}, near.U128{})
	mustPanic(t, err, "Version 'nope' not found in project")
	_, err = w.call(w.alice, c, contracts.MethodRemoveVersion, contracts.ProjectVersionArgs{ProjectName: "app", VersionKey: v2.VersionKey()}, near.U128{})
	mustPanic(t, err, "Cannot remove active version")
	if used := w.storageUsage(c) - usageBefore; mulPrice(used).Cmp(add(add(kept, keptUni), ver.StorageDeposit)) > 0 {
		t.Fatalf("after switching versions the contract holds %d new bytes, more than the deposits cover", used)
	}

	// Removing v1 refunds exactly its recorded deposit.
	var v1View contracts.VersionView
	w.view(c, contracts.MethodGetVersion, contracts.GetVersionArgs{ProjectID: projectID, VersionKey: v1.VersionKey()}, &v1View)
	aliceBefore = w.balance(alice)
	rv, err := w.call(w.alice, c, contracts.MethodRemoveVersion, contracts.ProjectVersionArgs{ProjectName: "app", VersionKey: v1.VersionKey()}, near.U128{})
	if err != nil {
		t.Fatalf("remove_version: %v", err)
	}
	if got := w.balance(alice); got != sub(add(aliceBefore, v1View.StorageDeposit), burnt(rv)) {
		t.Fatalf("remove_version refunded %s, want %s", sub(add(got, burnt(rv)), aliceBefore), v1View.StorageDeposit)
	}

	// Delete both projects: every deposit comes back, no entry stays.
	for _, name := range []string{"app", "прил_1"} {
		var pv contracts.ProjectView
		w.view(c, contracts.MethodGetProject, contracts.ProjectIDArgs{ProjectID: alice + "/" + name}, &pv)
		aliceBefore = w.balance(alice)
		del, err := w.call(w.alice, c, contracts.MethodDeleteProject, contracts.ProjectNameArgs{ProjectName: name}, near.U128{})
		if err != nil {
			t.Fatalf("delete_project %s: %v", name, err)
		}
		if got := w.balance(alice); got != sub(add(aliceBefore, pv.StorageDeposit), burnt(del)) {
			t.Fatalf("delete_project %s refunded %s, want %s", name, sub(add(got, burnt(del)), aliceBefore), pv.StorageDeposit)
		}
		evs, _ := contracts.OutLayerEvents(del.Logs())
		var cleanup struct {
			C contracts.ProjectStorageCleanup `json:"ProjectStorageCleanup"`
		}
		if len(evs) != 2 || evs[0].Decode(contracts.EventSystem, &cleanup) != nil || cleanup.C.ProjectUUID != pv.UUID {
			t.Fatalf("delete_project events %v", del.Logs())
		}
	}
	// Only the project counter stays (uuids are never reused).
	if got := withoutKey(w.state(c), "pn"); got != stateBefore {
		t.Fatalf("state after deleting every project differs from before:\n%s\nwant\n%s", got, stateBefore)
	}
	if got := w.balance(c); got != contractBefore {
		t.Fatalf("contract balance %s after every refund, want %s", got, contractBefore)
	}
	_, err = w.call(w.alice, c, contracts.MethodRequestExecution, map[string]any{
		"source":          json.RawMessage(`{"Project":{"project_id":"` + projectID + `"}}`),
		"resource_limits": contracts.DefaultResourceLimits(),
	}, contracts.DefaultPricing().Estimate(contracts.DefaultResourceLimits()))
	mustPanic(t, err, "Project not found")
}

// transfer_project re-keys a project to the new owner with its uuid; the
// move is paid for by the attached deposit, the new owner alone reaches it,
// and deleting it there returns every deposit held for it.
func TestProjectTransfer(t *testing.T) {
	w := newWorld(t)
	c := w.outlayer.AccountID()
	// A longer account id: the move adds bytes, which the transfer pays for.
	newOwner, err := w.fx.Account(w.ctx, "longerowner", 10)
	if err != nil {
		t.Fatal(err)
	}
	alice, owner := w.alice.AccountID(), newOwner.AccountID()
	stateBefore := w.state(c)
	contractBefore := w.balance(c)
	w.createProject(w.alice, "t", wasmSourceHash(strings.Repeat("d4", 32)))
	var before contracts.ProjectView
	w.view(c, contracts.MethodGetProject, contracts.ProjectIDArgs{ProjectID: alice + "/t"}, &before)

	_, err = w.call(w.alice, c, contracts.MethodTransferProject, contracts.TransferProjectArgs{ProjectName: "t", NewOwner: owner}, near.U128{})
	mustPanic(t, err, "Insufficient storage deposit")
	if _, err := w.call(w.alice, c, contracts.MethodTransferProject, contracts.TransferProjectArgs{ProjectName: "t", NewOwner: owner}, near.OneNEAR); err != nil {
		t.Fatalf("transfer_project: %v", err)
	}
	var gone *contracts.ProjectView
	w.view(c, contracts.MethodGetProject, contracts.ProjectIDArgs{ProjectID: alice + "/t"}, &gone)
	var moved contracts.ProjectView
	w.view(c, contracts.MethodGetProject, contracts.ProjectIDArgs{ProjectID: owner + "/t"}, &moved)
	grown := mulPrice(3 * uint64(len(owner)-len(alice))) // the record's key, its owner field, the index's key
	if gone != nil || moved.UUID != before.UUID || moved.Owner != owner || moved.ActiveVersion != before.ActiveVersion ||
		moved.StorageDeposit != add(before.StorageDeposit, grown) {
		t.Fatalf("after transfer: old %+v, new %+v", gone, moved)
	}
	var mine []contracts.ProjectView
	w.view(c, contracts.MethodListUserProjects, contracts.ListUserProjectsArgs{AccountID: alice}, &mine)
	if len(mine) != 0 {
		t.Fatalf("alice still lists %+v", mine)
	}
	_, err = w.call(w.alice, c, contracts.MethodDeleteProject, contracts.ProjectNameArgs{ProjectName: "t"}, near.U128{})
	mustPanic(t, err, "Project not found")
	ownerBefore := w.balance(owner)
	del, err := w.call(newOwner, c, contracts.MethodDeleteProject, contracts.ProjectNameArgs{ProjectName: "t"}, near.U128{})
	if err != nil {
		t.Fatalf("delete_project by the new owner: %v", err)
	}
	if got := w.balance(owner); got != sub(add(ownerBefore, moved.StorageDeposit), burnt(del)) {
		t.Fatalf("the new owner got %s back, want %s", sub(add(got, burnt(del)), ownerBefore), moved.StorageDeposit)
	}
	if got := withoutKey(w.state(c), "pn"); got != stateBefore {
		t.Fatalf("state after the transferred project's delete differs:\n%s\nwant\n%s", got, stateBefore)
	}
	if got := w.balance(c); got != contractBefore {
		t.Fatalf("contract balance %s, want %s: a deposit was kept or paid twice", got, contractBefore)
	}
}
