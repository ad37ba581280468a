package daemon

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/outlayer/outlayer/consensus"
	"github.com/outlayer/outlayer/contracts/near"
	"github.com/outlayer/outlayer/store"
)

// Fakes for the loops' dependencies (deps.go): an in-memory replica, a
// proposer that records what it is asked, fixed membership, and a scripted
// chain. They let the unit tests drive one decision at a time.

type fakeReplica struct {
	jobs     map[uint64]*store.Job
	agree    map[string]store.NodeAgreement
	blobs    map[store.BlobHash][]byte
	bySource map[store.BlobSource]store.BlobHash
	cursor   *store.Cursor
}

func newFakeReplica(jobs ...*store.Job) *fakeReplica {
	r := &fakeReplica{jobs: map[uint64]*store.Job{}, blobs: map[store.BlobHash][]byte{}, bySource: map[store.BlobSource]store.BlobHash{}}
	for _, j := range jobs {
		r.jobs[j.ID] = j
	}
	return r
}

func (r *fakeReplica) sorted(keep func(*store.Job) bool) []*store.Job {
	var out []*store.Job
	for _, j := range r.jobs {
		if keep(j) {
			out = append(out, j)
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a].ID < out[b].ID })
	return out
}

func limited(js []*store.Job, limit int) []*store.Job {
	if limit > 0 && len(js) > limit {
		return js[:limit]
	}
	return js
}

func (r *fakeReplica) Latest(p store.Page) (store.PageResult, error) {
	js := r.sorted(func(*store.Job) bool { return true })
	for i, k := 0, len(js)-1; i < k; i, k = i+1, k-1 {
		js[i], js[k] = js[k], js[i]
	}
	return store.PageResult{Jobs: limited(js, p.Limit)}, nil
}

func (r *fakeReplica) HighestChainID() (uint64, bool, error) {
	js := r.sorted(func(j *store.Job) bool { return j.ID < store.CallIDBase })
	if len(js) == 0 {
		return 0, false, nil
	}
	return js[len(js)-1].ID, true, nil
}

func (r *fakeReplica) Cursor() (store.Cursor, bool, error) {
	if r.cursor == nil {
		return store.Cursor{}, false, nil
	}
	return *r.cursor, true, nil
}

func (r *fakeReplica) Queued(limit int) ([]*store.Job, error) {
	return limited(r.sorted(func(j *store.Job) bool { return j.Status == store.StatusQueued }), limit), nil
}

func (r *fakeReplica) Leases(until time.Time, limit int) ([]*store.Job, error) {
	js := r.sorted(func(j *store.Job) bool { return j.Status == store.StatusAssigned && !j.LeaseUntil.After(until) })
	sort.SliceStable(js, func(a, b int) bool { return js[a].LeaseUntil.Before(js[b].LeaseUntil) })
	return limited(js, limit), nil
}

func (r *fakeReplica) AssignedTo(node string) ([]*store.Job, error) {
	return r.sorted(func(j *store.Job) bool { return j.Status == store.StatusAssigned && j.Node == node }), nil
}

func (r *fakeReplica) Unresolved(limit int) ([]*store.Job, error) {
	return limited(r.sorted(func(j *store.Job) bool {
		return j.Status == store.StatusCompleted || j.Status == store.StatusFailed
	}), limit), nil
}

func (r *fakeReplica) Get(id uint64) (*store.Job, error) {
	if j, ok := r.jobs[id]; ok {
		return j, nil
	}
	return nil, store.ErrNotFound
}

func (r *fakeReplica) NodeAgreements() (map[string]store.NodeAgreement, error) {
	out := map[string]store.NodeAgreement{}
	for k, v := range r.agree {
		out[k] = v
	}
	return out, nil
}

func (r *fakeReplica) Blob(h store.BlobHash) ([]byte, error) {
	if b, ok := r.blobs[h]; ok {
		return b, nil
	}
	return nil, store.ErrNotFound
}

func (r *fakeReplica) BlobInfo(h store.BlobHash) (*store.BlobInfo, error) {
	if b, ok := r.blobs[h]; ok {
		return &store.BlobInfo{Hash: h, Size: uint64(len(b))}, nil
	}
	return nil, store.ErrNotFound
}

func (r *fakeReplica) BlobBySource(src store.BlobSource) (store.BlobHash, bool, error) {
	h, ok := r.bySource[src]
	return h, ok, nil
}

// fakeProposer records every command; answer, when set, decides the result.
type fakeProposer struct {
	mu     sync.Mutex
	cmds   []consensus.Command
	answer func(consensus.Command) (consensus.Result, error)
}

func (p *fakeProposer) Apply(_ context.Context, cmd consensus.Command) (consensus.Result, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cmds = append(p.cmds, cmd)
	if p.answer != nil {
		return p.answer(cmd)
	}
	return consensus.Result{}, nil
}

// commands returns the recorded commands of type T, in order.
func commands[T consensus.Command](p *fakeProposer) []T {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []T
	for _, c := range p.cmds {
		if t, ok := c.(T); ok {
			out = append(out, t)
		}
	}
	return out
}

// fakeMembers: all, when nil, is reachable.
type fakeMembers struct {
	self      string
	reachable []string
	all       []string
}

func (m fakeMembers) Self() string                 { return m.self }
func (m fakeMembers) Reachable() ([]string, error) { return m.reachable, nil }
func (m fakeMembers) All() ([]string, error) {
	if m.all == nil {
		return m.reachable, nil
	}
	return m.all, nil
}

// fakeChain answers Block with height, ViewFunctionAt through view, and
// CallFunction through call.
type fakeChain struct {
	height uint64
	view   func(method string, args any, out any) error
	call   func(method string, args any) (*near.FinalExecutionOutcome, error)
	calls  []string
	// txStatus, when set, answers TxStatus.
	txStatus func(near.CryptoHash) (*near.FinalExecutionOutcome, error)
}

func (c *fakeChain) Block(context.Context, near.BlockReference) (*near.BlockView, error) {
	return &near.BlockView{Header: near.BlockHeaderView{Height: c.height}}, nil
}

func (c *fakeChain) ViewFunctionAt(_ context.Context, _, method string, args any, out any, _ near.BlockReference) error {
	return c.view(method, args, out)
}

func (c *fakeChain) TxStatus(_ context.Context, h near.CryptoHash, _ string, _ near.TxExecutionStatus) (*near.FinalExecutionOutcome, error) {
	if c.txStatus != nil {
		return c.txStatus(h)
	}
	return nil, errors.New("no such transaction")
}

func (c *fakeChain) BlockTransactions(context.Context, near.BlockReference) (*near.BlockView, []near.SignedTransactionView, error) {
	return nil, nil, near.ErrUnknownBlock
}

func (c *fakeChain) AccountID() string { return "operator.test" }

func (c *fakeChain) CallFunction(_ context.Context, _, method string, args any, _ uint64, _ near.U128) (*near.FinalExecutionOutcome, error) {
	c.calls = append(c.calls, method)
	return c.call(method, args)
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
