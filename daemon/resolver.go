package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/outlayer/outlayer/consensus"
	"github.com/outlayer/outlayer/contracts"
	"github.com/outlayer/outlayer/contracts/near"
	"github.com/outlayer/outlayer/store"
)

// maxConcurrentResolves bounds the resolve transactions in flight; the
// Signer gives each its own nonce.
const maxConcurrentResolves = 32

// resolver submits finished requests to the chain and records the outcome.
type resolver struct {
	replica  replica
	propose  proposer
	chain    chainReader
	sender   chainSender
	contract string
	// yieldBlocks is the chain's yield window, which bounds the search for
	// an earlier resolve.
	yieldBlocks uint64
	tip         *chainTip
	// warm is where the resolver records who ran which WASM, for the
	// scheduler's placement.
	warm    *warmSet
	wake    wakeup
	metrics *metrics
	log     *slog.Logger
	// claims is the chain id result claims bind (nil: resolves carry no
	// signatures).
	claims *claimChain
	// failSigs collects the members' signatures of a failure the cluster
	// decided (nil: such failures are not signed).
	failSigs failureSignatures
	// keys watches this node's operator key (nil in unit tests).
	keys *keyWatch
	// afterLanded is Config.afterResolveLanded (tests).
	afterLanded func(ctx context.Context, id uint64, tx string) bool

	mu       sync.Mutex
	inflight map[uint64]bool
	retryAt  map[uint64]time.Time
	backoffs map[uint64]*backoff.ExponentialBackOff
	// sent remembers the hash of a resolve whose fate is unknown (a
	// timeout): before sending again we ask the chain about it, so our own
	// landed transaction is recorded as such rather than as a refusal.
	sent map[uint64]near.CryptoHash
	// sentAt is when the resolve in sent was sent.
	sentAt map[uint64]time.Time
	// since is when this term's resolver started; requests that were
	// already done then are inherited: a previous leader may have sent
	// their resolve (checked holds those whose chain state this term
	// has looked at; see inherited).
	since   time.Time
	checked map[uint64]bool
}

func (r *resolver) init() *resolver {
	r.inflight, r.retryAt = map[uint64]bool{}, map[uint64]time.Time{}
	r.backoffs, r.sent, r.sentAt = map[uint64]*backoff.ExponentialBackOff{}, map[uint64]near.CryptoHash{}, map[uint64]time.Time{}
	r.since, r.checked = time.Now(), map[uint64]bool{}
	return r
}

func (r *resolver) run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	sem := make(chan struct{}, maxConcurrentResolves)
	for {
		ch := r.wake.C()
		jobs, err := r.replica.Unresolved(0)
		if err != nil {
			r.log.Warn("reading requests to resolve", "err", err)
		}
		for _, j := range jobs {
			r.noteWarm(j)
			if j.Call != "" {
				continue // an HTTPS call: settled by the settler, not on chain
			}
			// Wait for a slot first, then decide: the list was read before
			// the wait, and a resolve that finished meanwhile has made its
			// entry stale (sending it again drew a refused duplicate).
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			cur, ok := r.claim(j.ID)
			if !ok {
				<-sem
				continue
			}
			j := cur
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				r.resolveOne(ctx, j)
				r.mu.Lock()
				delete(r.inflight, j.ID)
				r.mu.Unlock()
				r.wake.Poke()
			}()
		}
		if !r.wake.wait(ctx, ch, 200*time.Millisecond) {
			return
		}
	}
}

// claim marks request id in flight and returns its current record, unless
// it is in flight already, waits for a retry, or is no longer awaiting a
// resolve in the replica (a resolve that finished while the caller waited
// for a slot).
func (r *resolver) claim(id uint64) (*store.Job, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.inflight[id] || time.Now().Before(r.retryAt[id]) {
		return nil, false
	}
	j, err := r.replica.Get(id)
	if err != nil || !j.Status.AwaitsResolve() {
		return nil, false
	}
	r.inflight[id] = true
	return j, true
}

