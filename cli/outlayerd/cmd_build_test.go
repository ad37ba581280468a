package main

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestBuildCommand(t *testing.T) {
	dir := t.TempDir()
	repo := filepath.Join(dir, "repo")
	goRepo(t, repo, ".")
	sha := git(t, repo, "rev-parse", "HEAD")

	out := filepath.Join(dir, "hi.wasm")
	cache := "--cache-dir=" + filepath.Join(dir, "cache")
	// Flags after the repository, as people type them.
	code, stdout, stderr := outlayerd(t, "build", cache, repo, "--commit", "main", "-o", out)
	if code != exitOK {
		t.Fatalf("build: exit %d\nstderr %s", code, stderr)
	}
	wasm, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(wasm)
	if strings.TrimSpace(stdout) != hex.EncodeToString(sum[:]) {
		t.Fatalf("stdout %q is not the sha256 of the written wasm (%x)", stdout, sum)
	}
	if !strings.Contains(stderr, sha) {
		t.Fatalf("stderr %q does not name the resolved commit %s", stderr, sha)
	}

	if code, _, stderr = outlayerd(t, "build", cache, repo, "--commit", "nope", "-o", out); code != exitFailure || !strings.Contains(stderr, "commit not found") {
		t.Fatalf("unknown commit: exit %d, stderr %q", code, stderr)
	}
	if code, _, _ = outlayerd(t, "build", repo); code != exitUsage {
		t.Fatalf("no -o: exit %d, want %d", code, exitUsage)
	}
	if code, _, _ = outlayerd(t, "build", "ext::sh -c id", "-o", out); code != exitUsage {
		t.Fatalf("ext:: repository: exit %d, want %d", code, exitUsage)
	}
}
