package build_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb/dirhash"
	modzip "golang.org/x/mod/zip"

	"github.com/outlayer/outlayer/exec/build"
)

// fileProxy lays out a GOPROXY directory serving one module version, and
// returns the go.sum lines for it. Builds then fetch a real dependency
// through the download step without leaving the machine.
func fileProxy(t *testing.T, path, version string, files map[string]string) (proxyDir, gosum string) {
	t.Helper()
	src := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(src, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	proxyDir = t.TempDir()
	vdir := filepath.Join(proxyDir, path, "@v")
	if err := os.MkdirAll(vdir, 0o755); err != nil {
		t.Fatal(err)
	}
	var zipBuf bytes.Buffer
	mv := module.Version{Path: path, Version: version}
	if err := modzip.CreateFromDir(&zipBuf, mv, src); err != nil {
		t.Fatal(err)
	}
	zipFile := filepath.Join(vdir, version+".zip")
	for name, data := range map[string][]byte{
		"list":                 []byte(version + "\n"),
		version + ".info":      []byte(`{"Version":"` + version + `","Time":"2026-01-01T00:00:00Z"}`),
		version + ".mod":       []byte(files["go.mod"]),
		filepath.Base(zipFile): zipBuf.Bytes(),
	} {
		if err := os.WriteFile(filepath.Join(vdir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	zipHash, err := dirhash.HashZip(zipFile, dirhash.Hash1)
	if err != nil {
		t.Fatal(err)
	}
	modHash, err := dirhash.Hash1([]string{"go.mod"}, func(string) (io.ReadCloser, error) {
		return io.NopCloser(strings.NewReader(files["go.mod"])), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	gosum = fmt.Sprintf("%s %s %s\n%s %s/go.mod %s\n", path, version, zipHash, path, version, modHash)
	return proxyDir, gosum
}

const depMain = `package main

import (
	"os"

	"example.com/shout"
)

func main() { os.Stdout.WriteString(shout.Loud("from a dependency") + "\n") }
`

func TestBuildDownloadsDependencies(t *testing.T) {
	proxy, gosum := fileProxy(t, "example.com/shout", "v1.0.0", map[string]string{
		"go.mod":   "module example.com/shout\n\ngo 1.24\n",
		"shout.go": "package shout\n\nimport \"strings\"\n\nfunc Loud(s string) string { return strings.ToUpper(s) }\n",
	})
	gomod := "module example.com/app\n\ngo 1.24\n\nrequire example.com/shout v1.0.0\n"
	good := newRepo(t, map[string]string{"go.mod": gomod, "go.sum": gosum, "main.go": depMain})
	bad := newRepo(t, map[string]string{
		"go.mod":  gomod,
		"go.sum":  strings.Replace(gosum, "h1:", "h1:AAAA", 1),
		"main.go": depMain,
	})
	noSum := newRepo(t, map[string]string{"go.mod": gomod, "main.go": depMain})

	b := newBuilder(t, func(c *build.Config) {
		c.GoProxy = "file://" + proxy
		c.GoSumDB = "off" // go.sum is still checked; only the online database is skipped
	})
	ctx := context.Background()
	res, err := b.Build(ctx, build.Source{Repo: good.dir, Commit: "main"})
	if err != nil {
		t.Fatal(err)
	}
	if got := runWasm(t, res.Wasm, ""); got != "FROM A DEPENDENCY\n" {
		t.Fatalf("program printed %q", got)
	}
	if strings.Contains(res.Log, "download: skipped") {
		t.Fatalf("the download step did not run:\n%s", res.Log)
	}

	for _, tc := range []struct {
		name string
		r    *repo
		text string
	}{
		{"tampered go.sum", bad, "does not match its go.sum hash"},
		{"missing go.sum", noSum, "go mod tidy"},
	} {
		_, err := b.Build(ctx, build.Source{Repo: tc.r.dir, Commit: "main"})
		if !errors.Is(err, build.ErrDependencies) || !strings.Contains(err.Error(), tc.text) {
			t.Errorf("%s: got %v, want ErrDependencies saying %q", tc.name, err, tc.text)
		}
	}
}