// noteWarm records who ran j's WASM, for the scheduler's placement.
func (r *resolver) noteWarm(j *store.Job) {
	results := []store.Result{}
	if j.Result != nil {
		results = append(results, *j.Result)
	}
	if j.Agreement != nil {
		results = append(results, j.Agreement.Results...)
	}
	for _, res := range results {
		if res.WasmHash != "" {
			if h, err := store.ParseBlobHash(res.WasmHash); err == nil {
				r.warm.add(h, res.Node)
			}
		}
	}
}

// terminal answers: the chain will never accept a resolve for this request.
var terminalAnswers = []string{
	"Execution request not found",
	"Execution request already resolved",
	"Unable to resume execution promise",
}

func isTerminalAnswer(err error) (string, bool) {
	msg := err.Error()
	for _, t := range terminalAnswers {
		if strings.Contains(msg, t) {
			return t, true
		}
	}
	return "", false
}

func (r *resolver) resolveOne(ctx context.Context, j *store.Job) {
	log := r.log.With("request_id", j.ID)
	if h, ok := r.pendingHash(j.ID); ok {
		// An earlier send's fate is unknown: sending again while it may
		// still land is how a refused duplicate happens. Send again only
		// once the chain says it failed, or twice that it never saw it.
		out, err := r.chain.TxStatus(ctx, h, r.sender.AccountID(), near.TxExecutedOptimistic)
		switch {
		case err == nil && out.Err() == nil:
			r.record(ctx, log, j, h.String())
			return
		case err == nil:
			r.forgetSent(j.ID) // it landed and failed: a new resolve may succeed
		case errors.Is(err, near.ErrUnknownTransaction) && r.unseenFor(j.ID) >= resendAfter:
			r.forgetSent(j.ID) // it never arrived
		default:
			wait := r.backoff(j.ID)
			log.Info("the previous resolve's fate is not known yet; asking again before sending another", "tx", h.String(), "err", err, "retry_in", wait)
			return
		}
	}
	if !r.inherited(ctx, log, j) {
		return
	}
	method, args, err := r.resolveCall(ctx, log, j)
	if err != nil && ctx.Err() == nil && errors.Is(err, errNoChainID) {
		wait := r.backoff(j.ID)
		log.Warn("cannot resolve yet", "err", err, "retry_in", wait)
		return
	}
	if errors.Is(err, errFailureUnsigned) {
		// Members are down or lagging: ask again, until the chain's yield
		// window is over (then nothing can resolve it; the chain refunds).
		if h := r.tip.Height(); h > 0 && h >= j.BlockHeight+r.yieldBlocks {
			r.closeExpired(ctx, log, j, err.Error()+"; the chain's yield window is over, its timeout refunds the caller", "unsigned")
			return
		}
		wait := r.backoff(j.ID)
		log.Warn("cannot resolve the failure yet", "err", err, "retry_in", wait)
		return
	}
	if errors.Is(err, errTooFewSignatures) {
		// The contract would refuse it, every time, for gas: leave the
		// request to the chain's yield timeout, which refunds the caller.
		reason := err.Error() + ": the resolve would be refused, so none is sent; the chain's yield timeout refunds the caller"
		r.closeExpired(ctx, log, j, reason, "unsigned")
		return
	}
	if err != nil {
		// Cannot happen for results the store accepted; fail safe by
		// resolving as a failure with the reason.
		log.Error("building the resolve arguments failed; resolving as a failure", "err", err)
		method, args, err = contracts.ResolveCall(j.ID, failureResponse("the cluster could not encode this result: "+err.Error()))
		if err != nil {
			log.Error("building a failure resolve failed", "err", err)
			return
		}
	}
	gas, err := contracts.ResolveGas(args)
	if err != nil {
		log.Error("sizing the resolve failed; attaching the maximum", "err", err)
		gas = contracts.MaxResolveGas
	}
	out, err := r.sender.CallFunction(ctx, r.contract, method, args, gas, near.U128{})
	if err == nil {
		h, _ := out.TxHash()
		r.record(ctx, log, j, h.String())
		return
	}
	if ctx.Err() != nil {
		return
	}
	if answer, ok := isTerminalAnswer(err); ok {
		r.metrics.refused.Inc()
		if answer != "Unable to resume execution promise" {
			// Settled already: most likely by a previous leader that died
			// before recording it. Find that transaction and close the
			// request as what it is, resolved.
			h, found, ferr := r.findLandedResolve(ctx, j)
			if ferr != nil {
				wait := r.backoff(j.ID)
				log.Warn("the chain says the request is settled; looking for the earlier resolve failed, retrying", "answer", answer, "err", ferr, "retry_in", wait)
				return
			}
			if found {
				log.Info("the request was resolved earlier by this cluster (a previous leader); recording that transaction", "tx", h.String())
				r.record(ctx, log, j, h.String())
				return
			}
		}
		reason := "the chain refused the resolve: " + answer
		if answer != "Unable to resume execution promise" {
			reason = "the chain already settled this request without a resolve from this cluster (it answered: " + answer +
				"): the request was cancelled, or its blocks are no longer served by the RPC node"
		}
		r.closeExpired(ctx, log, j, reason, "terminal")
		return
	}
	if isAllowanceAnswer(err) {
		if r.keys != nil {
			r.keys.exhausted(err)
		}
		r.metrics.resolves.WithLabelValues("no_allowance").Inc()
		wait := r.backoff(j.ID)
		log.Error("this node's operator key cannot pay for resolves (its allowance is used up): add a new key for this node or one with a larger allowance; /status shows it",
			"err", err, "retry_in", wait)
		return
	}
	var se *near.SendError
	if errors.As(err, &se) {
		r.mu.Lock()
		r.sent[j.ID] = se.TxHash
		if _, ok := r.sentAt[j.ID]; !ok {
			r.sentAt[j.ID] = time.Now()
		}
		r.mu.Unlock()
	}
	r.metrics.resolves.WithLabelValues("error").Inc()
	wait := r.backoff(j.ID)
	log.Warn("resolve transaction failed; retrying", "err", err, "retry_in", wait)
}

