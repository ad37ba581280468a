package daemon

import (
	"context"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/outlayer/outlayer/consensus"
	"github.com/outlayer/outlayer/exec"
	"github.com/outlayer/outlayer/exec/build"
	"github.com/outlayer/outlayer/failure"
	"github.com/outlayer/outlayer/store"
)

type fakeRunner struct {
	// getProp is the worker's proposer, for checks on what it stored.
	getProp *fakeProposer
	calls   int
	got     exec.Request
	res     exec.Result
	err     error
}

func (r *fakeRunner) Run(_ context.Context, req exec.Request) (exec.Result, error) {
	r.calls++
	r.got = req
	return r.res, r.err
}

type fakeBuilder struct {
	res *build.Result
	err error
}

func (b fakeBuilder) Build(context.Context, build.Source) (*build.Result, error) { return b.res, b.err }

type noPeers struct{}

func (noPeers) fetchBlob(context.Context, store.BlobHash) ([]byte, string, error) {
	return nil, "", errors.New("no other member")
}

type fakeDownload struct{ data []byte }

func (d fakeDownload) Get(context.Context, string) ([]byte, error) { return d.data, nil }

type fakeSecrets struct {
	env    map[string]string
	failed *store.Result
	err    error
}

func (s fakeSecrets) secretsFor(context.Context, *store.Job) (map[string]string, *store.Result, error) {
	return s.env, s.failed, s.err
}

// fakeSeeds derives a request's seed from its id, or fails with err.
type fakeSeeds struct{ err error }

func (s fakeSeeds) requestSeed(_ context.Context, j *store.Job) ([32]byte, error) {
	return [32]byte{byte(j.ID), 0x5e}, s.err
}

func testWorker(rep *fakeReplica, run *fakeRunner) *worker {
	return (&worker{replica: rep, propose: &fakeProposer{}, self: "A", runner: run, peers: noPeers{},
		download: fakeDownload{}, secrets: fakeSecrets{}, seeds: fakeSeeds{}, contract: "outlayer.near", metrics: newMetrics(), log: quietLog()}).init(2)
}

