package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/outlayer/outlayer/attest"
	"github.com/outlayer/outlayer/consensus"
	"github.com/outlayer/outlayer/exec"
	"github.com/outlayer/outlayer/failure"
	"github.com/outlayer/outlayer/store"
)

// worker runs the requests leased to this node: every node, leader
// included, has one.
type worker struct {
	replica replica
	propose proposer
	self    string
	wake    wakeup
	// runner runs WASM; builder builds it from source (nil: this node
	// cannot build); peers fetch a blob from another member; download
	// fetches a WasmUrl; secrets decrypts a request's secrets; attester
	// attests results (nil: they go out unattested).
	runner   wasmRunner
	builder  sourceBuilder
	peers    blobPeers
	download downloader
	secrets  secretSource
	seeds    seedSource
	attester attest.Attester
	// signer signs each result's claim with this node's executor key (nil:
	// results go out unsigned, which only a k = 1 contract accepts).
	signer resultSigner
	// claims is the chain id result claims (and attestations) bind.
	claims *claimChain
	// rig is Config.rigResult (tests only).
	rig      func(*store.Result)
	contract string
	// host answers programs' host calls (nil: none offered).
	host *hostServices
	// maxAttempts is the cluster's attempt bound (Config.MaxAttempts):
	// on the last attempt a crashed sandbox or a stalled run is the
	// request's answer (see lastAttemptKind).
	maxAttempts int
	metrics     *metrics
	log         *slog.Logger

	slots      chan struct{}
	buildLocks keyedLocks
	builds     atomic.Uint64

	mu      sync.Mutex
	running map[uint64]context.CancelFunc
	// failed holds, per request, the lease end of a run this node could
	// not do (a node failure): it is not started again under that lease,
	// which then expires and counts as an attempt, so the request runs on
	// another node, within the attempt limit.
	failed   map[uint64]time.Time
	draining bool
	wg       sync.WaitGroup
	// runCtx is cancelled by abort (a crash) but not by drain.
	runCtx    context.Context
	runCancel context.CancelFunc
}

// init makes w ready to run with slots concurrent runs.
func (w *worker) init(slots int) *worker {
	w.runCtx, w.runCancel = context.WithCancel(context.Background())
	w.slots = make(chan struct{}, slots)
	w.running, w.failed = map[uint64]context.CancelFunc{}, map[uint64]time.Time{}
	return w
}

func (w *worker) run(ctx context.Context) {
	for {
		ch := w.wake.C()
		jobs, err := w.replica.AssignedTo(w.self)
		if err != nil && ctx.Err() == nil {
			w.log.Warn("reading this node's assignments", "err", err)
		}
		now := time.Now()
		w.forgetFailed(now)
		for _, j := range jobs {
			j, ok := ownLease(j, w.self)
			if !ok || !now.Before(j.LeaseUntil) {
				continue // the lease is over; the scheduler takes it back
			}
			if !w.start(j) {
				break
			}
		}
		if !w.wake.wait(ctx, ch, 250*time.Millisecond) {
			return
		}
	}
}

// ownLease is j as node's lease sees it: LeaseUntil is the end of node's
// own lease (an agreement request may be leased to several executors at
// once; Node stays the first of them). ok is false when node holds none.
func ownLease(j *store.Job, node string) (*store.Job, bool) {
	until, ok := j.LeaseOf(node)
	if !ok {
		return nil, false
	}
	c := *j
	c.LeaseUntil = until
	return &c, true
}

// forgetFailed drops the failed runs whose lease is over.
func (w *worker) forgetFailed(now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for id, until := range w.failed {
		if !now.Before(until) {
			delete(w.failed, id)
		}
	}
}

// start launches j if it is not running and a slot is free; it reports
// whether the caller should look at more assignments.
func (w *worker) start(j *store.Job) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.draining {
		return false
	}
	if _, ok := w.running[j.ID]; ok {
		return true
	}
	if until, ok := w.failed[j.ID]; ok {
		if until.Equal(j.LeaseUntil) {
			return true
		}
		delete(w.failed, j.ID) // a new lease: try again
	}
	select {
	case w.slots <- struct{}{}:
	default:
		return false
	}
	// The run may go on until the lease ends, not longer: after that its
	// result would be late and unused.
	ctx, cancel := context.WithDeadline(w.runCtx, j.LeaseUntil)
	w.running[j.ID] = cancel
	w.wg.Add(1)
	w.metrics.running.Inc()
	go func() {
		defer w.wg.Done()
		defer func() {
			cancel()
			w.mu.Lock()
			delete(w.running, j.ID)
			w.mu.Unlock()
			<-w.slots
			w.metrics.running.Dec()
			w.wake.Poke()
		}()
		w.execute(ctx, j)
	}()
	return true
}

