package daemon

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/outlayer/outlayer/consensus"
	"github.com/outlayer/outlayer/exec/build"
	"github.com/outlayer/outlayer/failure"
	"github.com/outlayer/outlayer/internal/textcut"
	"github.com/outlayer/outlayer/store"
)

// wasmInfo is the WASM a request runs and where it came from.
type wasmInfo struct {
	bytes     []byte
	hash      store.BlobHash
	compileMs *uint64
	note      string
	from      string // cache | peer | build | download
}

// supportedTarget is the one target this cluster builds (Go, WASI preview 1).
const supportedTarget = "wasm32-wasip1"

// obtainWasm gets the request's WASM: the replicated cache first, then
// another member by hash, then a build from source (git) or a download
// (WasmUrl). New WASM goes into the replicated cache. A failure caused by
// the code source (a build error, a missing repository, a download whose
// hash does not match) is a *failure.Error of a final kind; any other error
// is the node's problem and the request is left to be retried elsewhere.
func (w *worker) obtainWasm(ctx context.Context, j *store.Job) (*wasmInfo, error) {
	switch {
	case j.Code.Git != nil:
		return w.gitWasm(ctx, j)
	case j.Code.Wasm != nil:
		return w.urlWasm(ctx, j)
	}
	return nil, failure.New(failure.InvalidRequest, "the request has no code source")
}

// cachedNote begins the compilation note of a run whose WASM was already
// stored (not built or downloaded for it).
const cachedNote = "Cached WASM"

func (w *worker) cached(ctx context.Context, h store.BlobHash) (*wasmInfo, bool) {
	if data, err := w.replica.Blob(h); err == nil {
		note := cachedNote
		if info, err := w.replica.BlobInfo(h); err == nil {
			note = cachedNote + " from " + info.StoredAt.UTC().Format(time.RFC3339)
		}
		return &wasmInfo{bytes: data, hash: h, note: note, from: "cache"}, true
	}
	data, from, err := w.peers.fetchBlob(ctx, h)
	if err != nil {
		w.log.Debug("no member could send the blob", "hash", h.String(), "err", err)
		return nil, false
	}
	w.log.Info("WASM fetched from a peer", "hash", h.String(), "from", shortPeer(from))
	return &wasmInfo{bytes: data, hash: h, note: cachedNote + " (from a peer)", from: "peer"}, true
}

func (w *worker) gitWasm(ctx context.Context, j *store.Job) (*wasmInfo, error) {
	g := j.Code.Git
	if g.BuildTarget != supportedTarget {
		return nil, failure.New(failure.CompilationFailed,
			"Compilation failed: build target %q is not supported; this cluster builds Go programs for %s", g.BuildTarget, supportedTarget)
	}
	src := store.BlobSource{Repo: g.Repo, Commit: g.Commit, Target: g.BuildTarget}
	if !j.Params.ForceRebuild {
		if h, ok, err := w.replica.BlobBySource(src); err == nil && ok {
			if info, ok := w.cached(ctx, h); ok {
				return info, nil
			}
		}
	}
	// One build per source per node at a time; a second request for the
	// same source waits and then finds the blob.
	unlock := w.buildLocks.lock(src)
	defer unlock()
	if !j.Params.ForceRebuild {
		if h, ok, err := w.replica.BlobBySource(src); err == nil && ok {
			if info, ok := w.cached(ctx, h); ok {
				return info, nil
			}
		}
	}
	if w.builder == nil {
		return nil, errors.New("this node cannot build from source (the build sandbox is unavailable)")
	}
	started := time.Now()
	res, err := w.builder.Build(ctx, build.Source{Repo: g.Repo, Commit: g.Commit})
	w.metrics.buildSeconds.Observe(time.Since(started).Seconds())
	if err != nil {
		var be *build.Error
		if errors.As(err, &be) && !errors.Is(err, build.ErrSandboxUnavailable) && ctx.Err() == nil {
			w.metrics.builds.WithLabelValues("failed").Inc()
			w.builds.Add(1)
			msg := "Compilation failed: " + be.Error()
			if be.Output != "" && !strings.Contains(msg, be.Output) {
				msg += "\n" + textcut.Tail(be.Output, 1500)
			}
			return nil, failure.Wrap(failure.CompilationFailed, err, msg)
		}
		return nil, fmt.Errorf("building %s@%s: %w", g.Repo, g.Commit, err)
	}
	w.builds.Add(1)
	w.metrics.builds.WithLabelValues("ok").Inc()
	h := store.BlobHash(sha256.Sum256(res.Wasm))
	ms := uint64(res.Duration.Milliseconds())
	// Index by the resolved commit only: a branch name moves, and caching
	// under it would serve stale code forever (upstream's bug).
	indexed := store.BlobSource{Repo: g.Repo, Commit: res.ResolvedCommit, Target: g.BuildTarget}
	if _, err := w.propose.Apply(ctx, &consensus.PutBlob{Hash: h, Data: res.Wasm, Source: &indexed}); err != nil {
		w.log.Warn("storing the built WASM in the cluster cache failed; it will be built again next time", "request_id", j.ID, "err", err)
	}
	return &wasmInfo{bytes: res.Wasm, hash: h, compileMs: &ms, from: "build",
		note: fmt.Sprintf("Freshly compiled from %s (%s)", shortCommit(res.ResolvedCommit), res.GoVersion)}, nil
}

func (w *worker) urlWasm(ctx context.Context, j *store.Job) (*wasmInfo, error) {
	u := j.Code.Wasm
	h, err := store.ParseBlobHash(u.Hash)
	if err != nil {
		return nil, failure.New(failure.CompilationFailed, "WasmUrl hash %q is not a sha256 in hex", u.Hash)
	}
	if info, ok := w.cached(ctx, h); ok {
		return info, nil
	}
	data, err := w.download.Get(ctx, u.URL)
	if err != nil {
		if ctx.Err() != nil {
			return nil, err
		}
		return nil, failure.Wrap(failure.CompilationFailed, err, "WASM download failed: "+err.Error())
	}
	if sha256.Sum256(data) != h {
		// Never echo the hash of what came back: it would publish, on
		// chain, a digest of whatever the URL served.
		return nil, failure.New(failure.CompilationFailed,
			"WASM download from %s does not match the sha256 the request names (%s)", u.URL, u.Hash)
	}
	if _, err := w.propose.Apply(ctx, &consensus.PutBlob{Hash: h, Data: data}); err != nil {
		w.log.Warn("storing the downloaded WASM in the cluster cache failed", "request_id", j.ID, "err", err)
	}
	return &wasmInfo{bytes: data, hash: h, note: "Downloaded from " + u.URL, from: "download"}, nil
}

// keyedLocks serialises work per key.
type keyedLocks struct {
	mu sync.Mutex
	m  map[store.BlobSource]*sync.Mutex
}

func (k *keyedLocks) lock(key store.BlobSource) func() {
	k.mu.Lock()
	if k.m == nil {
		k.m = map[store.BlobSource]*sync.Mutex{}
	}
	l, ok := k.m[key]
	if !ok {
		l = &sync.Mutex{}
		k.m[key] = l
	}
	k.mu.Unlock()
	l.Lock()
	return l.Unlock
}

func shortCommit(c string) string {
	if len(c) > 12 {
		return c[:12]
	}
	return c
}
