package build

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/outlayer/outlayer/internal/textcut"
)

// Source names the program to build: a git repository, a commit in it, and
// the directory of the Go main package inside it.
type Source struct {
	// Repo is an https:// URL, or — only when Config.AllowLocalRepos is set
	// — a file:// URL or a local path.
	Repo string
	// Commit is a full or abbreviated commit sha, a branch or a tag.
	// Branches and tags win over a short sha that spells the same string.
	Commit string
	// Path is the main package's directory relative to the repository
	// root; empty means the root.
	Path string
}

const maxRefLen = 255

// checkSource validates the request before anything touches git, so that a
// crafted URL or ref can never become a git option or a revision expression.
func checkSource(src Source, allowLocal bool) error {
	repo := src.Repo
	switch {
	case repo == "":
		return newError(ErrInvalidSource, "the repository URL is empty", "")
	case strings.HasPrefix(repo, "-"):
		return newError(ErrInvalidSource, fmt.Sprintf("repository %q starts with '-'", repo), "")
	case strings.ContainsAny(repo, "\x00\n\r"):
		return newError(ErrInvalidSource, "the repository URL contains control characters", "")
	}
	if u, err := url.Parse(repo); err == nil && u.Scheme != "" && len(u.Scheme) > 1 {
		switch u.Scheme {
		case "https":
			if u.Host == "" {
				return newError(ErrInvalidSource, fmt.Sprintf("repository URL %q has no host", repo), "")
			}
		case "file":
			if !allowLocal {
				return newError(ErrInvalidSource, "local repositories (file://) are disabled on this node", "")
			}
		default:
			return newError(ErrInvalidSource, fmt.Sprintf("repository URL scheme %q is not supported (use https)", u.Scheme), "")
		}
	} else if strings.Contains(repo, "::") || (strings.Contains(repo, ":") && !strings.HasPrefix(repo, "/") && !strings.HasPrefix(repo, ".")) {
		// git would read "host:path" as ssh and "ext::cmd" as a command.
		return newError(ErrInvalidSource, fmt.Sprintf("repository %q is not an https URL", repo), "")
	} else if !allowLocal {
		return newError(ErrInvalidSource, "local repository paths are disabled on this node (use an https URL)", "")
	}

	if err := checkRef(src.Commit); err != nil {
		return err
	}
	if src.Path != "" {
		p := filepath.ToSlash(src.Path)
		if !filepath.IsLocal(src.Path) || strings.HasPrefix(p, "/") {
			return newError(ErrInvalidSource, fmt.Sprintf("path %q must be a relative directory inside the repository", src.Path), "")
		}
	}
	return nil
}

func checkRef(ref string) error {
	if ref == "" {
		return newError(ErrInvalidSource, "no commit given (a sha, branch or tag)", "")
	}
	if len(ref) > maxRefLen || strings.HasPrefix(ref, "-") || strings.Contains(ref, "..") ||
		strings.HasSuffix(ref, "/") || strings.HasSuffix(ref, ".lock") {
		return newError(ErrInvalidSource, fmt.Sprintf("%q is not a valid commit, branch or tag name", ref), "")
	}
	for _, r := range ref {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
			r == '.' || r == '_' || r == '-' || r == '/'
		if !ok {
			return newError(ErrInvalidSource, fmt.Sprintf("%q is not a valid commit, branch or tag name", ref), "")
		}
	}
	return nil
}

func isHex(s string) bool {
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f' || r >= 'A' && r <= 'F') {
			return false
		}
	}
	return s != ""
}

// git runs the host's git with a configuration that ignores the node's own
// git settings, never prompts, and only speaks the allowed transports. It
// runs through the sandbox's init on the host's view of the machine (git
// must reach the network and its own helpers) but under the build's CPU
// and memory limits and a file-size limit per step.
type git struct {
	path       string
	allowLocal bool
	home       string // an empty directory, so no ~/.gitconfig applies
	sandbox    *sandbox
	limits     Limits
}