// inheritGrace is how long a new leader waits before resolving a request
// that was already done when its term began: a resolve the previous leader
// sent just before it lost leadership lands within a few blocks, and a
// second one would be refused.
const inheritGrace = 5 * time.Second

// inherited reports whether j may be resolved now. A request done before
// this term began may have been resolved by the previous leader without
// that being recorded: its resolve is held until inheritGrace into the
// term, then the contract's own state decides — still pending and not
// resolved: resolve it; resolved or gone: find the transaction that did
// it and record that (no second resolve, which the chain would refuse).
func (r *resolver) inherited(ctx context.Context, log *slog.Logger, j *store.Job) bool {
	r.mu.Lock()
	done := r.checked[j.ID] || j.DoneAt.IsZero() || !j.DoneAt.Before(r.since)
	wait := time.Until(r.since.Add(inheritGrace))
	if !done && wait > 0 {
		r.retryAt[j.ID] = r.since.Add(inheritGrace)
	}
	r.mu.Unlock()
	switch {
	case done:
		return true
	case wait > 0:
		return false
	}
	var req *contracts.ExecutionRequest
	if err := r.chain.ViewFunctionAt(ctx, r.contract, contracts.MethodGetRequest, contracts.RequestIDArgs{RequestID: j.ID}, &req, near.Optimistic()); err != nil {
		wait := r.backoff(j.ID)
		log.Warn("reading the contract's state of a request the previous leader may have resolved; retrying", "err", err, "retry_in", wait)
		return false
	}
	if req != nil && !req.Resolved {
		r.mu.Lock()
		r.checked[j.ID] = true
		r.mu.Unlock()
		return true
	}
	h, found, err := r.findLandedResolve(ctx, j)
	if err != nil {
		wait := r.backoff(j.ID)
		log.Warn("the chain shows the request resolved; looking for the earlier resolve failed, retrying", "err", err, "retry_in", wait)
		return false
	}
	if found {
		log.Info("the request was resolved by a previous leader; recording that transaction", "tx", h.String())
		r.record(ctx, log, j, h.String())
		return false
	}
	if req == nil {
		// Gone at the optimistic head; the final head may still hold it,
		// with the resolve not final yet.
		if err := r.chain.ViewFunctionAt(ctx, r.contract, contracts.MethodGetRequest, contracts.RequestIDArgs{RequestID: j.ID}, &req, near.Final()); err != nil {
			r.backoff(j.ID)
			return false
		}
	}
	if req != nil {
		// Resolved, but the transaction is not final yet (or not in the
		// blocks searched): look again shortly.
		r.backoff(j.ID)
		return false
	}
	r.closeExpired(ctx, log, j, "the chain already settled this request without a resolve this cluster can find: "+
		"it was cancelled, or its blocks are no longer served by the RPC node", "terminal")
	return false
}

