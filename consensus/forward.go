package consensus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// leaderCall runs req on the leader: locally when this node leads,
// otherwise over RPCProtocol, retrying while no leader is known or the
// request never left.
func (n *Node) leaderCall(ctx context.Context, req rpcRequest) (rpcResponse, error) {
	for {
		if n.closed.Load() {
			return rpcResponse{}, ErrClosed
		}
		if n.IsLeader() {
			resp := n.serveRPC(ctx, n.host.ID(), req)
			if rerr := fromWire(resp.Err); rerr != nil && errors.Is(rerr, ErrNotLeader) {
				continue
			}
			return resp, nil
		}
		leader, err := n.waitLeader(ctx)
		if err != nil {
			return rpcResponse{}, err
		}
		if leader == n.host.ID() {
			continue
		}
		var resp rpcResponse
		sent, err := n.call(ctx, leader, req, &resp)
		if err != nil {
			if !sent {
				if err := n.pause(ctx); err != nil {
					return rpcResponse{}, err
				}
				continue
			}
			return rpcResponse{}, fmt.Errorf("%w: %s on leader %s: %w", ErrIndeterminate, req.Kind, leader, err)
		}
		if rerr := fromWire(resp.Err); rerr != nil && (errors.Is(rerr, ErrNotLeader) || errors.Is(rerr, ErrNoLeader)) {
			if err := n.pause(ctx); err != nil {
				return rpcResponse{}, err
			}
			continue
		}
		return resp, nil
	}
}

// waitLeader waits until some leader is known.
func (n *Node) waitLeader(ctx context.Context) (peer.ID, error) {
	for {
		if l := n.Leader(); l != "" {
			return l, nil
		}
		if err := n.pause(ctx); err != nil {
			return "", fmt.Errorf("%w: %w", ErrNoLeader, err)
		}
	}
}

// pause waits a little before retrying, or returns when ctx or the node ends.
func (n *Node) pause(ctx context.Context) error {
	t := time.NewTimer(20 * time.Millisecond)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-n.ctx.Done():
		return ErrClosed
	}
}
