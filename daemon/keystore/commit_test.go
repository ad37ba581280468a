package keystore

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/outlayer/outlayer/contracts"
	"github.com/outlayer/outlayer/store"
)

// A request naming a full commit selects a commit-bound identity with its
// own seed and key; a branch or a short hash does not.
func TestCommitBoundIdentity(t *testing.T) {
	sha := strings.Repeat("ab", 20)
	acc, err := AccessorFor(store.CodeSource{Git: &store.GitSource{Repo: "https://github.com/a/b", Commit: strings.ToUpper(sha)}})
	if err != nil || acc.Repo == nil || acc.Repo.Commit == nil || *acc.Repo.Commit != sha || acc.Repo.Branch != nil {
		t.Fatalf("a full commit selects %+v, %v", acc.Repo, err)
	}
	for _, c := range []string{"main", "abcdef1"} {
		acc, _ := AccessorFor(store.CodeSource{Git: &store.GitSource{Repo: "github.com/a/b", Commit: c}})
		if acc.Repo.Commit != nil {
			t.Errorf("commit %q selected a commit-bound identity", c)
		}
	}
	id, err := Identity{Accessor: acc, Owner: "alice.near", Profile: "default"}.Normalize()
	if err != nil {
		t.Fatal(err)
	}
	if got := id.Seed(); got != "github.com/a/b:alice.near:commit:"+sha {
		t.Fatalf("seed %q", got)
	}
	repoWide, _ := repoID("github.com/a/b", "", "alice.near", "default").Normalize()
	master := bytes.Repeat([]byte{9}, 32)
	k1, _ := deriveKey(master, id)
	k2, _ := deriveKey(master, repoWide)
	if k1.PublicKey().Equal(k2.PublicKey()) || id.entryID() == repoWide.entryID() {
		t.Fatal("the commit-bound identity shares the repository's key or generated secrets")
	}
	for _, bad := range []*contracts.RepoAccessor{
		{Repo: "github.com/a/b", Commit: ptrTo("abc")},
		{Repo: "github.com/a/b", Commit: ptrTo(sha), Branch: ptrTo("main")},
	} {
		if _, err := (Identity{Accessor: contracts.SecretAccessor{Repo: bad}, Owner: "alice.near", Profile: "p"}).Normalize(); !errors.Is(err, ErrBadIdentity) {
			t.Errorf("%+v: %v, want ErrBadIdentity", bad, err)
		}
	}
}

func ptrTo(s string) *string { return &s }