// stopTaking makes the worker refuse new assignments.
func (w *worker) stopTaking() {
	w.mu.Lock()
	w.draining = true
	w.mu.Unlock()
}

// drain stops taking assignments and waits for the running ones until ctx
// ends; whatever is still running then is cancelled. Assignments it refuses
// meanwhile, and the leases of the cancelled runs, are released (see
// release.go) so another node runs them now instead of after the lease.
func (w *worker) drain(ctx context.Context) {
	w.mu.Lock()
	w.draining = true
	n := len(w.running)
	w.mu.Unlock()
	if n > 0 {
		w.log.Info("waiting for running requests to finish", "running", n)
	}
	stopReleasing := w.releaseWhileDraining()
	done := make(chan struct{})
	go func() { w.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		w.log.Warn("shutdown deadline reached; unfinished requests are handed back to the cluster")
		w.abort()
		<-done
	}
	stopReleasing()
	w.releaseHeld()
}

// abort cancels every run at once.
func (w *worker) abort() {
	w.mu.Lock()
	w.draining = true
	w.mu.Unlock()
	w.runCancel()
}

// maxStorageReruns bounds how often a run is done again because the
// storage it read changed before its result applied.
const maxStorageReruns = 3

func (w *worker) execute(ctx context.Context, j *store.Job) {
	log := w.log.With("request_id", j.ID)
	log.Info("running request", "code", describeCode(j.Code), "lease_until", j.LeaseUntil.Format(time.RFC3339Nano))
	for rerun := 0; ; rerun++ {
		if !w.executeOnce(ctx, log, j) || rerun == maxStorageReruns || ctx.Err() != nil {
			return
		}
		log.Info("storage the run read changed before its result applied; running it again", "rerun", rerun+1)
	}
}

// executeOnce runs j and reports the result; it reports whether the run
// must be done again (its storage reads no longer hold).
func (w *worker) executeOnce(ctx context.Context, log *slog.Logger, j *store.Job) bool {
	res, host, err := w.runJob(ctx, log, j)
	if err != nil {
		if ctx.Err() != nil {
			log.Warn("run abandoned: lease over or node stopping; the request will be re-run elsewhere", "err", err)
		} else {
			log.Error("this node could not run the request; it will be re-run elsewhere after the lease expires",
				"kind", classify(err), "err", err)
			w.mu.Lock()
			w.failed[j.ID] = j.LeaseUntil
			w.mu.Unlock()
		}
		return false
	}
	record, effects := host.finish(&res)
	if w.rig != nil {
		w.rig(&res)
	}
	w.signResult(ctx, log, j, &res)
	w.attestResult(ctx, log, j, &res)
	return w.report(log, j, res, record, effects)
}

// report proposes the result with the run's record and storage writes.
// Complete is idempotent, so an indeterminate outcome (leader change
// mid-flight) is simply proposed again. It reports true when the storage
// the run read changed (the run must be done again).
func (w *worker) report(log *slog.Logger, j *store.Job, res store.Result, record []byte, effects *store.ProgEffects) bool {
	ctx, cancel := context.WithTimeout(w.runCtx, 30*time.Second)
	defer cancel()
	var out consensus.Result
	err := retryEvery(ctx, 100*time.Millisecond, 0, func() error {
		var err error
		out, err = w.propose.Apply(ctx, &consensus.Complete{ID: j.ID, Node: w.self, Result: res, Record: record, Storage: effects})
		if errors.Is(err, store.ErrInvalidTransition) || errors.Is(err, store.ErrNotHolder) || errors.Is(err, store.ErrNotFound) ||
			errors.Is(err, store.ErrStorageConflict) || errors.Is(err, store.ErrStorageQuota) || errors.Is(err, store.ErrBadInput) {
			return backoff.Permanent(err)
		}
		return err
	})
	switch {
	case errors.Is(err, store.ErrStorageConflict):
		return true
	case errors.Is(err, store.ErrStorageQuota):
		// The program's writes do not fit: the run fails, and its writes
		// are dropped.
		log.Warn("the run's storage writes exceed the program's quota; reporting it as failed", "err", err)
		res.Success, res.Output, res.ErrorKind = false, nil, failure.ExecutionFailed
		res.Error = "Execution failed: " + err.Error()
		// The signature and attestation were of the successful result;
		// the contract checks them against the failure it is sent.
		res.Signature, res.SignerKey, res.Attestation = nil, "", nil
		w.signResult(ctx, log, j, &res)
		w.attestResult(ctx, log, j, &res)
		return w.report(log, j, res, record, nil)
	}
	switch {
	case err == nil:
		log.Info("result reported", "outcome", out.Completed.String(), "success", res.Success,
			"instructions", res.Instructions, "time_ms", res.TimeMs, "error", res.Error)
	case errors.Is(err, store.ErrInvalidTransition) || errors.Is(err, store.ErrNotHolder) || errors.Is(err, store.ErrNotFound):
		log.Warn("result not accepted", "err", err)
	default:
		log.Warn("could not report the result; the lease will expire and the request run again", "err", err)
	}
	return false
}

