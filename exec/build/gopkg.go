package build

import (
	"fmt"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/mod/modfile"

	"github.com/outlayer/outlayer/internal/textcut"
)

// mainPackage is where the program lives inside the checked-out tree.
type mainPackage struct {
	dir     string // the package directory (absolute, inside the clone)
	modRoot string // the directory of the go.mod that owns it
	// needsDownload: go.mod requires modules that are not replaced by
	// directories inside the repository, so `go mod download` must run.
	needsDownload bool
}

// findMainPackage checks, before any sandbox starts, that rel names a Go
// main package inside root, so the author gets a precise error instead of
// a compiler message. It reads only files inside root: symlinks that lead
// out of the clone are refused.
func findMainPackage(root, rel string) (mainPackage, error) {
	if rel == "" {
		rel = "."
	}
	dir, err := inside(root, filepath.Join(root, filepath.FromSlash(rel)))
	if err != nil {
		return mainPackage{}, newError(ErrNoMainPackage, fmt.Sprintf("path %q: %v", rel, err), "")
	}
	fi, err := os.Stat(dir)
	if err != nil || !fi.IsDir() {
		return mainPackage{}, newError(ErrNoMainPackage, fmt.Sprintf("path %q is not a directory of the repository", rel), "")
	}

	modRoot := ""
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Lstat(filepath.Join(d, "go.mod")); err == nil {
			modRoot = d
			break
		}
		if d == root || !strings.HasPrefix(d, root) {
			break
		}
	}
	if modRoot == "" {
		return mainPackage{}, newError(ErrNoMainPackage,
			fmt.Sprintf("no go.mod in %q or any directory above it in the repository (run `go mod init` and commit go.mod)", rel), "")
	}

	entries, err := os.ReadDir(dir)
	if err != nil {
		return mainPackage{}, fmt.Errorf("reading %s: %w", rel, err)
	}
	names := map[string]bool{}
	goFiles := 0
	for _, e := range entries {
		n := e.Name()
		if !e.Type().IsRegular() || !strings.HasSuffix(n, ".go") || strings.HasSuffix(n, "_test.go") ||
			strings.HasPrefix(n, "_") || strings.HasPrefix(n, ".") {
			continue
		}
		goFiles++
		f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(dir, n), nil, parser.PackageClauseOnly)
		if err != nil {
			continue // the compiler will report it with context
		}
		names[f.Name.Name] = true
	}
	if goFiles == 0 {
		return mainPackage{}, newError(ErrNoMainPackage, fmt.Sprintf("no .go files in %q", rel), "")
	}
	if len(names) > 0 && !names["main"] {
		found := make([]string, 0, len(names))
		for n := range names {
			found = append(found, n)
		}
		sort.Strings(found)
		return mainPackage{}, newError(ErrNoMainPackage,
			fmt.Sprintf("%q holds package %s, not package main", rel, strings.Join(found, ", ")), "")
	}

	needs, err := needsDownload(filepath.Join(modRoot, "go.mod"))
	if err != nil {
		return mainPackage{}, err
	}
	return mainPackage{dir: dir, modRoot: modRoot, needsDownload: needs}, nil
}

// inside resolves symlinks in p and checks the result is still under root.
func inside(root, p string) (string, error) {
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return "", fmt.Errorf("does not exist in the repository")
	}
	if real != root && !strings.HasPrefix(real, root+string(filepath.Separator)) {
		return "", fmt.Errorf("leads outside the repository")
	}
	return real, nil
}

func needsDownload(gomod string) (bool, error) {
	data, err := os.ReadFile(gomod)
	if err != nil {
		return false, fmt.Errorf("reading go.mod: %w", err)
	}
	f, err := modfile.Parse(gomod, data, nil)
	if err != nil {
		return false, newError(ErrCompile, "go.mod does not parse", textcut.Head(err.Error(), maxCompileOutput))
	}
	local := map[string]bool{}
	for _, r := range f.Replace {
		if r.New.Version == "" { // a directory replacement
			local[r.Old.Path] = true
		}
	}
	for _, r := range f.Require {
		if !local[r.Mod.Path] {
			return true, nil
		}
	}
	return false, nil
}
