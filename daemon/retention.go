package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/outlayer/outlayer/consensus"
	"github.com/outlayer/outlayer/contracts"
	"github.com/outlayer/outlayer/contracts/near"
	"github.com/outlayer/outlayer/daemon/hostcall"
	"github.com/outlayer/outlayer/store"
)

// Retention defaults: what a node keeps unless told otherwise.
const (
	// DefaultRetention is how long a settled request stays in the
	// replicated state (--retention).
	DefaultRetention = 7 * 24 * time.Hour
	// MinRetention is the shortest window --retention accepts, and the age
	// below which the count cap (--retain-settled) drops nothing: well past
	// NEAR's finality, so a dropped request is final on chain.
	MinRetention = time.Minute
	// retentionEvery is how often the leader looks for work.
	retentionEvery = time.Minute
)

// retentionReplica is what the retention loop reads. *store.Store
// implements it.
type retentionReplica interface {
	PrunePlan(r store.Retention, now time.Time, limit int) ([]uint64, time.Time, error)
	ProgProjects() (map[string]string, error)
}

// projectViewer reads a project at a block. *near.Client implements it.
type projectViewer interface {
	Block(ctx context.Context, ref near.BlockReference) (*near.BlockView, error)
	ViewFunctionAt(ctx context.Context, contract, method string, args any, out any, ref near.BlockReference) error
}

// retainer is the leader's housekeeping of the replicated state: it drops
// settled requests past the retention window (PruneRequests, planned from
// the replica and checked again by every replica as it applies), and the
// storage of projects deleted on chain (DropProgStorage). It reads the
// chain's views at the final block, like the watchers, so it acts only on
// a deletion that is final.
type retainer struct {
	replica  retentionReplica
	propose  proposer
	chain    projectViewer
	contract string
	keep     store.Retention
	every    time.Duration
	metrics  *metrics
	log      *slog.Logger
}

func (r *retainer) run(ctx context.Context) {
	pollEvery(ctx, r.every, 10*time.Minute, r.log, "pruning settled requests and deleted projects' storage", r.pollOnce)
}

func (r *retainer) pollOnce(ctx context.Context) error {
	if err := r.prune(ctx); err != nil {
		return err
	}
	return r.dropDeletedProjects(ctx)
}

// prune proposes PruneRequests until the plan is empty.
func (r *retainer) prune(ctx context.Context) error {
	if r.keep.Window <= 0 && r.keep.KeepSettled <= 0 {
		return nil
	}
	total := 0
	for ctx.Err() == nil {
		ids, cut, err := r.replica.PrunePlan(r.keep, time.Now(), store.MaxPruneIDs)
		if err != nil {
			return fmt.Errorf("planning which settled requests to drop: %w", err)
		}
		if len(ids) == 0 {
			break
		}
		res, err := r.propose.Apply(ctx, &consensus.PruneRequests{IDs: ids, ClosedBefore: cut})
		if err != nil {
			return fmt.Errorf("dropping %d settled requests: %w", len(ids), err)
		}
		if res.Pruned == nil || res.Pruned.Pruned == 0 {
			break // nothing the plan named could go: do not spin
		}
		total += res.Pruned.Pruned
		r.metrics.pruned.Add(float64(res.Pruned.Pruned))
	}
	if total > 0 {
		r.log.Info("dropped settled requests past the retention window", "requests", total,
			"window", r.keep.Window, "keep_settled", r.keep.KeepSettled)
	}
	return ctx.Err()
}

// dropDeletedProjects drops the storage of every project the replica holds
// storage for that the contract no longer has (deleted; or deleted and
// created again under the same name, which gives it a new uuid). A failed
// read leaves the storage alone: only the chain's answer that the project
// is gone deletes anything.
func (r *retainer) dropDeletedProjects(ctx context.Context) error {
	projects, err := r.replica.ProgProjects()
	if err != nil || len(projects) == 0 {
		return err
	}
	blk, err := r.chain.Block(ctx, near.Final())
	if err != nil {
		return fmt.Errorf("reading the final block: %w", err)
	}
	ref := near.AtHeight(blk.Header.Height)
	for code, projectID := range projects {
		uuid, ok := strings.CutPrefix(code, "project:")
		if !ok {
			continue
		}
		var pv *contracts.ProjectView
		if err := r.chain.ViewFunctionAt(ctx, r.contract, contracts.MethodGetProject, contracts.ProjectIDArgs{ProjectID: projectID}, &pv, ref); err != nil {
			r.log.Warn("could not read a project; its storage is kept", "project", projectID, "err", err)
			continue
		}
		if pv != nil && pv.UUID == uuid {
			continue
		}
		if err := r.dropStorage(ctx, code); err != nil {
			return err
		}
		r.log.Info("project deleted on chain: its storage is dropped", "project", projectID, "uuid", uuid)
	}
	return nil
}

// dropStorage proposes DropProgStorage for code until nothing is left.
func (r *retainer) dropStorage(ctx context.Context, code string) error {
	for {
		res, err := r.propose.Apply(ctx, &consensus.DropProgStorage{Code: code, Prefixes: hostcall.NamespacePrefixes(code)})
		if err != nil {
			return fmt.Errorf("dropping the storage of %s: %w", code, err)
		}
		if !res.DropPending {
			return nil
		}
	}
}

// defaultStorageBudget is a quarter of the file system the data directory
// is on: program storage is replicated to every node's disk, next to the
// Raft log, its snapshots and the blob cache. 0 (no budget) when the size
// cannot be read.
func defaultStorageBudget(dir string, log *slog.Logger) uint64 {
	size, err := diskSize(dir)
	if err != nil || size == 0 {
		log.Warn("could not read the data directory's disk size; program storage has no node-wide budget (set --storage-budget)", "dir", dir, "err", err)
		return 0
	}
	return size / 4
}
