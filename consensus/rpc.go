package consensus

import (
	"context"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// rpcTimeout bounds one member-to-leader call when the caller gave no
// deadline.
const rpcTimeout = 30 * time.Second

// call sends one request to p on RPCProtocol and reads the response. sent
// reports whether the request may have reached p: when false, nothing
// happened there and retrying is safe.
func (n *Node) call(ctx context.Context, p peer.ID, req rpcRequest, resp *rpcResponse) (sent bool, err error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, rpcTimeout)
		defer cancel()
	}
	s, err := n.host.NewStream(ctx, p, RPCProtocol)
	if err != nil {
		return false, err
	}
	defer s.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = s.SetDeadline(dl)
	}
	// Unblock the stream if ctx ends first.
	stop := context.AfterFunc(ctx, func() { _ = s.Reset() })
	defer stop()
	if err := writeFrame(s, req); err != nil {
		return false, fmt.Errorf("send %s to %s: %w", req.Kind, p, err)
	}
	if err := s.CloseWrite(); err != nil {
		return true, fmt.Errorf("send %s to %s: %w", req.Kind, p, err)
	}
	if err := readFrame(s, resp); err != nil {
		if ctx.Err() != nil {
			return true, ctx.Err()
		}
		return true, fmt.Errorf("read %s reply from %s: %w", req.Kind, p, err)
	}
	return true, nil
}

// handleRPC serves members' calls to the leader.
func (n *Node) handleRPC(s network.Stream) {
	defer s.Close()
	_ = s.SetDeadline(time.Now().Add(rpcTimeout))
	var req rpcRequest
	if err := readFrame(s, &req); err != nil {
		_ = s.Reset()
		return
	}
	ctx, cancel := context.WithTimeout(n.ctx, rpcTimeout)
	defer cancel()
	resp := n.serveRPC(ctx, s.Conn().RemotePeer(), req)
	if err := writeFrame(s, resp); err != nil {
		n.log.Debug("rpc: write reply", "kind", req.Kind, "peer", s.Conn().RemotePeer(), "err", err)
	}
}

// serveRPC answers a member's call: serveLocal, with the error in its wire
// form.
func (n *Node) serveRPC(ctx context.Context, from peer.ID, req rpcRequest) rpcResponse {
	resp, err := n.serveLocal(ctx, from, req)
	if err != nil {
		// The caller learns only the error; a partial result stays here.
		return rpcResponse{Err: toWire(err)}
	}
	return resp
}

// serveLocal runs a leader-only operation on this node, for a member's call
// or for this node's own leaderCall.
func (n *Node) serveLocal(ctx context.Context, from peer.ID, req rpcRequest) (rpcResponse, error) {
	if !n.IsLeader() {
		return rpcResponse{}, ErrNotLeader
	}
	switch req.Kind {
	case rpcApply:
		res, err := n.applyLocal(ctx, req.Command)
		return rpcResponse{Result: &res}, err
	case rpcReadIndex:
		idx, err := n.readIndex(ctx)
		return rpcResponse{ReadIndex: idx}, err
	case rpcJoinChallenge, rpcJoinComplete:
		p, err := peer.Decode(req.Peer)
		if err != nil {
			return rpcResponse{}, fmt.Errorf("%w: joiner id %q: %w", ErrJoinRefused, req.Peer, err)
		}
		if req.Kind == rpcJoinChallenge {
			ch, err := n.leaderChallenge(p, req.Addrs)
			return rpcResponse{Challenge: ch}, err
		}
		j, err := n.leaderAdmit(ctx, p, req.Addrs, req.Nonce, req.Evidence, req.Replaces)
		return rpcResponse{Joined: j}, err
	case rpcRemove:
		p, err := peer.Decode(req.Peer)
		if err != nil {
			return rpcResponse{}, fmt.Errorf("remove: peer id %q: %w", req.Peer, err)
		}
		return rpcResponse{}, n.leaderRemove(ctx, p)
	}
	return rpcResponse{}, fmt.Errorf("unknown rpc %q from %s", req.Kind, from)
}
