package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Outside --dev a node needs a measurement policy and a TDX guest; both
// refusals come before anything starts, with a message that says what to do.
func TestRunOutsideDevNeedsPolicyAndTDX(t *testing.T) {
	dir := t.TempDir()
	base := []string{"run", "--data-dir", filepath.Join(dir, "data"), "--near-rpc", "http://127.0.0.1:1",
		"--contract", "outlayer.test.near", "--operator", "operator.test.near", "--operator-key", filepath.Join(dir, "key.json"),
		"--listen", "/ip4/127.0.0.1/tcp/0", "--http-addr", "127.0.0.1:0"}
	code, _, stderr := outlayerd(t, base...)
	if code != exitUsage || !strings.Contains(stderr, "--policy FILE is required") {
		t.Fatalf("no policy: exit %d, stderr %q", code, stderr)
	}
	policy := filepath.Join(dir, "policy.json")
	if err := os.WriteFile(policy, []byte(`{"mrtd":["`+strings.Repeat("ab", 48)+`"]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := outlayerd(t, append(base, "--dev", "--policy", policy)...); code != exitUsage || !strings.Contains(stderr, "--dev uses simulated attestation") {
		t.Fatalf("--policy with --dev: exit %d, stderr %q", code, stderr)
	}
	if _, err := os.Stat("/dev/tdx_guest"); err == nil {
		t.Skip("this machine is a TDX guest")
	}
	if _, err := os.Stat("/sys/kernel/config/tsm/report"); err == nil {
		t.Skip("this machine has configfs-tsm")
	}
	code, _, stderr = outlayerd(t, append(base, "--policy", policy)...)
	if code != exitFailure || !strings.Contains(stderr, "TDX confidential VM") {
		t.Fatalf("no TDX device: exit %d, stderr %q", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); err == nil {
		t.Error("the refused node created its data directory")
	}
}

// A --dev join without a join secret is refused before anything starts:
// dev joins require it.
func TestDevJoinNeedsSecret(t *testing.T) {
	dir := t.TempDir()
	code, _, stderr := outlayerd(t, "join", "127.0.0.1:4001", "--dev", "--data-dir", filepath.Join(dir, "data"), "--near-rpc", "http://127.0.0.1:1",
		"--contract", "outlayer.test.near", "--operator", "operator.test.near", "--operator-key", filepath.Join(dir, "key.json"),
		"--http-addr", "127.0.0.1:0")
	if code != exitUsage || !strings.Contains(stderr, "dev joins require a join secret") {
		t.Fatalf("join --dev without a secret: exit %d, stderr %q", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); err == nil {
		t.Error("the refused node created its data directory")
	}
}
