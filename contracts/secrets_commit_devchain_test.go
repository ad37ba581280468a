package contracts_test

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/outlayer/outlayer/contracts"
	"github.com/outlayer/outlayer/contracts/near"
)

// Secrets bound to one commit are found only for that commit; any other
// commit or branch falls back to the repository-wide entry, whose id is the
// same as before commit binding existed.
func TestCommitBoundSecrets(t *testing.T) {
	w := newWorld(t)
	contract := w.outlayer.AccountID()
	sha := strings.Repeat("c0", 20)
	repoWide := contracts.SecretAccessor{Repo: &contracts.RepoAccessor{Repo: "github.com/alice/app"}}
	pinned := contracts.SecretAccessor{Repo: &contracts.RepoAccessor{Repo: "github.com/alice/app", Commit: ptr(strings.ToUpper(sha))}}
	store := func(a contracts.SecretAccessor, blob string) error {
		_, err := w.call(w.alice, contract, contracts.MethodStoreSecrets, contracts.StoreSecretsArgs{Accessor: a, Profile: "default",
			EncryptedSecretsBase64: base64.StdEncoding.EncodeToString([]byte(blob)), Access: contracts.AllowAll()}, near.OneNEAR)
		return err
	}
	if err := store(repoWide, "repo-wide"); err != nil {
		t.Fatal(err)
	}
	if err := store(pinned, "pinned"); err != nil {
		t.Fatal(err)
	}
	mustPanic(t, store(contracts.SecretAccessor{Repo: &contracts.RepoAccessor{Repo: "github.com/alice/app", Commit: ptr("abc123")}}, "x"),
		"expected null or a full commit hash (40 hex characters)")
	mustPanic(t, store(contracts.SecretAccessor{Repo: &contracts.RepoAccessor{Repo: "github.com/alice/app", Commit: ptr(sha), Branch: ptr("main")}}, "x"),
		"give a branch or a commit, not both")

	get := func(a contracts.SecretAccessor) string {
		t.Helper()
		var v *contracts.SecretProfileView
		w.view(contract, contracts.MethodGetSecrets, contracts.GetSecretsArgs{Accessor: a, Profile: "default", Owner: w.alice.AccountID()}, &v)
		if v == nil {
			t.Fatalf("get_secrets(%+v) = null", a.Repo)
		}
		b, _ := base64.StdEncoding.DecodeString(v.EncryptedSecrets)
		return string(b)
	}
	if got := get(contracts.SecretAccessor{Repo: &contracts.RepoAccessor{Repo: "github.com/alice/app", Commit: ptr(sha)}}); got != "pinned" {
		t.Errorf("the pinned commit reads %q", got)
	}
	other := strings.Repeat("d1", 20)
	if got := get(contracts.SecretAccessor{Repo: &contracts.RepoAccessor{Repo: "github.com/alice/app", Commit: ptr(other)}}); got != "repo-wide" {
		t.Errorf("another commit reads %q, want the repository-wide entry", got)
	}
	if got := get(contracts.SecretAccessor{Repo: &contracts.RepoAccessor{Repo: "github.com/alice/app", Branch: ptr("feature")}}); got != "repo-wide" {
		t.Errorf("a branch reads %q, want the repository-wide entry", got)
	}
	// The repository-wide entry's key is unchanged by commit binding.
	if st := w.state(contract); !strings.Contains(st, `{\"Repo\":{\"repo\":\"github.com/alice/app\",\"branch\":null}}`) {
		t.Errorf("the repository-wide entry's id changed:\n%.2000s", st)
	}
}