// runJob produces the request's result. A returned error is the node's
// problem (no result is reported); everything the program or its source did
// wrong is a failed Result.
func (w *worker) runJob(ctx context.Context, log *slog.Logger, j *store.Job) (store.Result, *hostRun, error) {
	// Secrets first: a request never runs without its secrets, and a
	// denied one should not cost a build.
	var secrets map[string]string
	if j.Secrets != nil {
		s, failed, err := w.secrets.secretsFor(ctx, j)
		if err != nil {
			return store.Result{}, nil, err
		}
		if failed != nil {
			log.Warn("secrets refused; the request fails", "kind", failed.ErrorKind, "err", failed.Error)
			return *failed, nil, nil
		}
		secrets = s
	}
	wasm, err := w.obtainWasm(ctx, j)
	if err != nil {
		if kind := classify(err); kind.Final() {
			log.Warn("code source failed", "kind", kind, "err", err)
			return store.Result{Success: false, Error: err.Error(), ErrorKind: kind, CompilationNote: "Compilation failed"}, nil, nil
		}
		return store.Result{}, nil, err
	}
	w.metrics.wasmSource.WithLabelValues(wasm.from).Inc()
	log.Debug("WASM ready", "from", wasm.from, "hash", wasm.hash.String(), "bytes", len(wasm.bytes))
	if j.Params.CompileOnly {
		return store.Result{Success: true, Output: []byte(wasm.hash.String()), CompileMs: wasm.compileMs,
			CompilationNote: wasm.note, WasmHash: wasm.hash.String()}, nil, nil
	}

	format, err := exec.ParseFormat(j.ResponseFormat)
	if err != nil {
		// The store refuses unknown formats at enqueue; a job that has one
		// anyway fails rather than answering in a format nobody asked for.
		return store.Result{Success: false, ErrorKind: failure.InvalidRequest, Error: "Execution failed: " + err.Error(),
			CompileMs: wasm.compileMs, CompilationNote: wasm.note, WasmHash: wasm.hash.String()}, nil, nil
	}
	seed, err := w.seeds.requestSeed(ctx, j)
	if err != nil {
		return store.Result{}, nil, err // the node's problem: another node runs it
	}
	host := w.host.start(j, j.Node == w.self, wasm.bytes, wasm.hash, log)
	req := ExecRequest(j, w.contract, wasm.bytes, wasm.hash, format)
	req.Seed = seed
	req.Secrets = secrets
	req.Host = host.handle
	started := time.Now()
	out, runErr := w.runner.Run(ctx, req)
	w.metrics.execSeconds.Observe(time.Since(started).Seconds())
	kind := classify(runErr)
	if runErr != nil && !kind.Final() {
		final, ok := lastAttemptKind(kind, j, w.maxAttempts)
		if !ok {
			return store.Result{}, nil, fmt.Errorf("%s: %w", kind, runErr)
		}
		kind = final
	}
	res := store.Result{
		Success:         runErr == nil,
		Instructions:    out.Instructions,
		TimeMs:          uint64(out.Time.Milliseconds()),
		CompileMs:       wasm.compileMs,
		CompilationNote: wasm.note,
		WasmHash:        wasm.hash.String(),
	}
	if runErr != nil {
		res.Error = "Execution failed: " + runErr.Error()
		res.ErrorKind = kind
		w.metrics.executions.WithLabelValues("failure").Inc()
	} else {
		res.Output = out.Output
		w.metrics.executions.WithLabelValues("success").Inc()
	}
	return res, host, nil
}