// TestWorkerRunJob checks what a run turns into: a result for the caller
// (with its failure kind), or an error that leaves the request to another
// node.
func TestWorkerRunJob(t *testing.T) {
	wasm := []byte("\x00asm fake module")
	h := store.BlobHash(sha256.Sum256(wasm))
	built := []byte("\x00asm built")
	cases := []struct {
		name    string
		job     func() *store.Job
		setup   func(w *worker, r *fakeRunner)
		kind    failure.Kind // "" with success
		nodeErr bool
		ran     bool
		check   func(t *testing.T, res store.Result, r *fakeRunner)
	}{
		{name: "success", job: func() *store.Job { return wasmJob(1, h) },
			setup: func(_ *worker, r *fakeRunner) {
				r.res = exec.Result{Output: []byte("out"), Instructions: 5, Time: 3 * time.Millisecond}
			},
			ran: true,
			check: func(t *testing.T, res store.Result, r *fakeRunner) {
				if !res.Success || string(res.Output) != "out" || res.Instructions != 5 || res.TimeMs != 3 || res.WasmHash != h.String() ||
					!strings.HasPrefix(res.CompilationNote, "Cached WASM") || r.got.Context.ContractID != "outlayer.near" || r.got.Format != exec.FormatText {
					t.Errorf("result %+v, request %+v", res, r.got.Context)
				}
			}},
		{name: "the cluster's seed reaches the run", job: func() *store.Job { return wasmJob(9, h) },
			ran: true,
			check: func(t *testing.T, _ store.Result, r *fakeRunner) {
				if r.got.Seed != [32]byte{9, 0x5e} {
					t.Errorf("seed %x, want the seed source's", r.got.Seed)
				}
			}},
		{name: "no seed without the master: the node's problem", job: func() *store.Job { return wasmJob(1, h) },
			setup:   func(w *worker, _ *fakeRunner) { w.seeds = fakeSeeds{err: errNoSeed} },
			nodeErr: true},
		{name: "program trap", job: func() *store.Job { return wasmJob(1, h) },
			setup: func(_ *worker, r *fakeRunner) {
				r.err = &exec.Error{Kind: exec.ErrTrap, Message: "wasm trap: unreachable"}
			},
			kind: failure.Trap, ran: true,
			check: func(t *testing.T, res store.Result, _ *fakeRunner) {
				if res.Error != "Execution failed: wasm trap: unreachable" {
					t.Errorf("error %q", res.Error)
				}
			}},
		{name: "instruction limit", job: func() *store.Job { return wasmJob(1, h) },
			setup: func(_ *worker, r *fakeRunner) {
				r.err = &exec.Error{Kind: exec.ErrInstructionLimit, Message: "out of fuel"}
			},
			kind: failure.InstructionLimit, ran: true},
		{name: "sandbox crashed: the node's problem", job: func() *store.Job { return wasmJob(1, h) },
			setup:   func(_ *worker, r *fakeRunner) { r.err = failure.New(failure.SandboxCrashed, "sandbox killed") },
			nodeErr: true, ran: true},
		{name: "cancelled run: the node's problem", job: func() *store.Job { return wasmJob(1, h) },
			setup:   func(_ *worker, r *fakeRunner) { r.err = context.Canceled },
			nodeErr: true, ran: true},
		{name: "unknown format refused, not run as Text", job: func() *store.Job { j := wasmJob(1, h); j.ResponseFormat = "Yaml"; return j },
			kind: failure.InvalidRequest},
		{name: "compile only returns the hash", job: func() *store.Job { j := wasmJob(1, h); j.Params.CompileOnly = true; return j },
			check: func(t *testing.T, res store.Result, _ *fakeRunner) {
				if !res.Success || string(res.Output) != h.String() {
					t.Errorf("result %+v", res)
				}
			}},
		{name: "no code source", job: func() *store.Job { j := wasmJob(1, h); j.Code = store.CodeSource{}; return j },
			kind: failure.InvalidRequest},
		{name: "download with the wrong hash", job: func() *store.Job { return wasmJob(1, store.BlobHash{1}) },
			setup: func(w *worker, _ *fakeRunner) { w.download = fakeDownload{data: wasm} },
			kind:  failure.CompilationFailed,
			check: func(t *testing.T, res store.Result, _ *fakeRunner) {
				if strings.Contains(res.Error, h.String()) {
					t.Errorf("the error publishes the hash of what the URL served: %s", res.Error)
				}
			}},
		{name: "download that matches", job: func() *store.Job { return wasmJob(1, h) },
			setup: func(w *worker, _ *fakeRunner) {
				delete(w.replica.(*fakeReplica).blobs, h)
				w.download = fakeDownload{data: wasm}
			},
			ran: true},
		{name: "no builder: the node's problem", job: func() *store.Job { return gitJob(1, "github.com/o/r") }, nodeErr: true},
		{name: "unsupported target", job: func() *store.Job { j := gitJob(1, "github.com/o/r"); j.Code.Git.BuildTarget = "x86"; return j },
			kind: failure.CompilationFailed},
		{name: "build error", job: func() *store.Job { return gitJob(1, "github.com/o/r") },
			setup: func(w *worker, _ *fakeRunner) {
				w.builder = fakeBuilder{err: &build.Error{Kind: build.ErrCompile, Detail: "go build failed", Output: "main.go:1: syntax error"}}
			},
			kind: failure.CompilationFailed,
			check: func(t *testing.T, res store.Result, _ *fakeRunner) {
				if !strings.Contains(res.Error, "syntax error") || res.CompilationNote != "Compilation failed" {
					t.Errorf("result %+v", res)
				}
			}},
		{name: "build sandbox gone: the node's problem", job: func() *store.Job { return gitJob(1, "github.com/o/r") },
			setup: func(w *worker, _ *fakeRunner) {
				w.builder = fakeBuilder{err: &build.Error{Kind: build.ErrSandboxUnavailable}}
			},
			nodeErr: true},
		{name: "built and run", job: func() *store.Job { return gitJob(1, "github.com/o/r") },
			setup: func(w *worker, _ *fakeRunner) {
				w.builder = fakeBuilder{res: &build.Result{Wasm: built, ResolvedCommit: strings.Repeat("c", 40), GoVersion: "go1.26"}}
			},
			ran: true,
			check: func(t *testing.T, res store.Result, r *fakeRunner) {
				pb := commands[*consensus.PutBlob](r.getProp)
				if string(r.got.Wasm) != string(built) || len(pb) != 1 || pb[0].Source.Commit != strings.Repeat("c", 40) || res.CompileMs == nil {
					t.Errorf("ran %q, put %+v, result %+v", r.got.Wasm, pb, res)
				}
			}},
		{name: "secrets refused", job: func() *store.Job {
			j := wasmJob(1, h)
			j.Secrets = &store.SecretsRef{Profile: "p", AccountID: "o"}
			return j
		},
			setup: func(w *worker, _ *fakeRunner) {
				w.secrets = fakeSecrets{failed: &store.Result{ErrorKind: failure.AccessDenied, Error: "denied"}}
			},
			kind: failure.AccessDenied},
		{name: "secrets not ready: the node's problem", job: func() *store.Job {
			j := wasmJob(1, h)
			j.Secrets = &store.SecretsRef{Profile: "p", AccountID: "o"}
			return j
		},
			setup:   func(w *worker, _ *fakeRunner) { w.secrets = fakeSecrets{err: errNodeCannotDecrypt} },
			nodeErr: true},
		{name: "secrets passed to the run", job: func() *store.Job {
			j := wasmJob(1, h)
			j.Secrets = &store.SecretsRef{Profile: "p", AccountID: "o"}
			return j
		},
			setup: func(w *worker, _ *fakeRunner) { w.secrets = fakeSecrets{env: map[string]string{"API_KEY": "k"}} },
			ran:   true,
			check: func(t *testing.T, _ store.Result, r *fakeRunner) {
				if r.got.Secrets["API_KEY"] != "k" {
					t.Errorf("secrets %v", r.got.Secrets)
				}
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rep := newFakeReplica()
			rep.blobs[h] = wasm
			run := &fakeRunner{}
			w := testWorker(rep, run)
			run.getProp = w.propose.(*fakeProposer)
			if c.setup != nil {
				c.setup(w, run)
			}
			res, _, err := w.runJob(context.Background(), quietLog(), c.job())
			if (err != nil) != c.nodeErr {
				t.Fatalf("error %v, want a node error: %v (result %+v)", err, c.nodeErr, res)
			}
			if (run.calls > 0) != c.ran {
				t.Errorf("runner called %d times, want a run: %v", run.calls, c.ran)
			}
			if c.nodeErr {
				return
			}
			if res.ErrorKind != c.kind || res.Success != (c.kind == "") {
				t.Errorf("result kind %q success %v (%s), want kind %q", res.ErrorKind, res.Success, res.Error, c.kind)
			}
			if c.check != nil {
				c.check(t, res, run)
			}
		})
	}
}

