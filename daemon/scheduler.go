package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/outlayer/outlayer/consensus"
	"github.com/outlayer/outlayer/exec"
	"github.com/outlayer/outlayer/store"
)

// scheduler is the leader's dispatcher: it ends expired leases, gives up on
// requests whose yield window is nearly over, and leases queued requests to
// live nodes, preferring nodes that ran the same WASM recently.
type scheduler struct {
	replica replica
	propose proposer
	members members
	// tip is the chain height the watcher saw; warm is the resolver's
	// record of who ran what.
	tip     *chainTip
	warm    *warmSet
	wake    wakeup
	cfg     Config
	metrics *metrics
	log     *slog.Logger
}

func (s *scheduler) run(ctx context.Context) {
	for {
		ch := s.wake.C()
		if err := s.tick(ctx, time.Now()); err != nil && ctx.Err() == nil {
			s.log.Warn("scheduling round failed", "err", err)
			if !sleepCtx(ctx, 200*time.Millisecond) {
				return
			}
		}
		if !s.wake.wait(ctx, ch, 100*time.Millisecond) {
			return
		}
	}
}

func (s *scheduler) tick(ctx context.Context, now time.Time) error {
	// 1. Leases that ran out go back to the queue (or fail, out of attempts).
	if due, err := s.replica.Leases(now, 1); err != nil {
		return err
	} else if len(due) > 0 {
		res, err := s.propose.Apply(ctx, &consensus.RequeueExpired{MaxAttempts: s.cfg.MaxAttempts})
		if err != nil {
			return fmt.Errorf("requeueing expired leases: %w", err)
		}
		for _, r := range res.Requeued {
			s.metrics.requeued.Inc()
			s.log.Warn("lease expired", "request_id", r.ID, "holder", shortPeer(r.Node), "now", r.Status)
		}
	}

	// 2. Requests whose yield window is (nearly) over.
	if err := s.enforceDeadlines(ctx); err != nil {
		return err
	}

	// 3. Hand out queued requests.
	return s.assign(ctx, now)
}

// allLeases lists every live lease.
func (s *scheduler) allLeases() ([]*store.Job, error) {
	return s.replica.Leases(time.Unix(math.MaxInt32, 0), 0)
}

// deadline is the last block at which the chain still accepts a resolve.
func (s *scheduler) deadline(j *store.Job) uint64 {
	return j.BlockHeight + s.cfg.YieldTimeoutBlocks
}

func (s *scheduler) enforceDeadlines(ctx context.Context) error {
	height := s.tip.Height()
	if height == 0 {
		return nil
	}
	queued, err := s.replica.Queued(0)
	if err != nil {
		return err
	}
	leased, err := s.allLeases()
	if err != nil {
		return err
	}
	for _, j := range append(queued, leased...) {
		if j.Call != "" {
			continue // an HTTPS call: no yield window; its node's timeout bounds it
		}
		dl := s.deadline(j)
		switch {
		case height >= dl:
			reason := fmt.Sprintf("the chain's yield window closed at block %d before the request finished", dl)
			if _, err := s.propose.Apply(ctx, &consensus.Expired{ID: j.ID, Reason: reason}); err != nil && !errors.Is(err, store.ErrInvalidTransition) {
				return fmt.Errorf("marking request %d expired: %w", j.ID, err)
			}
			s.log.Warn("request expired on chain before it finished", "request_id", j.ID, "deadline", dl, "height", height)
		case height+s.cfg.YieldMarginBlocks >= dl:
			reason := fmt.Sprintf("not finished %d blocks before the chain's yield timeout (block %d): given up so the caller is refunded now",
				dl-height, dl)
			if j.Status == store.StatusAssigned {
				reason = fmt.Sprintf("node %s did not finish %d blocks before the chain's yield timeout (block %d): given up so the caller is refunded now",
					shortPeer(j.Node), dl-height, dl)
			}
			if _, err := s.propose.Apply(ctx, &consensus.Fail{ID: j.ID, Reason: reason}); err != nil && !errors.Is(err, store.ErrInvalidTransition) {
				return fmt.Errorf("failing request %d: %w", j.ID, err)
			}
			s.metrics.givenUp.Inc()
			s.log.Warn("request given up before its yield deadline", "request_id", j.ID, "deadline", dl, "height", height)
		}
	}
	return nil
}

