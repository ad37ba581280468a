package p2p

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// RaftProtocol is the protocol id of the Raft transport.
const RaftProtocol protocol.ID = "/outlayer/raft/1"

// StreamLayer is a raft.StreamLayer over libp2p streams. Raft server
// addresses are peer id strings; the peerstore knows where each peer is.
type StreamLayer struct {
	host  *Host
	proto protocol.ID
	conns chan net.Conn

	closeOnce sync.Once
	closed    chan struct{}
}

var _ raft.StreamLayer = (*StreamLayer)(nil)

// NewStreamLayer registers proto on the host (members only) and returns a
// stream layer for raft.NewNetworkTransport.
func NewStreamLayer(h *Host, proto protocol.ID) *StreamLayer {
	sl := &StreamLayer{host: h, proto: proto, conns: make(chan net.Conn), closed: make(chan struct{})}
	h.Handle(proto, func(s network.Stream) {
		select {
		case sl.conns <- &streamConn{Stream: s}:
		case <-sl.closed:
			_ = s.Reset()
		}
	})
	return sl
}

// Accept waits for the next inbound Raft stream.
func (sl *StreamLayer) Accept() (net.Conn, error) {
	select {
	case c := <-sl.conns:
		return c, nil
	case <-sl.closed:
		return nil, net.ErrClosed
	}
}

// Close stops accepting streams.
func (sl *StreamLayer) Close() error {
	sl.closeOnce.Do(func() {
		close(sl.closed)
		sl.host.RemoveHandler(sl.proto)
	})
	return nil
}

// Addr is this node's Raft address: its peer id.
func (sl *StreamLayer) Addr() net.Addr { return peerAddr(sl.host.ID()) }

// Dial opens a Raft stream to the peer named by address.
func (sl *StreamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	select {
	case <-sl.closed:
		return nil, net.ErrClosed
	default:
	}
	id, err := peer.Decode(string(address))
	if err != nil {
		return nil, fmt.Errorf("raft address %q is not a peer id: %w", address, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	s, err := sl.host.NewStream(ctx, id, sl.proto)
	if err != nil {
		return nil, err
	}
	return &streamConn{Stream: s}, nil
}

// peerAddr is a net.Addr naming a peer.
type peerAddr peer.ID

func (a peerAddr) Network() string { return "libp2p" }
func (a peerAddr) String() string  { return peer.ID(a).String() }

// streamConn adapts a libp2p stream to net.Conn.
type streamConn struct {
	network.Stream
}

func (c *streamConn) LocalAddr() net.Addr  { return peerAddr(c.Conn().LocalPeer()) }
func (c *streamConn) RemoteAddr() net.Addr { return peerAddr(c.Conn().RemotePeer()) }

// Close closes both directions; a half-closed Raft stream is useless.
func (c *streamConn) Close() error {
	if err := c.Stream.Close(); err != nil {
		_ = c.Stream.Reset()
		if errors.Is(err, network.ErrReset) {
			return nil
		}
		return err
	}
	return nil
}
