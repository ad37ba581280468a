package build_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"

	"github.com/outlayer/outlayer/exec/build"
)

// sharedGoCache keeps the standard library compiled for wasip1 across
// tests; one test builds with a fresh cache to prove reproducibility.
var sharedGoCache string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "outlayer-build-gocache-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	sharedGoCache = dir
	code := m.Run()
	_ = exec.Command("chmod", "-R", "u+w", dir).Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// helloMain avoids fmt to keep the cold standard-library compile short.
const helloMain = `package main

import (
	"io"
	"os"
)

func main() {
	in, _ := io.ReadAll(os.Stdin)
	os.Stdout.WriteString("hello, " + string(in) + " (" + version + ")\n")
}
`

// repo is a real git repository made for a test.
type repo struct {
	t   *testing.T
	dir string
}

func newRepo(t *testing.T, files map[string]string) *repo {
	t.Helper()
	r := &repo{t: t, dir: t.TempDir()}
	r.git("init", "--quiet", "--initial-branch=main")
	r.commit("initial", files)
	return r
}

func (r *repo) git(args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = r.dir
	cmd.Env = append(os.Environ(),
		"GIT_AUTHOR_NAME=test", "GIT_AUTHOR_EMAIL=test@example.com",
		"GIT_COMMITTER_NAME=test", "GIT_COMMITTER_EMAIL=test@example.com",
		"GIT_AUTHOR_DATE=2026-01-01T00:00:00Z", "GIT_COMMITTER_DATE=2026-01-01T00:00:00Z",
		"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// commit writes files (an empty content deletes the file) and commits.
func (r *repo) commit(msg string, files map[string]string) string {
	r.t.Helper()
	for name, content := range files {
		p := filepath.Join(r.dir, name)
		if content == "" {
			os.Remove(p)
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			r.t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			r.t.Fatal(err)
		}
	}
	r.git("add", "-A")
	r.git("commit", "--quiet", "--allow-empty", "-m", msg)
	return r.git("rev-parse", "HEAD")
}

func helloFiles(version string) map[string]string {
	return map[string]string{
		"go.mod":     "module example.com/hello\n\ngo 1.24\n",
		"main.go":    helloMain,
		"version.go": fmt.Sprintf("package main\n\nconst version = %q\n", version),
	}
}

type opts func(*build.Config)

func newBuilder(t *testing.T, o ...opts) *build.Builder {
	t.Helper()
	cfg := build.Config{
		WorkDir:         t.TempDir(),
		GoCacheDir:      sharedGoCache,
		AllowLocalRepos: true,
		Limits:          build.Limits{Timeout: 3 * time.Minute},
	}
	for _, f := range o {
		f(&cfg)
	}
	b, err := build.New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if !b.Sandboxed() {
		t.Fatal("tests must run in the real sandbox")
	}
	return b
}

// runWasm runs a WASI command module with wazero and returns its stdout.
func runWasm(t *testing.T, wasm []byte, stdin string) string {
	t.Helper()
	ctx := context.Background()
	r := wazero.NewRuntime(ctx)
	defer r.Close(ctx)
	wasi_snapshot_preview1.MustInstantiate(ctx, r)
	var stdout, stderr bytes.Buffer
	cfg := wazero.NewModuleConfig().WithStdin(strings.NewReader(stdin)).
		WithStdout(&stdout).WithStderr(&stderr).WithArgs("prog")
	_, err := r.InstantiateWithConfig(ctx, wasm, cfg)
	var exit *sys.ExitError
	if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 0) {
		t.Fatalf("running the built wasm: %v\nstderr: %s", err, stderr.String())
	}
	return stdout.String()
}

func TestBuildIsReproducibleAndRuns(t *testing.T) {
	r := newRepo(t, helloFiles("v1"))
	sha := r.git("rev-parse", "HEAD")

	// Two builders that share nothing but the toolchain: one with the
	// shared compile cache, one compiling everything afresh.
	warm := newBuilder(t)
	cold := newBuilder(t, func(c *build.Config) { c.GoCacheDir = "" })

	ctx := context.Background()
	a, err := warm.Build(ctx, build.Source{Repo: r.dir, Commit: "main"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := cold.Build(ctx, build.Source{Repo: "file://" + r.dir, Commit: sha[:10]})
	if err != nil {
		t.Fatal(err)
	}
	if a.SHA256 != b.SHA256 {
		t.Fatalf("same commit, different wasm: %s vs %s", a.SHA256, b.SHA256)
	}
	if !bytes.Equal(a.Wasm, b.Wasm) {
		t.Fatal("same sha256 reported for different bytes")
	}
	if a.ResolvedCommit != sha || b.ResolvedCommit != sha {
		t.Fatalf("resolved %s and %s, want %s", a.ResolvedCommit, b.ResolvedCommit, sha)
	}
	if !strings.HasPrefix(a.GoVersion, "go version go1.") {
		t.Fatalf("GoVersion = %q", a.GoVersion)
	}
	if got, want := runWasm(t, a.Wasm, "outlayer"), "hello, outlayer (v1)\n"; got != want {
		t.Fatalf("program printed %q, want %q", got, want)
	}
	t.Logf("cold build %s, warm build %s, %d bytes", b.Duration, a.Duration, len(a.Wasm))
}

func TestBuildPicksTheRequestedRef(t *testing.T) {
	r := newRepo(t, helloFiles("v1"))
	first := r.git("rev-parse", "HEAD")
	r.git("tag", "-a", "release-1", "-m", "first release")
	r.git("checkout", "--quiet", "-b", "feature")
	feature := r.commit("feature", helloFiles("feature"))
	r.git("checkout", "--quiet", "main")
	second := r.commit("second", helloFiles("v2"))

	b := newBuilder(t)
	for _, tc := range []struct{ ref, commit, prints string }{
		{"main", second, "v2"},
		{"feature", feature, "feature"},
		{"release-1", first, "v1"}, // an annotated tag, peeled to its commit
		{first, first, "v1"},
		{feature[:7], feature, "feature"},
	} {
		res, err := b.Build(context.Background(), build.Source{Repo: r.dir, Commit: tc.ref})
		if err != nil {
			t.Fatalf("ref %s: %v", tc.ref, err)
		}
		if res.ResolvedCommit != tc.commit {
			t.Errorf("ref %s resolved to %s, want %s", tc.ref, res.ResolvedCommit, tc.commit)
		}
		if got := runWasm(t, res.Wasm, "x"); got != "hello, x ("+tc.prints+")\n" {
			t.Errorf("ref %s: program printed %q", tc.ref, got)
		}
	}
}

func TestBuildSubdirectoryWithLocalReplace(t *testing.T) {
	r := newRepo(t, map[string]string{
		"go.mod": "module example.com/app\n\ngo 1.24\n\nrequire example.com/greet v0.0.0\n\nreplace example.com/greet => ./greet\n",
		"cmd/app/main.go": `package main

import (
	"os"

	"example.com/app/internal/shout"
	"example.com/greet"
)

func main() { os.Stdout.WriteString(shout.Loud(greet.Hello("node")) + "\n") }
`,
		"internal/shout/shout.go": "package shout\n\nimport \"strings\"\n\nfunc Loud(s string) string { return strings.ToUpper(s) + \"!\" }\n",
		"greet/go.mod":            "module example.com/greet\n\ngo 1.24\n",
		"greet/greet.go":          "package greet\n\nfunc Hello(who string) string { return \"hello, \" + who }\n",
	})
	b := newBuilder(t)
	res, err := b.Build(context.Background(), build.Source{Repo: r.dir, Commit: "main", Path: "cmd/app"})
	if err != nil {
		t.Fatal(err)
	}
	if got := runWasm(t, res.Wasm, ""); got != "HELLO, NODE!\n" {
		t.Fatalf("program printed %q", got)
	}
	if !strings.Contains(res.Log, "go mod download: skipped") {
		t.Errorf("a module whose only requirement is replaced by a local directory should need no download; log:\n%s", res.Log)
	}
}

func TestBuildErrors(t *testing.T) {
	hello := newRepo(t, helloFiles("v1"))
	noMod := newRepo(t, map[string]string{"main.go": helloMain})
	lib := newRepo(t, map[string]string{"go.mod": "module example.com/lib\n\ngo 1.24\n", "lib.go": "package lib\n\nfunc X() {}\n"})
	noGo := newRepo(t, map[string]string{"go.mod": "module example.com/x\n\ngo 1.24\n", "README": "nothing here\n"})
	broken := newRepo(t, map[string]string{
		"go.mod":  "module example.com/broken\n\ngo 1.24\n",
		"main.go": "package main\n\nfunc main() {\n\tundefinedThing(\"ünïcode\")\n}\n",
	})
	b := newBuilder(t)

	for _, tc := range []struct {
		name string
		src  build.Source
		kind error
		text string // a phrase the error must contain
	}{
		{"repo missing", build.Source{Repo: filepath.Join(t.TempDir(), "nope"), Commit: "main"}, build.ErrRepoNotFound, "does not exist"},
		{"commit missing", build.Source{Repo: hello.dir, Commit: "no-such-branch"}, build.ErrCommitNotFound, "no-such-branch"},
		{"sha missing", build.Source{Repo: hello.dir, Commit: strings.Repeat("ab", 20)}, build.ErrCommitNotFound, "abab"},
		{"no go.mod", build.Source{Repo: noMod.dir, Commit: "main"}, build.ErrNoMainPackage, "no go.mod"},
		{"not main", build.Source{Repo: lib.dir, Commit: "main"}, build.ErrNoMainPackage, "package lib, not package main"},
		{"no go files", build.Source{Repo: noGo.dir, Commit: "main"}, build.ErrNoMainPackage, "no .go files"},
		{"missing path", build.Source{Repo: hello.dir, Commit: "main", Path: "cmd/none"}, build.ErrNoMainPackage, "cmd/none"},
		{"compile error", build.Source{Repo: broken.dir, Commit: "main"}, build.ErrCompile, "undefined: undefinedThing"},
		{"option injection", build.Source{Repo: "--upload-pack=touch /tmp/pwned", Commit: "main"}, build.ErrInvalidSource, "starts with '-'"},
		{"ext transport", build.Source{Repo: "ext::sh -c touch% /tmp/pwned", Commit: "main"}, build.ErrInvalidSource, "not supported"},
		{"ssh scp syntax", build.Source{Repo: "git@github.com:near/x.git", Commit: "main"}, build.ErrInvalidSource, "not an https URL"},
		{"revision expression", build.Source{Repo: hello.dir, Commit: "HEAD~1"}, build.ErrInvalidSource, "not a valid commit"},
		{"path escapes", build.Source{Repo: hello.dir, Commit: "main", Path: "../x"}, build.ErrInvalidSource, "relative directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := b.Build(context.Background(), tc.src)
			if !errors.Is(err, tc.kind) {
				t.Fatalf("got %v, want %v", err, tc.kind)
			}
			if !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("error %q does not mention %q", err, tc.text)
			}
		})
	}
}

func TestCompileErrorOutputIsCapped(t *testing.T) {
	var body strings.Builder
	for i := range 400 {
		fmt.Fprintf(&body, "\tundefinedThing%d()\n", i)
	}
	r := newRepo(t, map[string]string{
		"go.mod":  "module example.com/broken\n\ngo 1.24\n",
		"main.go": "package main\n\nfunc main() {\n" + body.String() + "}\n",
	})
	_, err := newBuilder(t).Build(context.Background(), build.Source{Repo: r.dir, Commit: "main"})
	var be *build.Error
	if !errors.As(err, &be) || !errors.Is(err, build.ErrCompile) {
		t.Fatalf("got %v, want a compile error", err)
	}
	if !strings.Contains(be.Output, "undefinedThing0") || len(be.Output) > 5<<10 {
		t.Fatalf("compiler output (%d bytes) should start with the first error and be capped:\n%s", len(be.Output), be.Output)
	}
}

func TestLocalReposAreRefusedUnlessAllowed(t *testing.T) {
	r := newRepo(t, helloFiles("v1"))
	b := newBuilder(t, func(c *build.Config) { c.AllowLocalRepos = false })
	for _, repo := range []string{r.dir, "file://" + r.dir, "http://example.com/x.git"} {
		_, err := b.Build(context.Background(), build.Source{Repo: repo, Commit: "main"})
		if !errors.Is(err, build.ErrInvalidSource) {
			t.Errorf("%s: got %v, want ErrInvalidSource", repo, err)
		}
	}
}

func TestOutputTooLarge(t *testing.T) {
	r := newRepo(t, helloFiles("v1"))
	b := newBuilder(t, func(c *build.Config) { c.Limits.MaxWasmBytes = 100 << 10 })
	_, err := b.Build(context.Background(), build.Source{Repo: r.dir, Commit: "main"})
	if !errors.Is(err, build.ErrOutputTooLarge) {
		t.Fatalf("got %v, want ErrOutputTooLarge", err)
	}
}

func TestTimeout(t *testing.T) {
	r := newRepo(t, helloFiles("v1"))
	// A fresh compile cache: compiling the standard library takes seconds.
	b := newBuilder(t, func(c *build.Config) {
		c.GoCacheDir = ""
		c.Limits.Timeout = 1500 * time.Millisecond
	})
	start := time.Now()
	_, err := b.Build(context.Background(), build.Source{Repo: r.dir, Commit: "main"})
	if !errors.Is(err, build.ErrTimeout) {
		t.Fatalf("got %v, want ErrTimeout", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("a 1.5 s build limit took %s to stop the build", d)
	}
}

func TestMemoryLimit(t *testing.T) {
	r := newRepo(t, helloFiles("v1"))
	// 128 MiB of address space is too little for the go command itself.
	b := newBuilder(t, func(c *build.Config) { c.Limits.MemoryBytes = 128 << 20 })
	_, err := b.Build(context.Background(), build.Source{Repo: r.dir, Commit: "main"})
	if !errors.Is(err, build.ErrResourceLimit) {
		var be *build.Error
		errors.As(err, &be)
		t.Fatalf("got %v, want ErrResourceLimit (%#v)", err, be)
	}
}

func TestCallerCancellationIsNotATimeout(t *testing.T) {
	r := newRepo(t, helloFiles("v1"))
	b := newBuilder(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := b.Build(ctx, build.Source{Repo: r.dir, Commit: "main"})
	if !errors.Is(err, context.Canceled) || errors.Is(err, build.ErrTimeout) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
}

// TestSandboxUnavailable runs New in a user namespace that may not create
// further ones, as on a host that forbids unprivileged user namespaces.
// The test binary re-executes itself there.
func TestSandboxUnavailable(t *testing.T) {
	if os.Getenv("OUTLAYER_TEST_NO_USERNS") == "1" {
		if err := os.WriteFile("/proc/sys/user/max_user_namespaces", []byte("0"), 0); err != nil {
			t.Fatal(err)
		}
		cfg := build.Config{WorkDir: t.TempDir()}
		_, err := build.New(context.Background(), cfg)
		if !errors.Is(err, build.ErrSandboxUnavailable) || !strings.Contains(err.Error(), "namespaces") {
			t.Fatalf("got %v, want ErrSandboxUnavailable about namespaces", err)
		}
		cfg.AllowUnsandboxed = true
		cfg.AllowLocalRepos = true
		cfg.Limits.MemoryBytes = 128 << 20
		b, err := build.New(context.Background(), cfg)
		if err != nil {
			t.Fatalf("AllowUnsandboxed: %v", err)
		}
		if b.Sandboxed() {
			t.Fatal("builder claims a sandbox it does not have")
		}
		// Without namespaces the limits still hold: 128 MiB of address
		// space is too little for the go command.
		r := newRepo(t, helloFiles("v1"))
		_, err = b.Build(context.Background(), build.Source{Repo: r.dir, Commit: "main"})
		if !errors.Is(err, build.ErrResourceLimit) {
			t.Fatalf("unsandboxed build with a 128 MiB limit: got %v, want ErrResourceLimit", err)
		}
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestSandboxUnavailable$", "-test.count=1")
	cmd.Env = append(os.Environ(), "OUTLAYER_TEST_NO_USERNS=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
	}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "PASS") {
		t.Fatalf("the test in a namespace without user namespaces: %v\n%s", err, out)
	}
}
