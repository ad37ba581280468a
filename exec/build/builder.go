package build

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/outlayer/outlayer/internal/textcut"
)

// Limits bound one build. Zero fields take the defaults below.
type Limits struct {
	// Timeout is the wall-clock budget of the whole build: clone, module
	// download and compilation.
	Timeout time.Duration
	// CPUTime is the CPU time each build process may use (RLIMIT_CPU).
	CPUTime time.Duration
	// MemoryBytes is the address space each build process may map
	// (RLIMIT_AS). It is per process, not a total: see DESIGN.md.
	MemoryBytes uint64
	// MaxWasmBytes is the largest WASM accepted.
	MaxWasmBytes int64
	// MaxFileBytes is the largest file any build step may write
	// (RLIMIT_FSIZE): it stops a build from filling the disk with one file.
	MaxFileBytes uint64
	// MaxRepoBytes bounds what the clone may write: no file of the fetched
	// repository (its pack above all) may be larger (RLIMIT_FSIZE on git).
	MaxRepoBytes uint64
	// MaxSourceBytes and MaxSourceFiles bound the checked-out commit: its
	// tree is listed and measured before anything is checked out, so a
	// small pack that expands into huge files or a "git bomb" of repeated
	// trees is refused without writing it.
	MaxSourceBytes uint64
	MaxSourceFiles int
}

// Defaults, close to upstream's (300 s compile budget, 2 GB+ memory).
const (
	DefaultTimeout      = 5 * time.Minute
	DefaultMemoryBytes  = 4 << 30
	DefaultMaxWasmBytes = 32 << 20
	DefaultMaxFileBytes = 1 << 30

	DefaultMaxRepoBytes   = 256 << 20
	DefaultMaxSourceBytes = 256 << 20
	DefaultMaxSourceFiles = 20_000

	// maxCompileOutput caps the compiler output carried in an error: the
	// first errors are the useful ones and the text ends up on chain.
	maxCompileOutput = 4 << 10
	maxLog           = 64 << 10
)

func (l Limits) withDefaults() Limits {
	if l.Timeout <= 0 {
		l.Timeout = DefaultTimeout
	}
	if l.CPUTime <= 0 {
		l.CPUTime = l.Timeout
	}
	if l.MemoryBytes == 0 {
		l.MemoryBytes = DefaultMemoryBytes
	}
	if l.MaxWasmBytes <= 0 {
		l.MaxWasmBytes = DefaultMaxWasmBytes
	}
	if l.MaxFileBytes == 0 {
		l.MaxFileBytes = DefaultMaxFileBytes
	}
	if l.MaxRepoBytes == 0 {
		l.MaxRepoBytes = DefaultMaxRepoBytes
	}
	if l.MaxSourceBytes == 0 {
		l.MaxSourceBytes = DefaultMaxSourceBytes
	}
	if l.MaxSourceFiles <= 0 {
		l.MaxSourceFiles = DefaultMaxSourceFiles
	}
	return l
}

// Config configures a Builder.
type Config struct {
	// WorkDir holds one temporary directory per build, removed afterwards.
	// Empty means os.TempDir(). It must not be inside the node's data dir
	// that builds must not see (builds see their own subdirectory only).
	WorkDir string
	// ModCacheDir is a module cache shared by builds (GOMODCACHE). Empty
	// gives every build its own, under its work directory.
	ModCacheDir string
	// GoCacheDir is a compilation cache shared by builds (GOCACHE). Empty
	// gives every build its own: slower (the standard library is compiled
	// each time) but nothing one build writes can reach another.
	GoCacheDir string
	// GoRoot is the Go toolchain that builds programs. Empty means the
	// GOROOT of the `go` found in PATH.
	GoRoot string
	// GoProxy is GOPROXY for the module download step. Empty means
	// https://proxy.golang.org. "direct" is discouraged: it runs VCS
	// tools against arbitrary hosts. A single file:///dir proxy (an
	// offline mirror) is mounted read-only into the download sandbox.
	GoProxy string
	// GoSumDB is GOSUMDB for the download step. Empty means
	// sum.golang.org. go.sum is verified either way; "off" only skips the
	// checksum database (offline mirrors, tests).
	GoSumDB string
	// GitPath overrides the git found in PATH.
	GitPath string
	// AllowLocalRepos accepts file:// URLs and local paths (tests and the
	// command line). A node serving requests must leave it off, or a
	// request could read any git repository on the machine.
	AllowLocalRepos bool
	// AllowUnsandboxed runs builds without namespaces when the kernel
	// refuses to create them (the limits still apply). For development
	// machines only: the build then sees the whole host.
	AllowUnsandboxed bool
	Limits           Limits
	Logger           *slog.Logger
}

