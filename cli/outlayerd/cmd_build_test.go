package main

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestBuildCommand(t *testing.T) {
	dir := t.TempDir()
	repo := filepath.Join(dir, "repo")
	files := map[string]string{
		"go.mod":  "module example.com/hi\n\ngo 1.24\n",
		"main.go": "package main\n\nimport \"os\"\n\nfunc main() { os.Stdout.WriteString(\"hi\\n\") }\n",
	}
	for name, content := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(repo, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(repo, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	git := func(args ...string) string {
		cmd := exec.Command("git", args...)
		cmd.Dir = repo
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t",
			"GIT_COMMITTER_EMAIL=t@t", "GIT_CONFIG_GLOBAL=/dev/null")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("init", "--quiet", "--initial-branch=main")
	git("add", "-A")
	git("commit", "--quiet", "-m", "hi")
	sha := git("rev-parse", "HEAD")

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