// command returns the jail and argv for one git command whose largest
// written file may have fileBytes bytes.
func (g *git) command(dir string, fileBytes uint64, args ...string) (jail, []string) {
	base := []string{g.path,
		"-c", "protocol.allow=never",
		"-c", "protocol.https.allow=always",
		"-c", "core.hooksPath=/dev/null",
		"-c", "advice.detachedHead=false",
		// Keep what is fetched as one pack (bounded by the file-size
		// limit) rather than as loose objects, one file each.
		"-c", "fetch.unpackLimit=1",
		"-c", "transfer.unpackLimit=1",
		"-c", "core.logAllRefUpdates=false",
		"-c", "core.autocrlf=false",
	}
	if g.allowLocal {
		base = append(base, "-c", "protocol.file.allow=always")
	}
	j := jail{
		hostView: true,
		dir:      dir,
		env: []string{
			"PATH=" + os.Getenv("PATH"),
			"HOME=" + g.home,
			"LC_ALL=C", // English messages, which classifyClone reads
			"GIT_TERMINAL_PROMPT=0",
			"GIT_CONFIG_NOSYSTEM=1",
			"GIT_CONFIG_GLOBAL=/dev/null",
			"GIT_ASKPASS=/bin/false",
			"SSH_ASKPASS=/bin/false",
			"GIT_COMMITTER_NAME=outlayer", "GIT_COMMITTER_EMAIL=build@outlayer.invalid",
		},
		rlimits: rlimits{
			AddressSpace: g.limits.MemoryBytes,
			CPUSeconds:   uint64(max(g.limits.CPUTime.Round(time.Second)/time.Second, 1)),
			FileBytes:    fileBytes,
		},
	}
	return j, append(base, args...)
}

func (g *git) run(ctx context.Context, dir string, fileBytes uint64, args ...string) (string, string, error) {
	j, argv := g.command(dir, fileBytes, args...)
	cmd, done, err := g.sandbox.prepare(ctx, j, argv)
	if err != nil {
		return "", "", err
	}
	defer done()
	stdout := &cappedBuffer{max: maxCapture}
	stderr := &cappedBuffer{max: 64 << 10}
	cmd.Stdout = stdout
	cmd.Stderr = stderr
	err = cmd.Run()
	return string(stdout.Bytes()), string(stderr.Bytes()), err
}

// clone fetches the whole repository (every branch and tag, so any commit
// can be checked out: upstream's shallow single-branch clone could only
// build the default branch's head) without checking anything out. No file
// it writes may exceed Limits.MaxRepoBytes.
func (g *git) clone(ctx context.Context, repo, dst string) error {
	_, stderr, err := g.run(ctx, "", g.limits.MaxRepoBytes,
		"clone", "--no-checkout", "--no-local", "--template=", "--quiet", "--", repo, dst)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if fileSizeExceeded(err, stderr) {
			return newError(ErrSourceTooLarge,
				fmt.Sprintf("%s: the fetched repository is larger than this node's limit of %d bytes", repo, g.limits.MaxRepoBytes),
				textcut.Head(strings.TrimSpace(stderr), 2048))
		}
		return classifyClone(repo, stderr)
	}
	return nil
}

// fileSizeExceeded reports whether a git command failed on RLIMIT_FSIZE:
// the sandbox init leaves SIGXFSZ ignored, so git and the helpers it runs
// (index-pack) see EFBIG and say "File too large".
func fileSizeExceeded(err error, stderr string) bool {
	if sig, ok := exitSignal(err); ok && sig == syscall.SIGXFSZ {
		return true
	}
	lower := strings.ToLower(stderr)
	return strings.Contains(lower, "file too large") || strings.Contains(lower, "file size limit exceeded")
}

func classifyClone(repo, stderr string) error {
	out := textcut.Head(strings.TrimSpace(stderr), 2048)
	lower := strings.ToLower(stderr)
	for _, s := range []string{
		"does not appear to be a git repository",
		"repository not found",
		"not found",
		"does not exist",
		"authentication failed",
		"could not read username",
		"terminal prompts disabled",
	} {
		if strings.Contains(lower, s) {
			return newError(ErrRepoNotFound, fmt.Sprintf("%s (it does not exist, or it is private)", repo), out)
		}
	}
	return newError(ErrFetch, repo, out)
}

// resolve turns ref into the full sha of a commit in the clone at dir.
// Order: a full sha as is; then a branch; then a tag; then an abbreviated
// sha. Only names that passed checkRef reach here, and each candidate is a
// fully qualified ref or a hex string, so no revision expression
// (HEAD~1, @{-1}, :/text) is ever evaluated.
func (g *git) resolve(ctx context.Context, dir, ref string) (string, error) {
	var candidates []string
	if len(ref) == 40 && isHex(ref) {
		candidates = []string{strings.ToLower(ref)}
	} else {
		candidates = []string{"refs/remotes/origin/" + ref, "refs/tags/" + ref}
		if len(ref) >= 4 && isHex(ref) {
			candidates = append(candidates, strings.ToLower(ref))
		}
	}
	for _, c := range candidates {
		out, _, err := g.run(ctx, dir, 1<<20, "rev-parse", "--verify", "--quiet", "--end-of-options", c+"^{commit}")
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		if err == nil {
			return strings.TrimSpace(out), nil
		}
	}
	return "", newError(ErrCommitNotFound,
		fmt.Sprintf("%q is not a commit, branch or tag of the repository (or is an ambiguous short sha)", ref), "")
}

