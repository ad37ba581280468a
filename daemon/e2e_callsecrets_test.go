package daemon_test

import (
	"crypto/rand"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/outlayer/outlayer/contracts"
	"github.com/outlayer/outlayer/contracts/near"
	"github.com/outlayer/outlayer/daemon"
	"github.com/outlayer/outlayer/daemon/keystore"
)

// storeSecrets encrypts plaintext to the key node 0's keystore gives the
// identity (accessor, owner s, profile), as `outlayerd secrets store` does,
// and stores it on the contract with the access condition.
func (w *world) storeSecrets(s *near.Signer, acc contracts.SecretAccessor, profile, plaintext string, access contracts.AccessCondition) {
	w.t.Helper()
	q := url.Values{"owner": {s.AccountID()}, "profile": {profile}}
	switch {
	case acc.Project != nil:
		q.Set("project", acc.Project.ProjectID)
	case acc.WasmHash != nil:
		q.Set("wasm_hash", acc.WasmHash.Hash)
	default:
		w.t.Fatalf("storeSecrets: accessor %+v", acc)
	}
	var pr keystore.PubkeyResponse
	w.eventually(30*time.Second, "the node's keystore to be ready", func() bool {
		return tryGetJSON("http://"+w.node(0).HTTPAddr()+keystore.HTTPPrefix+"pubkey?"+q.Encode(), &pr) == nil
	})
	pub, err := keystore.ParsePublicKey(pr.PublicKey)
	if err != nil {
		w.t.Fatal(err)
	}
	blob, err := keystore.EncryptSecrets(rand.Reader, pub, []byte(plaintext))
	if err != nil {
		w.t.Fatal(err)
	}
	if _, _, err := keystore.StoreSecrets(w.ctx, s, w.outlayer, contracts.StoreSecretsArgs{
		Accessor: pr.Accessor, Profile: profile, EncryptedSecretsBase64: blob, Access: access,
	}); err != nil {
		w.t.Fatalf("storing %s's secrets %q: %v", s.AccountID(), profile, err)
	}
}

// An HTTPS call with secrets_ref reads the project's secrets, with the
// checks of a request from the chain: the caller (the payment key's owner)
// must satisfy the access condition, and only secrets stored for the
// project count. Every refusal is clear, comes before anything is
// reserved, and leaves the key as it was; a changed condition is honoured
// by the next call.
func TestHTTPSCallReadsProjectSecretsItMay(t *testing.T) {
	buildProjectEnv(t)
	w := newWorld(t, 50*time.Millisecond, 600)
	w.startCluster(1, nil)
	bob := w.account("bob", 10)
	alice := w.alice.AccountID()
	code := w.wasmSource("projectenv")
	for _, p := range []struct {
		s    *near.Signer
		name string
	}{{w.alice, "app"}, {bob, "other"}} {
		if _, err := p.s.CallFunction(w.ctx, w.outlayer, contracts.MethodCreateProject,
			contracts.CreateProjectArgs{Name: p.name, Source: code}, 100*near.TGas, near.OneNEAR); err != nil {
			t.Fatalf("create_project %s: %v", p.name, err)
		}
	}
	app, other := alice+"/app", bob.AccountID()+"/other"
	project := func(id string) contracts.SecretAccessor {
		return contracts.SecretAccessor{Project: &contracts.ProjectAccessor{ProjectID: id}}
	}
	whitelist := func(a ...string) contracts.AccessCondition {
		return contracts.AccessCondition{Kind: contracts.AccessWhitelist, Accounts: a}
	}
	// The project's secret, for carol only; bob's own secret for the same
	// project, for bob only; bob's secret for his other project, and
	// alice's secret for the project's code (its WASM hash), for anyone.
	w.storeSecrets(w.alice, project(app), "default", `{"API_KEY":"proj-https"}`, whitelist("carol.near"))
	w.storeSecrets(bob, project(app), "default", `{"API_KEY":"bobs"}`, whitelist(bob.AccountID()))
	w.storeSecrets(bob, project(other), "other", `{"API_KEY":"other-project"}`, contracts.AllowAll())
	w.storeSecrets(w.alice, contracts.SecretAccessor{WasmHash: &contracts.WasmHashAccessor{Hash: code.WasmURL.Hash}}, "wasm",
		`{"API_KEY":"by-hash"}`, contracts.AllowAll())

	carol := w.newKey("carol.near", 1, 1_000_000)
	dave := w.newKey("dave.near", 1, 1_000_000)
	ref := func(profile, owner string) map[string]any {
		return map[string]any{"input": 1, "secrets_ref": map[string]string{"profile": profile, "account_id": owner}}
	}

	r := w.call(0, carol, app, ref("default", alice), nil)
	var resp daemon.CallResponse
	if r.status != 200 {
		t.Fatalf("carol's call: %d %s %v", r.status, r.body, r.err)
	}
	r.decode(t, &resp)
	var env map[string]string
	if err := json.Unmarshal(resp.Output, &env); err != nil || resp.Status != "completed" {
		t.Fatalf("carol's call answered %s (%v)", r.body, err)
	}
	if env["API_KEY"] != "proj-https" || env["OUTLAYER_PROJECT_ID"] != app {
		t.Fatalf("the program saw API_KEY=%q in project %q, want proj-https in %s", env["API_KEY"], env["OUTLAYER_PROJECT_ID"], app)
	}

	for _, c := range []struct {
		name   string
		key    payKey
		body   map[string]any
		status int
		msg    string
	}{
		{"a caller the condition does not allow", dave, ref("default", alice), 403, "dave.near does not satisfy the access condition"},
		{"another owner's secret", carol, ref("default", bob.AccountID()), 403, "carol.near does not satisfy the access condition"},
		{"a wrong profile", carol, ref("nope", alice), 404, `no secrets profile \"nope\" of ` + alice + " for project " + app},
		{"a secret bound to another project", carol, ref("other", bob.AccountID()), 404, "for project " + app},
		{"a secret bound to the code, not the project", carol, ref("wasm", alice), 404, "for project " + app},
		{"no profile", carol, ref("", alice), 400, "secrets_ref"},
		{"a malformed owner", carol, ref("default", "Alice!"), 400, "secrets_ref"},
	} {
		r := w.call(0, c.key, app, c.body, nil)
		if r.status != c.status || !strings.Contains(string(r.body), c.msg) {
			t.Errorf("%s: %d %s, want %d with %q", c.name, r.status, r.body, c.status, c.msg)
		}
	}

	// Only carol's one call ran and was charged; the refusals reserved
	// nothing and are not calls.
	charged, calls := w.settledCharges(0, carol, 30*time.Second)
	if got := w.keyState(0, carol); calls != 1 || got.Spent != charged || got.Reserved != 0 {
		t.Fatalf("carol's key %+v after one call charged %d and six refusals", got, charged)
	}
	if got := w.keyState(0, dave); got.Calls != 0 || got.Spent != 0 || got.Reserved != 0 {
		t.Fatalf("dave's refused call changed his key: %+v", got)
	}

	// The condition is read again for every call: once alice takes carol
	// off the list, carol's next call is refused.
	w.storeSecrets(w.alice, project(app), "default", `{"API_KEY":"proj-https"}`, whitelist("erin.near"))
	if r := w.call(0, carol, app, ref("default", alice), nil); r.status != 403 || !strings.Contains(string(r.body), "erin.near") {
		t.Fatalf("carol's call after the condition changed: %d %s", r.status, r.body)
	}
	if got := w.keyState(0, carol); got.Calls != 1 {
		t.Fatalf("the refused call counted: %+v", got)
	}
}