// Builder builds Go programs into WASI preview 1 modules. It is safe for
// concurrent use; each build has its own work directory.
type Builder struct {
	cfg       Config
	limits    Limits
	workDir   string
	goroot    string
	goVersion string
	git       git
	sandbox   sandbox
	log       *slog.Logger
}

// Result is a successful build.
type Result struct {
	Wasm []byte
	// SHA256 is the lowercase hex sha256 of Wasm.
	SHA256 string
	// ResolvedCommit is the full sha the requested commit resolved to.
	ResolvedCommit string
	// GoVersion is the toolchain that built it (part of what makes the
	// build reproducible).
	GoVersion string
	// Log is a short human account of the build steps, with any tool
	// output (capped).
	Log      string
	Duration time.Duration
}

// New checks the tools and the sandbox and returns a Builder. When the
// sandbox cannot create its namespaces here it fails with
// ErrSandboxUnavailable, unless cfg.AllowUnsandboxed is set.
func New(ctx context.Context, cfg Config) (*Builder, error) {
	b := &Builder{cfg: cfg, limits: cfg.Limits.withDefaults(), log: cfg.Logger}
	if b.log == nil {
		b.log = slog.Default()
	}

	work := cfg.WorkDir
	if work == "" {
		work = os.TempDir()
	}
	if err := os.MkdirAll(work, 0o700); err != nil {
		return nil, fmt.Errorf("build work dir: %w", err)
	}
	real, err := filepath.EvalSymlinks(work)
	if err != nil {
		return nil, fmt.Errorf("build work dir: %w", err)
	}
	b.workDir, err = filepath.Abs(real)
	if err != nil {
		return nil, fmt.Errorf("build work dir: %w", err)
	}
	for _, d := range []*string{&b.cfg.ModCacheDir, &b.cfg.GoCacheDir} {
		if *d == "" {
			continue
		}
		if err := os.MkdirAll(*d, 0o755); err != nil {
			return nil, fmt.Errorf("build cache dir: %w", err)
		}
		if *d, err = filepath.Abs(*d); err != nil {
			return nil, fmt.Errorf("build cache dir: %w", err)
		}
	}

	gitPath, err := lookTool(cfg.GitPath, "git")
	if err != nil {
		return nil, fmt.Errorf("building from source needs git (apt-get install git): %w", err)
	}

	b.goroot, err = findGoRoot(ctx, cfg.GoRoot)
	if err != nil {
		return nil, err
	}

	b.sandbox = sandbox{workDir: b.workDir}
	b.git = git{path: gitPath, allowLocal: cfg.AllowLocalRepos, home: os.DevNull, sandbox: &b.sandbox, limits: b.limits}
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	b.goVersion, err = b.sandbox.probe(pctx, b.goroot)
	cancel()
	if err != nil {
		sandboxErr := fmt.Errorf("%w: cannot create the user, mount, pid and network namespaces builds run in (run the node as root, or allow unprivileged user namespaces: sysctl kernel.unprivileged_userns_clone=1 / kernel.apparmor_restrict_unprivileged_userns=0 / user.max_user_namespaces > 0): %v",
			ErrSandboxUnavailable, err)
		if !cfg.AllowUnsandboxed {
			return nil, sandboxErr
		}
		b.log.Warn("building WITHOUT a sandbox: builds can read the whole machine and use the network", "reason", sandboxErr)
		b.sandbox.unsandboxed = true
		b.goVersion, err = b.sandbox.probe(ctx, b.goroot)
		if err != nil {
			return nil, fmt.Errorf("running the Go toolchain at %s: %w", b.goroot, err)
		}
	}
	return b, nil
}

func lookTool(configured, name string) (string, error) {
	if configured != "" {
		name = configured
	}
	return exec.LookPath(name)
}

func findGoRoot(ctx context.Context, configured string) (string, error) {
	root := configured
	if root == "" {
		gobin, err := exec.LookPath("go")
		if err != nil {
			return "", fmt.Errorf("no Go toolchain: set the toolchain path or put go in PATH: %w", err)
		}
		out, err := exec.CommandContext(ctx, gobin, "env", "GOROOT").Output()
		if err != nil {
			return "", fmt.Errorf("asking %s for its GOROOT: %w", gobin, err)
		}
		root = strings.TrimSpace(string(out))
	}
	real, err := filepath.EvalSymlinks(root)
	if err != nil {
		return "", fmt.Errorf("go toolchain %s: %w", root, err)
	}
	if _, err := os.Stat(filepath.Join(real, "bin", "go")); err != nil {
		return "", fmt.Errorf("go toolchain %s has no bin/go: %w", root, err)
	}
	return filepath.Abs(real)
}

