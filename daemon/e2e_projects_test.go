package daemon_test

import (
	"crypto/rand"
	"encoding/json"
	"net/url"
	"testing"
	"time"

	"github.com/outlayer/outlayer/attest"
	"github.com/outlayer/outlayer/contracts"
	"github.com/outlayer/outlayer/contracts/near"
	"github.com/outlayer/outlayer/daemon"
	"github.com/outlayer/outlayer/daemon/keystore"
)

// A secret stored under a project's accessor reaches every version of the
// project: a run of the first version and, after a second version is added
// and made active, a run of that one both see it, and each sees the
// project's OUTLAYER_* variables. A secret bound to a version's WASM hash
// does not stand in for the project's. The contract requires an executor
// signature: each run's claim names the secrets it used by the project's
// identity (not the version's code), as the contract recomputes it, or the
// resolve would be refused.
func TestProjectSecretsReachEveryVersion(t *testing.T) {
	buildProjectEnv(t)
	w := newWorld(t, 50*time.Millisecond, 2400)
	w.startCluster(1, nil)
	w.requireSignatures(1)
	v1, v2 := w.wasmSource("secretenv"), w.wasmSource("projectenv")
	alice := w.alice.AccountID()
	projectID := alice + "/app"
	if _, err := w.alice.CallFunction(w.ctx, w.outlayer, contracts.MethodCreateProject,
		contracts.CreateProjectArgs{Name: "app", Source: v1}, 100*near.TGas, near.OneNEAR); err != nil {
		t.Fatalf("create_project: %v", err)
	}
	var project contracts.ProjectView
	if err := w.cl.ViewFunction(w.ctx, w.outlayer, contracts.MethodGetProject, contracts.ProjectIDArgs{ProjectID: projectID}, &project); err != nil {
		t.Fatal(err)
	}

	q := url.Values{"project": {projectID}, "owner": {alice}, "profile": {keystore.DefaultProfile}}
	var pr keystore.PubkeyResponse
	w.eventually(30*time.Second, "the node's keystore to be ready", func() bool {
		return tryGetJSON("http://"+w.node(0).HTTPAddr()+keystore.HTTPPrefix+"pubkey?"+q.Encode(), &pr) == nil
	})
	if pr.Accessor.Project == nil || pr.Seed != "project:"+projectID+":"+alice {
		t.Fatalf("pubkey answer %+v", pr)
	}
	pub, err := keystore.ParsePublicKey(pr.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	blob, err := keystore.EncryptSecrets(rand.Reader, pub, []byte(`{"API_KEY":"proj-7"}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := keystore.StoreSecrets(w.ctx, w.alice, w.outlayer, contracts.StoreSecretsArgs{
		Accessor: pr.Accessor, Profile: keystore.DefaultProfile, EncryptedSecretsBase64: blob, Access: contracts.AllowAll(),
	}); err != nil {
		t.Fatalf("storing the project's secrets: %v", err)
	}

	limits := contracts.ResourceLimits{MaxInstructions: 200_000_000, MaxMemoryMB: 64, MaxExecutionSeconds: 5}
	ref := &contracts.SecretsRef{Profile: keystore.DefaultProfile, AccountID: alice}
	run := func(src contracts.ExecutionSource) (string, outcome) {
		t.Helper()
		input := ""
		h := w.send(w.alice, w.outlayer, contracts.MethodRequestExecution, contracts.RequestExecutionArgs{
			Source: &src, ResourceLimits: &limits, InputData: &input, ResponseFormat: contracts.FormatText, SecretsRef: ref,
		}, nearAmount(t, "1"))
		o := parseOutcome(t, w.final(h, alice, time.Minute))
		var got string
		if err := o.out.DecodeResult(&got); err != nil || len(o.completed) != 1 || !o.completed[0].Success {
			msg := ""
			if len(o.completed) == 1 && o.completed[0].ErrorMessage != nil {
				msg = *o.completed[0].ErrorMessage
			}
			t.Fatalf("run of %+v: %q %v %s", src, got, err, msg)
		}
		return got, o
	}
	active := contracts.ExecutionSource{Project: &contracts.ProjectSource{ProjectID: projectID}}

	// Version 1 (active) sees the project's secret.
	if got, _ := run(active); got != "key=proj-7" {
		t.Fatalf("version 1 printed %q", got)
	}

	// Version 2, added and made active, sees the same secret and the
	// project's variables.
	if _, err := w.alice.CallFunction(w.ctx, w.outlayer, contracts.MethodAddVersion,
		contracts.AddVersionArgs{ProjectName: "app", Source: v2, SetActive: true}, 100*near.TGas, near.OneNEAR); err != nil {
		t.Fatalf("add_version: %v", err)
	}
	got, o := run(active)
	var env map[string]string
	if err := json.Unmarshal([]byte(got), &env); err != nil {
		t.Fatalf("version 2 printed %q: %v", got, err)
	}
	want := map[string]string{
		"API_KEY": "proj-7", "OUTLAYER_EXECUTION_TYPE": "NEAR", "OUTLAYER_PROJECT_ID": projectID,
		"OUTLAYER_PROJECT_OWNER": alice, "OUTLAYER_PROJECT_NAME": "app", "OUTLAYER_PROJECT_UUID": project.UUID,
		"NEAR_SENDER_ID": alice, "NEAR_USER_ACCOUNT_ID": alice, "NEAR_PREDECESSOR_ID": alice,
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("version 2 sees %s=%q, want %q", k, env[k], v)
		}
	}
	j := w.job(o.requestID, 10*time.Second)
	if j.ProjectID != projectID || j.ProjectUUID != project.UUID || j.Signer != alice || j.Code.Wasm == nil || j.Code.Wasm.Hash != v2.WasmURL.Hash {
		t.Fatalf("job project %q uuid %q signer %q code %+v", j.ProjectID, j.ProjectUUID, j.Signer, j.Code)
	}
	// The claim names the project's secrets, which the keystore used, and
	// the contract agreed (it checked the signature over its own claim).
	cr, err := daemon.ClaimRequestFor("any", w.outlayer, j)
	if err != nil {
		t.Fatal(err)
	}
	claim, err := cr.Claim([32]byte{}, contracts.ExecutionResponse{Success: true})
	if err != nil {
		t.Fatal(err)
	}
	if claim.SecretsID != attest.SecretsIdentity(alice, keystore.DefaultProfile, "Project", projectID) {
		t.Fatalf("the claim's secrets identity %x is not the project's", claim.SecretsID)
	}
	if signers := w.resolveSigners(j); len(signers) != 1 {
		t.Fatalf("the project run was resolved with signatures %v, want the executor's", signers)
	}

	// Version 1 by name still sees it.
	v1Key := v1.VersionKey()
	if got, _ := run(contracts.ExecutionSource{Project: &contracts.ProjectSource{ProjectID: projectID, VersionKey: &v1Key}}); got != "key=proj-7" {
		t.Fatalf("version 1 by name printed %q", got)
	}
	// The same code run outside the project does not get the project's
	// secret: there is none under its WASM hash.
	h := w.send(w.alice, w.outlayer, contracts.MethodRequestExecution, contracts.RequestExecutionArgs{
		CodeSource: v1, ResourceLimits: &limits, ResponseFormat: contracts.FormatText, SecretsRef: ref,
	}, nearAmount(t, "1"))
	outside := parseOutcome(t, w.final(h, alice, time.Minute))
	if len(outside.completed) != 1 || outside.completed[0].Success {
		t.Fatalf("a run outside the project succeeded: %+v", outside.completed)
	}
}

// buildProjectEnv builds projectenv (before the world, whose file server
// serves the programs built by then).
func buildProjectEnv(t *testing.T) {
	t.Helper()
	if programs["projectenv"] == nil {
		if err := buildSource(t.TempDir(), "projectenv", projectEnvMain); err != nil {
			t.Fatal(err)
		}
	}
}

// projectEnvMain prints, as a JSON object, API_KEY and the variables a
// project's run sees.
const projectEnvMain = `package main

import (
	"encoding/json"
	"os"
)

func main() {
	out := map[string]string{}
	for _, k := range []string{"API_KEY", "OUTLAYER_EXECUTION_TYPE", "OUTLAYER_PROJECT_ID", "OUTLAYER_PROJECT_OWNER",
		"OUTLAYER_PROJECT_NAME", "OUTLAYER_PROJECT_UUID", "NEAR_SENDER_ID", "NEAR_USER_ACCOUNT_ID", "NEAR_PREDECESSOR_ID"} {
		out[k] = os.Getenv(k)
	}
	json.NewEncoder(os.Stdout).Encode(out)
}
`