// liveNodes are the cluster members this leader can reach now (itself
// included), with how many leases each holds.
func (s *scheduler) liveNodes() (map[string]int, error) {
	ids, err := s.members.Reachable()
	if err != nil {
		return nil, err
	}
	live := map[string]int{}
	for _, id := range ids {
		live[id] = 0
	}
	live[s.members.Self()] = 0
	return live, nil
}

func (s *scheduler) assign(ctx context.Context, now time.Time) error {
	queued, err := s.replica.Queued(1000)
	if err != nil {
		return err
	}
	leased, err := s.allLeases()
	if err != nil {
		return err
	}
	if len(queued) == 0 && !slices.ContainsFunc(leased, func(j *store.Job) bool { return j.Agreement != nil }) {
		return nil
	}
	live, err := s.liveNodes()
	if err != nil {
		return err
	}
	pool, err := s.executorPool()
	if err != nil {
		return err
	}
	building := map[store.BlobSource]bool{}
	// Candidates: queued requests, then agreement requests whose executors
	// run at once and that need more of them (a lease ran out, or they
	// disagreed while others still run).
	cands := queued
	for _, j := range leased {
		for _, h := range j.Holders() {
			if _, ok := live[h.Node]; ok {
				live[h.Node]++
			}
		}
		if src, ok := gitBlobSource(j); ok {
			if _, cached, _ := s.replica.BlobBySource(src); !cached {
				building[src] = true
			}
		}
		if j.Agreement != nil && j.Call == "" {
			cands = append(cands, j)
		}
	}
	slots := s.cfg.Slots
	type proposal struct {
		job   *store.Job
		node  string
		until time.Time
		agree int
	}
	var props []proposal
	var stuck []*store.Job
	for _, j := range cands {
		holders := len(j.Holders())
		if holders == 0 && !pool.canRun(j) {
			stuck = append(stuck, j)
			continue
		}
		agree := pool.agreeFor(j, s.cfg.Agreement)
		want := executorsWanted(j.Agreement, agree) - holders
		if want <= 0 {
			continue
		}
		hash, cached := s.cachedHash(j)
		if src, ok := gitBlobSource(j); ok && !cached {
			// One build per source at a time: the others wait for its blob
			// instead of building the same commit on every node, and the
			// other executors of an agreement start once it is cached.
			if building[src] {
				continue
			}
			building[src] = true
			want = 1
		}
		taken := map[string]bool{}
		for range want {
			node := s.pick(j, hash, live, slots, pool, taken)
			if node == "" {
				break
			}
			taken[node] = true
			live[node]++
			props = append(props, proposal{job: j, node: node, until: now.Add(s.leaseFor(j, cached, s.warm.nodes(hash)[node])), agree: agree})
		}
		if len(taken) == 0 && holders == 0 && !anyFree(live, slots) {
			break // every live node is full
		}
	}
	if err := s.failStuck(ctx, stuck); err != nil {
		return err
	}
	// Propose concurrently: Raft batches concurrent entries into one fsync.
	var wg sync.WaitGroup
	errs := make([]error, len(props))
	sem := make(chan struct{}, 32)
	for i, p := range props {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			cmd := &consensus.Assign{ID: p.job.ID, Node: p.node, LeaseUntil: p.until}
			if p.agree > 1 {
				cmd.Agree = p.agree
			}
			_, err := s.propose.Apply(ctx, cmd)
			if err != nil {
				if !errors.Is(err, store.ErrInvalidTransition) {
					errs[i] = fmt.Errorf("assigning request %d: %w", p.job.ID, err)
				}
				return
			}
			s.metrics.assigned.Inc()
			s.log.Debug("request assigned", "request_id", p.job.ID, "to", shortPeer(p.node), "lease_until", p.until)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// cachedHash returns the WASM hash of a request whose WASM is already in the
// replicated cache.
func (s *scheduler) cachedHash(j *store.Job) (store.BlobHash, bool) {
	if src, ok := gitBlobSource(j); ok {
		if j.Params.ForceRebuild {
			return store.BlobHash{}, false
		}
		h, ok, err := s.replica.BlobBySource(src)
		return h, ok && err == nil
	}
	if j.Code.Wasm != nil {
		h, err := store.ParseBlobHash(j.Code.Wasm.Hash)
		if err != nil {
			return store.BlobHash{}, false
		}
		if _, err := s.replica.BlobInfo(h); err == nil {
			return h, true
		}
	}
	return store.BlobHash{}, false
}

// pick chooses the node for j: among live nodes with a free slot, prefer
// one that has not tried j before, then one that ran the same WASM recently
// (its compiled module is in memory), then the least loaded, then the
// leader itself (its lease reaches its worker without a commit round trip
// to a follower, and its result is applied without forwarding: about a
// fifth of a block less latency at 100 ms blocks); remaining ties by id.
//
// Hard rules come first: a node that already returned a result for j or
// holds a lease on it, or was taken for it this round (its executors are
// distinct), or that keeps dissenting (pool.excluded) is never picked.
func (s *scheduler) pick(j *store.Job, hash store.BlobHash, live map[string]int, slots int, pool executorPool, taken map[string]bool) string {
	tried := map[string]bool{}
	for _, a := range j.Attempts {
		tried[a.Node] = true
	}
	warm := s.warm.nodes(hash)
	self := s.members.Self()
	ids := make([]string, 0, len(live))
	for id, load := range live {
		_, holds := j.LeaseOf(id)
		if load < slots && !pool.excluded[id] && !j.Agreement.Ran(id) && !holds && !taken[id] {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return ""
	}
	score := func(id string) [4]int {
		var s [4]int
		if tried[id] {
			s[0] = 1
		}
		if !warm[id] {
			s[1] = 1
		}
		s[2] = live[id]
		if id != self {
			s[3] = 1
		}
		return s
	}
	sort.Slice(ids, func(a, b int) bool {
		sa, sb := score(ids[a]), score(ids[b])
		if sa != sb {
			for i := range sa {
				if sa[i] != sb[i] {
					return sa[i] < sb[i]
				}
			}
		}
		return ids[a] < ids[b]
	})
	return ids[0]
}

// leaseFor is how long a node may hold j: its time limit plus a margin, plus
// the build budget when the WASM must be built or downloaded first, or the
// compile budget when it is cached but this node has not run it lately
// (warm: its compiled module is in memory). On a loaded machine compiling
// a Go program's module takes seconds: without the compile budget the
// first leases of a program on each node could run out before the run
// started, three times over, and fail the request.
func (s *scheduler) leaseFor(j *store.Job, cached, warm bool) time.Duration {
	run := exec.DefaultTimeout
	if j.Limits.MaxExecutionSeconds > 0 {
		run = time.Duration(j.Limits.MaxExecutionSeconds) * time.Second
	}
	d := run + s.cfg.LeaseExtra
	switch {
	case !cached:
		d += s.cfg.BuildLease
	case !warm:
		d += s.cfg.CompileLease
	}
	return d
}

// gitBlobSource is the cache key of a git request's WASM.
func gitBlobSource(j *store.Job) (store.BlobSource, bool) {
	if j.Code.Git == nil {
		return store.BlobSource{}, false
	}
	return store.BlobSource{Repo: j.Code.Git.Repo, Commit: j.Code.Git.Commit, Target: j.Code.Git.BuildTarget}, true
}

// warmSet is the leader's memory of which node ran which WASM lately. It is
// a hint for placement only, rebuilt from results as they arrive.
type warmSet struct {
	mu sync.Mutex
	m  map[store.BlobHash]map[string]bool
}

func newWarmSet() *warmSet { return &warmSet{m: map[store.BlobHash]map[string]bool{}} }

func (w *warmSet) add(h store.BlobHash, node string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.m[h] == nil {
		w.m[h] = map[string]bool{}
	}
	w.m[h][node] = true
}

func (w *warmSet) nodes(h store.BlobHash) map[string]bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := map[string]bool{}
	for k := range w.m[h] {
		out[k] = true
	}
	return out
}