// GoVersion is the `go version` line of the toolchain builds use.
func (b *Builder) GoVersion() string { return b.goVersion }

// Sandboxed reports whether builds run in their own namespaces.
func (b *Builder) Sandboxed() bool { return !b.sandbox.unsandboxed }

// errDeadline is the cause attached to the build's own time limit, to tell
// it apart from the caller cancelling.
var errDeadline = errors.New("build deadline")

// Build clones src.Repo, checks out src.Commit and builds the Go main
// package at src.Path into a WASI preview 1 module. The same commit built
// with the same toolchain gives the same bytes.
func (b *Builder) Build(ctx context.Context, src Source) (*Result, error) {
	start := time.Now()
	if err := checkSource(src, b.cfg.AllowLocalRepos); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeoutCause(ctx, b.limits.Timeout, errDeadline)
	defer cancel()

	res, err := b.build(ctx, src)
	if err != nil {
		if context.Cause(ctx) == errDeadline {
			return nil, newError(ErrTimeout, fmt.Sprintf("the build did not finish within %s", b.limits.Timeout), "")
		}
		if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
			return nil, fmt.Errorf("build cancelled: %w", ctx.Err())
		}
		return nil, err
	}
	res.Duration = time.Since(start)
	b.log.Info("built wasm from source", "repo", src.Repo, "commit", res.ResolvedCommit,
		"path", src.Path, "sha256", res.SHA256, "bytes", len(res.Wasm), "duration", res.Duration)
	return res, nil
}