// closeExpired records that request j will never be resolved by this
// cluster (outcome labels the resolves metric), or schedules a retry when
// that cannot be recorded.
func (r *resolver) closeExpired(ctx context.Context, log *slog.Logger, j *store.Job, reason, outcome string) {
	if _, err := r.propose.Apply(ctx, &consensus.Expired{ID: j.ID, Reason: reason}); err != nil {
		log.Warn("recording that the request will not be resolved failed; will retry", "err", err)
		r.backoff(j.ID)
		return
	}
	r.metrics.resolves.WithLabelValues(outcome).Inc()
	log.Warn("request closed without a resolve", "reason", reason)
	r.forget(j.ID)
}

// forgetSent drops the unknown-fate resolve of request id.
func (r *resolver) forgetSent(id uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.sent, id)
	delete(r.sentAt, id)
}

// resendAfter is how long the chain must not know a resolve whose send
// failed before another is sent: a transaction can sit in a busy node's
// pool for several blocks, and a second resolve landing after the first is
// refused.
const resendAfter = 10 * time.Second

// unseenFor is how long ago request id's resolve of unknown fate was sent.
func (r *resolver) unseenFor(id uint64) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return time.Since(r.sentAt[id])
}

func (r *resolver) pendingHash(id uint64) (near.CryptoHash, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	h, ok := r.sent[id]
	return h, ok
}

func (r *resolver) record(ctx context.Context, log interface {
	Info(string, ...any)
	Warn(string, ...any)
}, j *store.Job, tx string) {
	r.metrics.resolves.WithLabelValues("resolved").Inc()
	if h := r.tip.Height(); h >= j.BlockHeight {
		r.metrics.resolveBlocks.Observe(float64(h - j.BlockHeight))
	}
	if f := r.afterLanded; f != nil && f(ctx, j.ID, tx) {
		return
	}
	// Resolved is idempotent: retry until it sticks or leadership ends.
	err := retryEvery(ctx, 100*time.Millisecond, 22, func() error {
		_, err := r.propose.Apply(ctx, &consensus.Resolved{ID: j.ID, TxHash: tx})
		if errors.Is(err, store.ErrInvalidTransition) {
			return nil // recorded already
		}
		return err
	})
	if err != nil {
		log.Warn("recording the resolve failed; the next leader will find the chain already resolved", "tx", tx, "err", err)
		return
	}
	success := j.Result != nil && j.Result.Success && j.Status == store.StatusCompleted
	log.Info("request resolved on chain", "tx", tx, "success", success)
	r.forget(j.ID)
}

func (r *resolver) forget(id uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.retryAt, id)
	delete(r.backoffs, id)
	delete(r.sent, id)
	delete(r.sentAt, id)
}

// backoff schedules the next try for request id: 200 ms after the first
// failure, doubling to at most 10 s.
func (r *resolver) backoff(id uint64) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	b, ok := r.backoffs[id]
	if !ok {
		b = growingBackOff(200*time.Millisecond, 10*time.Second)
		r.backoffs[id] = b
	}
	d := b.NextBackOff()
	r.retryAt[id] = time.Now().Add(d)
	return d
}

// errTooFewSignatures: the request's result has fewer valid executor
// signatures than the contract requires for it.
var errTooFewSignatures = errors.New("too few executor signatures")

// errFailureUnsigned: fewer members than the contract requires signed a
// failure the cluster decided (yet).
var errFailureUnsigned = errors.New("too few members signed the failure")

// errNoChainID: the chain id claims bind could not be read (yet).
var errNoChainID = errors.New("the chain id result claims bind is unknown")