// checkout measures the commit's tree and, when it is within
// Limits.MaxSourceFiles and Limits.MaxSourceBytes, checks it out. It
// returns the number of files and their total size.
func (g *git) checkout(ctx context.Context, dir, sha string) (int, uint64, error) {
	files, size, err := g.measureTree(ctx, dir, sha)
	if err != nil {
		return 0, 0, err
	}
	// The file-size limit repeats the total: attributes (eol=crlf) can make
	// a checked-out file larger than its blob.
	_, stderr, err := g.run(ctx, dir, g.limits.MaxSourceBytes, "checkout", "--quiet", "--detach", "--force", sha, "--")
	if err != nil {
		if ctx.Err() != nil {
			return 0, 0, ctx.Err()
		}
		if fileSizeExceeded(err, stderr) {
			return 0, 0, newError(ErrSourceTooLarge,
				fmt.Sprintf("a file of commit %s is larger than this node's limit of %d bytes", sha, g.limits.MaxSourceBytes), "")
		}
		return 0, 0, fmt.Errorf("git checkout %s: %w: %s", sha, err, textcut.Head(stderr, 2048))
	}
	return files, size, nil
}

// measureTree lists every file of the commit's tree from the object store
// (nothing is written) and stops as soon as the count or the total size is
// over the limits: a tree that repeats one subtree a thousand times over
// is refused after MaxSourceFiles lines, whatever it would expand to.
func (g *git) measureTree(ctx context.Context, dir, sha string) (int, uint64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	j, argv := g.command(dir, 1<<20, "ls-tree", "-r", "-l", "-z", "--full-tree", sha)
	cmd, done, err := g.sandbox.prepare(ctx, j, argv)
	if err != nil {
		return 0, 0, err
	}
	defer done()
	stderr := &cappedBuffer{max: 64 << 10}
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return 0, 0, fmt.Errorf("git ls-tree: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return 0, 0, fmt.Errorf("git ls-tree: %w", err)
	}
	files, size, tooBig := 0, uint64(0), error(nil)
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 64<<10)
	sc.Split(splitNUL)
	for sc.Scan() {
		// "MODE TYPE OBJECT SIZE\tPATH"; SIZE is "-" for submodules.
		meta, _, _ := strings.Cut(sc.Text(), "\t")
		fields := strings.Fields(meta)
		files++
		if len(fields) == 4 && fields[3] != "-" {
			n, err := strconv.ParseUint(fields[3], 10, 64)
			if err != nil {
				tooBig = fmt.Errorf("git ls-tree: unexpected size %q", fields[3])
				break
			}
			size += n
		}
		if files > g.limits.MaxSourceFiles {
			tooBig = newError(ErrSourceTooLarge,
				fmt.Sprintf("commit %s has more than %d files, this node's limit", sha, g.limits.MaxSourceFiles), "")
			break
		}
		if size > g.limits.MaxSourceBytes {
			tooBig = newError(ErrSourceTooLarge,
				fmt.Sprintf("commit %s holds more than %d bytes, this node's limit", sha, g.limits.MaxSourceBytes), "")
			break
		}
	}
	if tooBig != nil {
		cancel() // kills git, which may have much more to say
		_ = cmd.Wait()
		return 0, 0, tooBig
	}
	scanErr := sc.Err()
	if err := cmd.Wait(); err != nil {
		if ctx.Err() != nil {
			return 0, 0, ctx.Err()
		}
		return 0, 0, fmt.Errorf("git ls-tree %s: %w: %s", sha, err, textcut.Head(string(stderr.Bytes()), 2048))
	}
	if scanErr != nil {
		return 0, 0, fmt.Errorf("git ls-tree %s: %w", sha, scanErr)
	}
	return files, size, nil
}

// splitNUL is a bufio.SplitFunc for NUL-terminated records.
func splitNUL(data []byte, atEOF bool) (int, []byte, error) {
	if i := bytes.IndexByte(data, 0); i >= 0 {
		return i + 1, data[:i], nil
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}