func (b *Builder) build(ctx context.Context, src Source) (*Result, error) {
	work, err := os.MkdirTemp(b.workDir, "build-")
	if err != nil {
		return nil, fmt.Errorf("creating build dir: %w", err)
	}
	defer removeAll(work, b.log)

	var log strings.Builder
	logf := func(format string, a ...any) { fmt.Fprintf(&log, format+"\n", a...) }

	srcDir := filepath.Join(work, "src")
	if err := b.git.clone(ctx, src.Repo, srcDir); err != nil {
		return nil, err
	}
	sha, err := b.git.resolve(ctx, srcDir, src.Commit)
	if err != nil {
		return nil, err
	}
	logf("cloned %s; %s is commit %s", src.Repo, src.Commit, sha)
	files, size, err := b.git.checkout(ctx, srcDir, sha)
	if err != nil {
		return nil, err
	}
	logf("checked out %d files, %d bytes", files, size)
	pkg, err := findMainPackage(srcDir, src.Path)
	if err != nil {
		return nil, err
	}

	modCache := b.cfg.ModCacheDir
	if modCache == "" {
		modCache = filepath.Join(work, "gomodcache")
	}
	goCache := b.cfg.GoCacheDir
	if goCache == "" {
		goCache = filepath.Join(work, "gocache")
	}
	tmp := filepath.Join(work, "tmp")
	outDir := filepath.Join(work, "out")
	for _, d := range []string{modCache, goCache, tmp, outDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("creating build dir: %w", err)
		}
	}

	env := []string{
		"PATH=" + filepath.Join(b.goroot, "bin"),
		"HOME=" + tmp,
		"TMPDIR=" + tmp,
		"GOROOT=" + b.goroot,
		"GOMODCACHE=" + modCache,
		"GOCACHE=" + goCache,
		"GOTOOLCHAIN=local",
		"GOENV=off",
		"GOTELEMETRY=off",
		"GOWORK=off",
		"GOFLAGS=-mod=readonly",
		"CGO_ENABLED=0",
	}
	limits := rlimits{
		AddressSpace: b.limits.MemoryBytes,
		CPUSeconds:   uint64(max(b.limits.CPUTime.Round(time.Second)/time.Second, 1)),
		FileBytes:    b.limits.MaxFileBytes,
	}

	if pkg.needsDownload {
		proxy := b.cfg.GoProxy
		if proxy == "" {
			proxy = "https://proxy.golang.org"
		}
		sumdb := b.cfg.GoSumDB
		if sumdb == "" {
			sumdb = "sum.golang.org"
		}
		mounts := []mount{
			{Path: b.goroot}, {Path: srcDir}, {Path: modCache, Writable: true}, {Path: tmp, Writable: true},
			// Name resolution and TLS roots for the proxy, nothing else of /etc.
			{Path: "/etc/resolv.conf", Optional: true}, {Path: "/etc/hosts", Optional: true},
			{Path: "/etc/nsswitch.conf", Optional: true}, {Path: "/etc/ssl", Optional: true},
			{Path: "/etc/ca-certificates", Optional: true}, {Path: "/usr/share/ca-certificates", Optional: true},
		}
		if dir, ok := strings.CutPrefix(proxy, "file://"); ok && !strings.Contains(dir, ",") && !strings.Contains(dir, "|") {
			mounts = append(mounts, mount{Path: dir})
		}
		j := jail{
			mounts:  mounts,
			env:     slices.Concat(env, []string{"GOPROXY=" + proxy, "GOSUMDB=" + sumdb}),
			dir:     pkg.modRoot,
			network: true,
			rlimits: limits,
		}
		out, err := b.sandbox.run(ctx, j, []string{filepath.Join(b.goroot, "bin", "go"), "mod", "download"})
		logf("go mod download:\n%s", out)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			detail := "go mod download failed"
			switch text := string(out); {
			case strings.Contains(text, "updating go.sum"), strings.Contains(text, "missing go.sum entry"):
				detail = "go.sum is missing or incomplete: run `go mod tidy` and commit go.sum"
			case strings.Contains(text, "checksum mismatch"):
				detail = "a module does not match its go.sum hash"
			}
			return nil, newError(ErrDependencies, detail, textcut.Head(string(out), maxCompileOutput))
		}
	} else {
		logf("go mod download: skipped, no module requirements outside the repository")
	}

	wasm := filepath.Join(outDir, "main.wasm")
	j := jail{
		mounts: []mount{
			{Path: b.goroot}, {Path: srcDir}, {Path: modCache}, {Path: goCache, Writable: true},
			{Path: tmp, Writable: true}, {Path: outDir, Writable: true},
		},
		env:     slices.Concat(env, []string{"GOOS=wasip1", "GOARCH=wasm", "GOPROXY=off", "GOSUMDB=off"}),
		dir:     pkg.dir,
		rlimits: limits,
	}
	argv := []string{filepath.Join(b.goroot, "bin", "go"), "build",
		"-trimpath", "-buildvcs=false", "-ldflags=-buildid=", "-o", wasm, "."}
	out, err := b.sandbox.run(ctx, j, argv)
	logf("go build:\n%s", out)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, classifyBuild(err, out)
	}

	fi, err := os.Stat(wasm)
	if err != nil {
		return nil, fmt.Errorf("go build succeeded but wrote no WASM: %w", err)
	}
	if fi.Size() > b.limits.MaxWasmBytes {
		return nil, newError(ErrOutputTooLarge,
			fmt.Sprintf("%d bytes, the limit is %d", fi.Size(), b.limits.MaxWasmBytes), "")
	}
	data, err := os.ReadFile(wasm)
	if err != nil {
		return nil, fmt.Errorf("reading the built WASM: %w", err)
	}
	sum := sha256.Sum256(data)
	return &Result{
		Wasm:           data,
		SHA256:         hex.EncodeToString(sum[:]),
		ResolvedCommit: sha,
		GoVersion:      b.goVersion,
		Log:            textcut.Head(log.String(), maxLog),
	}, nil
}

// classifyBuild tells a resource limit apart from the program's own
// compile errors.
func classifyBuild(err error, out []byte) error {
	text := string(out)
	if sig, ok := exitSignal(err); ok && limitSignal(sig) {
		return newError(ErrResourceLimit, "the build was killed by "+sig.String(), textcut.Head(text, maxCompileOutput))
	}
	for _, s := range []string{
		"CPU time limit exceeded", "out of memory", "cannot allocate memory", "failed to reserve",
		"cannot reserve", "File size limit exceeded", "file size limit exceeded", "file too large", "signal: killed",
	} {
		if strings.Contains(text, s) {
			return newError(ErrResourceLimit, s, textcut.Head(text, maxCompileOutput))
		}
	}
	return newError(ErrCompile, "go build failed", textcut.Head(strings.TrimSpace(text), maxCompileOutput))
}

// limitSignal: the signals a process gets from the kernel when it hits an
// rlimit (SIGSEGV: a Go runtime that cannot map its stack under RLIMIT_AS).
func limitSignal(sig syscall.Signal) bool {
	switch sig {
	case syscall.SIGXCPU, syscall.SIGKILL, syscall.SIGXFSZ, syscall.SIGSEGV:
		return true
	}
	return false
}

// removeAll deletes a build directory, including the read-only trees the
// module cache creates.
func removeAll(dir string, log *slog.Logger) {
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			_ = os.Chmod(p, 0o755)
		}
		return nil
	})
	if err := os.RemoveAll(dir); err != nil {
		log.Warn("cannot remove build dir", "dir", dir, "err", err)
	}
}
