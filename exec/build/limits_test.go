package build_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/outlayer/outlayer/exec/build"
)

// hashObject stores data as a blob in the repository without a work-tree
// file and returns its id.
func (r *repo) hashObject(data io.Reader) string {
	r.t.Helper()
	cmd := exec.Command("git", "hash-object", "-w", "--stdin")
	cmd.Dir = r.dir
	cmd.Stdin = data
	out, err := cmd.Output()
	if err != nil {
		r.t.Fatalf("git hash-object: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// mktree stores a tree of the given "MODE TYPE ID\tNAME" lines.
func (r *repo) mktree(entries []string) string {
	r.t.Helper()
	cmd := exec.Command("git", "mktree")
	cmd.Dir = r.dir
	cmd.Stdin = strings.NewReader(strings.Join(entries, "\n") + "\n")
	out, err := cmd.Output()
	if err != nil {
		r.t.Fatalf("git mktree: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// commitTree makes tree the content of a new commit on main.
func (r *repo) commitTree(tree string) string {
	r.t.Helper()
	sha := r.git("commit-tree", tree, "-p", "HEAD", "-m", "payload")
	r.git("update-ref", "refs/heads/main", sha)
	return sha
}

// helloTree is the tree of a repository holding helloFiles, to extend.
func helloTree(r *repo) []string {
	r.t.Helper()
	return strings.Split(r.git("ls-tree", "HEAD"), "\n")
}

// TestGitBombIsRefusedBeforeCheckout: a tree that names one 10-entry
// subtree ten times, five levels deep, is 100,000 files from a handful of
// objects. The build must refuse it from the tree listing, without
// checking anything out.
func TestGitBombIsRefusedBeforeCheckout(t *testing.T) {
	r := newRepo(t, helloFiles("v1"))
	blob := r.hashObject(strings.NewReader("boom\n"))
	var level []string
	for i := range 10 {
		level = append(level, fmt.Sprintf("100644 blob %s\tf%d", blob, i))
	}
	tree := r.mktree(level)
	for range 4 {
		level = level[:0]
		for i := range 10 {
			level = append(level, fmt.Sprintf("040000 tree %s\td%d", tree, i))
		}
		tree = r.mktree(level)
	}
	r.commitTree(r.mktree(append(helloTree(r), "040000 tree "+tree+"\tbomb")))

	work := t.TempDir()
	b := newBuilder(t, func(c *build.Config) { c.WorkDir = work })
	start := time.Now()
	_, err := b.Build(context.Background(), build.Source{Repo: r.dir, Commit: "main"})
	if !errors.Is(err, build.ErrSourceTooLarge) || !strings.Contains(err.Error(), fmt.Sprintf("more than %d files", build.DefaultMaxSourceFiles)) {
		t.Fatalf("got %v, want ErrSourceTooLarge about the file count", err)
	}
	t.Logf("refused in %s", time.Since(start))
	if left, _ := os.ReadDir(work); len(left) != 0 {
		t.Errorf("the build left %d entries in its work dir", len(left))
	}
}

// TestSourceFileCountIsExact: a commit with exactly MaxSourceFiles files
// builds, one file fewer allowed is refused.
func TestSourceFileCountIsExact(t *testing.T) {
	r := newRepo(t, helloFiles("v1")) // go.mod, main.go, version.go
	ok := newBuilder(t, func(c *build.Config) { c.Limits.MaxSourceFiles = 3 })
	if _, err := ok.Build(context.Background(), build.Source{Repo: r.dir, Commit: "main"}); err != nil {
		t.Fatalf("3 files, limit 3: %v", err)
	}
	tight := newBuilder(t, func(c *build.Config) { c.Limits.MaxSourceFiles = 2 })
	_, err := tight.Build(context.Background(), build.Source{Repo: r.dir, Commit: "main"})
	if !errors.Is(err, build.ErrSourceTooLarge) {
		t.Fatalf("3 files, limit 2: got %v, want ErrSourceTooLarge", err)
	}
}

// zeros reads n zero bytes.
type zeros struct{ n int64 }

func (z *zeros) Read(p []byte) (int, error) {
	if z.n == 0 {
		return 0, io.EOF
	}
	k := min(int64(len(p)), z.n)
	clear(p[:k])
	z.n -= k
	return int(k), nil
}

// TestExpandingFileIsRefusedBeforeCheckout: a 64 MiB file of zeros packs
// into a few dozen KiB; the commit's size is measured from the tree before
// checkout, so it never reaches the disk.
func TestExpandingFileIsRefusedBeforeCheckout(t *testing.T) {
	r := newRepo(t, helloFiles("v1"))
	big := r.hashObject(&zeros{n: 64 << 20})
	r.commitTree(r.mktree(append(helloTree(r), "100644 blob "+big+"\tzeros.bin")))
	packed := r.git("count-objects", "-v")

	work := t.TempDir()
	b := newBuilder(t, func(c *build.Config) {
		c.WorkDir = work
		c.Limits.MaxSourceBytes = 16 << 20
	})
	_, err := b.Build(context.Background(), build.Source{Repo: r.dir, Commit: "main"})
	if !errors.Is(err, build.ErrSourceTooLarge) || !strings.Contains(err.Error(), "more than 16777216 bytes") {
		t.Fatalf("got %v, want ErrSourceTooLarge about the size (objects: %s)", err, packed)
	}
}

// TestRepositoryLargerThanLimitIsNotFetched: the clone may write no file
// (its pack) over MaxRepoBytes; 2 MiB of random bytes do not compress.
func TestRepositoryLargerThanLimitIsNotFetched(t *testing.T) {
	r := newRepo(t, helloFiles("v1"))
	noise := make([]byte, 2<<20)
	if _, err := rand.Read(noise); err != nil {
		t.Fatal(err)
	}
	blob := r.hashObject(bytes.NewReader(noise))
	r.commitTree(r.mktree(append(helloTree(r), "100644 blob "+blob+"\tnoise.bin")))

	b := newBuilder(t, func(c *build.Config) { c.Limits.MaxRepoBytes = 512 << 10 })
	_, err := b.Build(context.Background(), build.Source{Repo: r.dir, Commit: "main"})
	if !errors.Is(err, build.ErrSourceTooLarge) || !strings.Contains(err.Error(), "fetched repository is larger") {
		t.Fatalf("got %v, want ErrSourceTooLarge about the fetch", err)
	}
	t.Log(err)
}

// TestStalledFetchTimesOut: a server that accepts the connection and never
// answers holds the clone only until the build's deadline.
func TestStalledFetchTimesOut(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // held open, silent, until the test ends
		}
	}()
	b := newBuilder(t, func(c *build.Config) { c.Limits.Timeout = 2 * time.Second })
	start := time.Now()
	_, err = b.Build(context.Background(), build.Source{Repo: "https://" + ln.Addr().String() + "/x.git", Commit: "main"})
	if !errors.Is(err, build.ErrTimeout) {
		t.Fatalf("got %v, want ErrTimeout", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("a 2 s limit took %s to stop the fetch", d)
	}
}

// TestBuildNeedsOnlyGoAndGit builds with a PATH holding nothing but go and
// git: no bubblewrap, no prlimit, no other helper. (CI's machine has only
// what .ci/run installs; this pins the build path itself.)
func TestBuildNeedsOnlyGoAndGit(t *testing.T) {
	bin := t.TempDir()
	for _, tool := range []string{"go", "git"} {
		p, err := exec.LookPath(tool)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(p, filepath.Join(bin, tool)); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", bin)
	for _, hidden := range []string{"bwrap", "prlimit", "unshare", "sh"} {
		if _, err := exec.LookPath(hidden); err == nil {
			t.Fatalf("%s is still in PATH", hidden)
		}
	}
	r := newRepo(t, helloFiles("v1"))
	res, err := newBuilder(t).Build(context.Background(), build.Source{Repo: r.dir, Commit: "main"})
	if err != nil {
		t.Fatal(err)
	}
	if got := runWasm(t, res.Wasm, "path"); got != "hello, path (v1)\n" {
		t.Fatalf("program printed %q", got)
	}
}