// resolveCall is the method and arguments that resolve j: its response
// with the majority's executor signatures (see signaturesFor) and WASM
// hash. A request the contract wants k signatures for and that has fewer
// valid ones is still sent (the chain's answer is then recorded), with the
// shortfall logged.
func (r *resolver) resolveCall(ctx context.Context, log *slog.Logger, j *store.Job) (string, any, error) {
	resp := responseFor(j)
	if r.claims == nil {
		return contracts.ResolveCall(j.ID, resp)
	}
	chainID, err := r.claims.chainID(ctx)
	if err != nil {
		return "", nil, fmt.Errorf("%w: %w", errNoChainID, err)
	}
	if k := j.RequiredSignatures; k > 0 && j.Status == store.StatusFailed && r.failSigs != nil {
		return r.failureCall(ctx, log, chainID, j, int(k))
	}
	sigs, wasm, problems := signaturesFor(chainID, r.contract, j)
	for _, p := range problems {
		log.Warn("an executor signature is left out of the resolve", "err", p)
	}
	if k := j.RequiredSignatures; k > 0 && uint64(len(sigs)) < k {
		what := "its result"
		if j.Status == store.StatusFailed {
			what = "a failure the cluster decided (no executor result to sign)"
		}
		return "", nil, fmt.Errorf("%w: the contract requires %d executor signatures and %s has %d", errTooFewSignatures, k, what, len(sigs))
	}
	return contracts.ResolveCallSigned(j.ID, resp, wasm, sigs)
}

// failureCall is the resolve of a failure the cluster decided, signed by
// k members (see failsign.go).
func (r *resolver) failureCall(ctx context.Context, log *slog.Logger, chainID string, j *store.Job, k int) (string, any, error) {
	claim, err := failureClaim(chainID, r.contract, j)
	if err != nil {
		return "", nil, err
	}
	sigs, problems := r.failSigs.collect(ctx, j, claim, k)
	for _, p := range problems {
		log.Warn("a member did not sign the failure", "err", p)
	}
	if len(sigs) < k {
		return "", nil, fmt.Errorf("%w: the contract requires %d signatures and %d members signed", errFailureUnsigned, k, len(sigs))
	}
	r.metrics.signedFailures.Inc()
	return contracts.ResolveCallSigned(j.ID, responseFor(j), [32]byte{}, sigs)
}

// failureResponse is a failed response with msg as its error.
func failureResponse(msg string) contracts.ExecutionResponse {
	return contracts.ExecutionResponse{Success: false, Error: &msg}
}

// responseFor is the ExecutionResponse for a finished request.
func responseFor(j *store.Job) contracts.ExecutionResponse {
	res := j.Result
	if j.Status == store.StatusFailed || res == nil {
		msg := j.Error
		if msg == "" && res != nil {
			msg = res.Error
		}
		if msg == "" {
			msg = "the cluster could not execute this request"
		}
		return contracts.ExecutionResponse{Success: false, Error: &msg, CompilationNote: notePtr(res)}
	}
	used := contracts.ResourceMetrics{Instructions: res.Instructions, TimeMs: res.TimeMs, CompileTimeMs: res.CompileMs}
	if !res.Success {
		msg := res.Error
		if msg == "" {
			msg = "execution failed"
		}
		return contracts.ExecutionResponse{Success: false, Error: &msg, ResourcesUsed: used, CompilationNote: notePtr(res)}
	}
	out, err := contracts.OutputIn(contracts.ResponseFormat(j.ResponseFormat), res.Output)
	if err != nil {
		// The store refuses unknown formats and the sandbox checks Json
		// output, so this is a bug; the caller hears about it rather than
		// getting an answer in a format it did not ask for.
		msg := "the cluster could not encode this result: " + err.Error()
		return contracts.ExecutionResponse{Success: false, Error: &msg, ResourcesUsed: used, CompilationNote: notePtr(res)}
	}
	return contracts.ExecutionResponse{Success: true, Output: out, ResourcesUsed: used, CompilationNote: notePtr(res)}
}

func notePtr(res *store.Result) *string {
	if res == nil || res.CompilationNote == "" {
		return nil
	}
	n := res.CompilationNote
	return &n
}
