package consensus

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/hashicorp/raft"
)

// LinearizableRead returns once the local store reflects every write
// committed before the call, so a read that follows sees them. On the
// leader that is a ReadIndex check (VerifyLeader after reading the commit
// index); a follower asks the leader for its read index and waits until
// it has applied that far.
func (n *Node) LinearizableRead(ctx context.Context) error {
	resp, _, err := n.leaderCall(ctx, rpcRequest{Kind: rpcReadIndex})
	if err != nil {
		return err
	}
	return n.waitApplied(ctx, resp.ReadIndex)
}

// readIndex is the leader's half of a linearizable read.
func (n *Node) readIndex(ctx context.Context) (uint64, error) {
	// A new leader's commit index may trail what the old leader acknowledged
	// until an entry of its own term commits: the first read of a term goes
	// through a barrier.
	term := n.raft.CurrentTerm()
	if n.barrierTerm.Load() != term {
		if err := waitFuture(ctx, n.raft.Barrier(futureTimeout(ctx))); err != nil {
			if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
				return 0, ErrNotLeader
			}
			return 0, fmt.Errorf("read barrier: %w", err)
		}
		n.barrierTerm.Store(term)
	}
	idx := n.raft.CommitIndex()
	if err := waitFuture(ctx, n.raft.VerifyLeader()); err != nil {
		if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
			return 0, ErrNotLeader
		}
		return 0, fmt.Errorf("verify leadership: %w", err)
	}
	return idx, nil
}

// waitApplied returns once the local store holds every entry up to idx.
// Raft's AppliedIndex only says the entries were handed to the FSM
// goroutine; the store has them when our FSM's own watermark passes the
// last entry at or below idx that reaches the FSM (no-ops and barriers
// never do).
func (n *Node) waitApplied(ctx context.Context, idx uint64) error {
	need := uint64(0)
	haveNeed := false
	err := n.waitUntil(ctx, time.Millisecond, func() bool {
		if !haveNeed && n.raft.AppliedIndex() >= idx {
			need, haveNeed = n.lastFSMEntry(idx), true
		}
		if !haveNeed {
			return false
		}
		if n.fsm.applied.Load() >= need {
			return true
		}
		// An installed snapshot covers everything up to its index.
		s, err := strconv.ParseUint(n.raft.Stats()["last_snapshot_index"], 10, 64)
		return err == nil && s >= need
	})
	if err != nil && !errors.Is(err, ErrClosed) {
		return fmt.Errorf("wait for the local replica to apply index %d: %w", idx, err)
	}
	return err
}

// lastFSMEntry finds the highest index <= idx whose entry the FSM applies.
// Zero means none is left in the log (compacted into a snapshot, which
// the store already holds).
func (n *Node) lastFSMEntry(idx uint64) uint64 {
	for k := idx; k > 0; k-- {
		var l raft.Log
		if err := n.logStore.GetLog(k, &l); err != nil {
			return 0
		}
		if l.Type == raft.LogCommand || l.Type == raft.LogConfiguration {
			return k
		}
	}
	return 0
}
