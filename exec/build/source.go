package build

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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
// git settings, never prompts, and only speaks the allowed transports.
type git struct {
	path       string
	allowLocal bool
	home       string // an empty directory, so no ~/.gitconfig applies
}

func (g *git) run(ctx context.Context, dir string, args ...string) (string, string, error) {
	base := []string{
		"-c", "protocol.allow=never",
		"-c", "protocol.https.allow=always",
		"-c", "core.hooksPath=/dev/null",
		"-c", "advice.detachedHead=false",
	}
	if g.allowLocal {
		base = append(base, "-c", "protocol.file.allow=always")
	}
	cmd := exec.CommandContext(ctx, g.path, append(base, args...)...)
	cmd.Dir = dir
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + g.home,
		"LC_ALL=C", // English messages, which classifyClone reads
		"GIT_TERMINAL_PROMPT=0",
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_ASKPASS=/bin/false",
		"SSH_ASKPASS=/bin/false",
	}
	var stdout bytes.Buffer
	stderr := &cappedBuffer{max: 64 << 10}
	cmd.Stdout = &stdout
	cmd.Stderr = stderr
	err := cmd.Run()
	return stdout.String(), string(stderr.Bytes()), err
}

// clone fetches the whole repository (every branch and tag, so any commit
// can be checked out: upstream's shallow single-branch clone could only
// build the default branch's head) without checking anything out.
func (g *git) clone(ctx context.Context, repo, dst string) error {
	_, stderr, err := g.run(ctx, "", "clone", "--no-checkout", "--no-local", "--quiet", "--", repo, dst)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return classifyClone(repo, stderr)
	}
	return nil
}

func classifyClone(repo, stderr string) error {
	out := truncate(strings.TrimSpace(stderr), 2048)
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
		out, _, err := g.run(ctx, dir, "rev-parse", "--verify", "--quiet", "--end-of-options", c+"^{commit}")
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

func (g *git) checkout(ctx context.Context, dir, sha string) error {
	_, stderr, err := g.run(ctx, dir, "checkout", "--quiet", "--detach", "--force", sha, "--")
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("git checkout %s: %w: %s", sha, err, truncate(stderr, 2048))
	}
	return nil
}
