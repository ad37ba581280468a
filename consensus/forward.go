package consensus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// retryInterval is how long the node waits before asking again when no
// leader is known or a request certainly did not reach one.
const retryInterval = 20 * time.Millisecond

// leaderCall runs req on the leader and returns its answer: locally when
// this node leads, otherwise over RPCProtocol. It is the one way anything
// reaches the leader — forwarded writes, read indexes, join steps relayed
// for a joiner, removals.
//
// It asks again, every retryInterval, while req certainly did nothing: no
// leader is known, the stream to the leader could not be opened, or the
// node asked is not (or no longer) the leader. Once req may have reached
// the leader, a failed exchange is ErrIndeterminate — except for requests
// that are safe to repeat (read indexes), which are asked again. A
// leader-bound request (a join's second step) is not asked again when
// leadership moved: the new leader never issued its challenge, so the
// answer goes back and the joiner starts over (see joinThrough). Giving up
// because ctx ended is ErrNoLeader (nothing was done); a closed node is
// ErrClosed.
//
// err is the operation's own error when the leader ran req: the original
// error when it ran here, the wire form (sentinels kept) when it ran on
// another node. remote reports the latter.
func (n *Node) leaderCall(ctx context.Context, req rpcRequest) (resp rpcResponse, remote bool, err error) {
	type answer struct {
		resp   rpcResponse
		remote bool
		err    error
	}
	a, err := poll(ctx, n, retryInterval, func() (answer, error) {
		if n.IsLeader() {
			resp, err := n.serveLocal(ctx, n.host.ID(), req)
			if errors.Is(err, ErrNotLeader) && req.Kind.leaderBound() {
				return answer{}, backoff.Permanent(err)
			}
			if errors.Is(err, ErrNotLeader) {
				// Leadership moved before req did anything: ask the
				// new leader.
				return answer{}, err
			}
			return answer{resp: resp, err: err}, nil
		}
		leader := n.Leader()
		if leader == "" || leader == n.host.ID() {
			return answer{}, ErrNoLeader
		}
		var resp rpcResponse
		sent, err := n.call(ctx, leader, req, &resp)
		if err != nil {
			if !sent || req.Kind.repeatable() {
				return answer{}, err
			}
			return answer{}, backoff.Permanent(fmt.Errorf("%w: %s on leader %s: %w", ErrIndeterminate, req.Kind, leader, err))
		}
		rerr := fromWire(resp.Err)
		if errors.Is(rerr, ErrNotLeader) && req.Kind.leaderBound() {
			return answer{}, backoff.Permanent(rerr)
		}
		if errors.Is(rerr, ErrNotLeader) || errors.Is(rerr, ErrNoLeader) {
			return answer{}, rerr
		}
		return answer{resp: resp, remote: true, err: rerr}, nil
	})
	if err != nil {
		if errors.Is(err, ErrIndeterminate) || errors.Is(err, ErrClosed) {
			return rpcResponse{}, false, err
		}
		return rpcResponse{}, false, fmt.Errorf("%w: %s: %w", ErrNoLeader, req.Kind, err)
	}
	return a.resp, a.remote, a.err
}

// poll runs op until it succeeds, waiting the interval every between
// attempts. It stops at an error op marks final with backoff.Permanent
// (returned unwrapped), when ctx ends (ctx's error, with op's last error),
// or when the node closes (ErrClosed). Every wait-and-try-again in this package goes through
// it.
func poll[T any](ctx context.Context, n *Node, every time.Duration, op func() (T, error)) (T, error) {
	var last error
	v, err := backoff.Retry(ctx, func() (T, error) {
		if n.closed.Load() {
			var zero T
			return zero, backoff.Permanent(ErrClosed)
		}
		return op()
	},
		backoff.WithBackOff(backoff.NewConstantBackOff(every)),
		backoff.WithMaxElapsedTime(0),
		backoff.WithNotify(func(err error, _ time.Duration) { last = err }),
	)
	if err != nil && ctx.Err() != nil && last != nil && last != errNotYet && !errors.Is(err, ErrClosed) {
		return v, fmt.Errorf("%w (last attempt: %v)", err, last)
	}
	return v, err
}

// waitUntil returns once cond holds, checking every interval, or fails
// when ctx ends or the node closes.
func (n *Node) waitUntil(ctx context.Context, every time.Duration, cond func() bool) error {
	_, err := poll(ctx, n, every, func() (struct{}, error) {
		if cond() {
			return struct{}{}, nil
		}
		return struct{}{}, errNotYet
	})
	return err
}

// errNotYet is waitUntil's "condition does not hold yet"; it never leaves
// this package.
var errNotYet = errors.New("not yet")
