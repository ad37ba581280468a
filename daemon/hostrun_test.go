package daemon

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/outlayer/outlayer/daemon/hostcall"
	"github.com/outlayer/outlayer/exec/hostabi"
)

// A project's versions share one storage namespace; programs outside any
// project keep theirs by WASM hash, and neither can name the other's.
func TestProgramIdentityScopesStorageByProject(t *testing.T) {
	v1, v2 := sha256.Sum256([]byte("version 1")), sha256.Sum256([]byte("version 2"))
	if programIdentity("p0000000000000001", v1) != programIdentity("p0000000000000001", v2) {
		t.Fatal("two versions of one project got different storage identities")
	}
	if programIdentity("p0000000000000001", v1) == programIdentity("p0000000000000002", v1) {
		t.Fatal("two projects running the same WASM share storage")
	}
	if got := programIdentity("", v1); got != hex.EncodeToString(v1[:]) {
		t.Fatalf("a run outside any project is %q, want its WASM hash", got)
	}
	for _, scope := range []uint32{hostabi.ScopeUser, hostabi.ScopeWorker, hostabi.ScopePublic} {
		a, _ := hostcall.Namespace(scope, programIdentity("p0000000000000001", v1), "alice.near")
		b, _ := hostcall.Namespace(scope, programIdentity("", v1), "alice.near")
		if string(a) == string(b) {
			t.Fatalf("scope %d: a project's namespace equals its WASM's", scope)
		}
	}
}

func TestValidProjectUUID(t *testing.T) {
	for s, want := range map[string]bool{
		"p0000000000000001":  true,
		"p00000000000000ab":  true,
		"p00000000000000AB":  false,
		"q0000000000000001":  false,
		"p000000000000001":   false,
		"p00000000000000001": false,
		"":                   false,
		"p000000000000000/":  false,
	} {
		if validProjectUUID(s) != want {
			t.Errorf("validProjectUUID(%q) = %v, want %v", s, !want, want)
		}
	}
}