// TestWorkerDoesNotRetryANodeFailureUnderTheSameLease: a run this node
// could not do is not started again until the lease changes, so the lease
// expires (an attempt) and the request moves on.
func TestWorkerDoesNotRetryANodeFailureUnderTheSameLease(t *testing.T) {
	rep := newFakeReplica()
	run := &fakeRunner{err: failure.New(failure.SandboxCrashed, "sandbox killed")}
	w := testWorker(rep, run)
	w.wake = newNotifier(func() uint64 { return 0 })
	j := wasmJob(4, store.BlobHash{9})
	rep.blobs[store.BlobHash{9}] = []byte("x")
	j.Status, j.Node, j.LeaseUntil = store.StatusAssigned, "A", time.Now().Add(time.Minute)
	w.start(j)
	w.wg.Wait()
	if run.calls != 1 || len(w.failed) != 1 {
		t.Fatalf("calls %d, failed %v", run.calls, w.failed)
	}
	w.start(j)
	w.wg.Wait()
	if run.calls != 1 {
		t.Fatalf("restarted under the same lease: %d runs", run.calls)
	}
	next := *j
	next.LeaseUntil = j.LeaseUntil.Add(time.Second)
	w.start(&next)
	w.wg.Wait()
	if run.calls != 2 {
		t.Fatalf("not run under a new lease: %d runs", run.calls)
	}
	w.forgetFailed(next.LeaseUntil)
	if len(w.failed) != 0 {
		t.Fatalf("failed runs kept after their lease: %v", w.failed)
	}
}
