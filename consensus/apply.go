package consensus

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/hashicorp/raft"
)

// Apply proposes cmd and returns what applying it did. On a follower the
// command is forwarded to the leader over libp2p. The time the FSM sees is
// the leader's clock when it proposes. Errors from the store keep their
// sentinels (errors.Is(err, store.ErrInvalidTransition)). ErrIndeterminate
// means the outcome is unknown. When Apply returns, the write is visible in
// this node's own Store() (read-your-writes), on followers too.
func (n *Node) Apply(ctx context.Context, cmd Command) (Result, error) {
	b, err := encodeCommand(cmd, time.Time{})
	if err != nil {
		return Result{}, err
	}
	return n.applyEncoded(ctx, b)
}

func (n *Node) applyEncoded(ctx context.Context, b []byte) (Result, error) {
	resp, remote, err := n.leaderCall(ctx, rpcRequest{Kind: rpcApply, Command: b})
	var res Result
	if resp.Result != nil {
		res = *resp.Result
	}
	if err != nil {
		return res, err
	}
	if resp.Result == nil {
		return Result{}, fmt.Errorf("%w: the leader sent no result", ErrIndeterminate)
	}
	if remote {
		// Read-your-writes: the proposer reads its own replica next, so
		// return only once that replica has applied the entry. If ctx ends
		// first the write still stands; only its local visibility is late.
		if err := n.waitApplied(ctx, res.Index); err != nil {
			n.log.Debug("forwarded write committed but not yet applied locally", "index", res.Index, "err", err)
		}
	}
	return res, nil
}

// applyLocal runs on the leader: stamp the leader's clock, append, wait.
func (n *Node) applyLocal(ctx context.Context, b []byte) (Result, error) {
	stamped := slices.Clone(b)
	binary.BigEndian.PutUint64(stamped[2:10], uint64(time.Now().UnixNano()))
	timeout := time.Duration(0)
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
		if timeout <= 0 {
			return Result{}, ctx.Err()
		}
	}
	fut := n.raft.Apply(stamped, timeout)
	done := make(chan error, 1)
	go func() { done <- fut.Error() }()
	select {
	case err := <-done:
		if err != nil {
			switch {
			case errors.Is(err, raft.ErrNotLeader):
				return Result{}, ErrNotLeader
			case errors.Is(err, raft.ErrEnqueueTimeout):
				return Result{}, fmt.Errorf("%w: %w", ErrNoLeader, err)
			case errors.Is(err, raft.ErrRaftShutdown):
				return Result{}, fmt.Errorf("%w: %w", ErrIndeterminate, ErrClosed)
			default:
				return Result{}, fmt.Errorf("%w: %w", ErrIndeterminate, err)
			}
		}
	case <-ctx.Done():
		return Result{}, fmt.Errorf("%w: %w", ErrIndeterminate, ctx.Err())
	}
	resp, ok := fut.Response().(applyResponse)
	if !ok {
		return Result{}, fmt.Errorf("%w: unexpected FSM response %T", ErrIndeterminate, fut.Response())
	}
	return resp.result, resp.err
}
