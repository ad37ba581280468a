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

// DefaultStall is how long one read or write of a Raft exchange may go
// without progress before it fails (StreamLayerConfig.Stall).
const DefaultStall = 10 * time.Second

// StreamLayerConfig tunes a StreamLayer.
type StreamLayerConfig struct {
	// Stall bounds every write, and every read in the middle of an inbound
	// request, that makes no progress: a peer that stops reading, or stops
	// sending half-way through a request, fails the exchange after Stall
	// instead of holding it until Raft's own deadline (which for an
	// InstallSnapshot grows with the snapshot: minutes). Zero means
	// DefaultStall.
	Stall time.Duration
}

// StreamLayer is a raft.StreamLayer over libp2p streams. Raft server
// addresses are peer id strings; the peerstore knows where each peer is.
//
// It keeps every stream it hands to Raft. Close ends them all and cancels
// dials in progress, so every Raft goroutine blocked on the network returns
// at once: hashicorp/raft's Shutdown waits for those goroutines, and a peer
// that accepted a stream and never reads it would otherwise hold it until
// the operation's deadline.
type StreamLayer struct {
	host  *Host
	proto protocol.ID
	stall time.Duration
	conns chan net.Conn

	// ctx ends at Close; dials run under it.
	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.Mutex
	open   map[*streamConn]struct{}
	closed bool
}

var _ raft.StreamLayer = (*StreamLayer)(nil)

// NewStreamLayer registers proto on the host (members only) and returns a
// stream layer for raft.NewNetworkTransport.
func NewStreamLayer(h *Host, proto protocol.ID, cfg StreamLayerConfig) *StreamLayer {
	if cfg.Stall <= 0 {
		cfg.Stall = DefaultStall
	}
	ctx, cancel := context.WithCancel(context.Background())
	sl := &StreamLayer{host: h, proto: proto, stall: cfg.Stall, conns: make(chan net.Conn),
		ctx: ctx, cancel: cancel, open: map[*streamConn]struct{}{}}
	h.Handle(proto, func(s network.Stream) {
		c, ok := sl.track(s, true)
		if !ok {
			return
		}
		select {
		case sl.conns <- c:
		case <-sl.ctx.Done():
			c.abort()
		}
	})
	return sl
}

// track wraps s and registers it, or resets it when the layer is closed.
func (sl *StreamLayer) track(s network.Stream, inbound bool) (*streamConn, bool) {
	c := &streamConn{Stream: s, layer: sl, inbound: inbound}
	sl.mu.Lock()
	defer sl.mu.Unlock()
	if sl.closed {
		// A reset on a stalled connection waits for yamux's write timeout.
		go func() { _ = s.Reset() }()
		return nil, false
	}
	sl.open[c] = struct{}{}
	return c, true
}

func (sl *StreamLayer) untrack(c *streamConn) {
	sl.mu.Lock()
	delete(sl.open, c)
	sl.mu.Unlock()
}

// OpenStreams is how many Raft streams are open (tests).
func (sl *StreamLayer) OpenStreams() int {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	return len(sl.open)
}

// Accept waits for the next inbound Raft stream.
func (sl *StreamLayer) Accept() (net.Conn, error) {
	select {
	case c := <-sl.conns:
		return c, nil
	case <-sl.ctx.Done():
		return nil, net.ErrClosed
	}
}

// Close stops accepting streams, cancels dials in progress and ends every
// open Raft stream: a read or write blocked on one returns at once with an
// error. It does not wait for the network.
func (sl *StreamLayer) Close() error {
	sl.mu.Lock()
	if sl.closed {
		sl.mu.Unlock()
		return nil
	}
	sl.closed = true
	open := sl.open
	sl.open = map[*streamConn]struct{}{}
	sl.mu.Unlock()
	sl.cancel()
	sl.host.RemoveHandler(sl.proto)
	for c := range open {
		c.abort()
	}
	return nil
}

// Addr is this node's Raft address: its peer id.
func (sl *StreamLayer) Addr() net.Addr { return peerAddr(sl.host.ID()) }

// Dial opens a Raft stream to the peer named by address, within timeout,
// or until the layer closes.
func (sl *StreamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	id, err := peer.Decode(string(address))
	if err != nil {
		return nil, fmt.Errorf("raft address %q is not a peer id: %w", address, err)
	}
	ctx, cancel := context.WithTimeout(sl.ctx, timeout)
	defer cancel()
	if ctx.Err() != nil {
		return nil, net.ErrClosed
	}
	s, err := sl.host.NewStream(ctx, id, sl.proto)
	if err != nil {
		if sl.ctx.Err() != nil {
			return nil, fmt.Errorf("%w: %w", net.ErrClosed, err)
		}
		return nil, err
	}
	c, ok := sl.track(s, false)
	if !ok {
		return nil, net.ErrClosed
	}
	return c, nil
}

// peerAddr is a net.Addr naming a peer.
type peerAddr peer.ID

func (a peerAddr) Network() string { return "libp2p" }
func (a peerAddr) String() string  { return peer.ID(a).String() }

// streamConn adapts a libp2p stream to net.Conn and bounds its blocking
// calls.
//
// Deadlines: the ones Raft sets are kept, and each Write, and each Read of
// an inbound stream in the middle of a request, is also cut to the layer's
// stall limit from the moment it starts. An inbound stream is "in a
// request" from the first bytes it reads until its next write (the reply):
// between requests Raft's pooled streams are legitimately idle, so those
// reads wait without a limit (Close still ends them). Outbound reads keep
// Raft's deadline only: the reply to an InstallSnapshot comes after the
// follower has restored the snapshot, which may take longer than a stall.
type streamConn struct {
	network.Stream
	layer   *StreamLayer
	inbound bool

	mu         sync.Mutex
	closed     bool
	readDL     time.Time // as Raft set them
	writeDL    time.Time
	midRequest bool // inbound: bytes arrived since the last reply
}

func (c *streamConn) LocalAddr() net.Addr  { return peerAddr(c.Conn().LocalPeer()) }
func (c *streamConn) RemoteAddr() net.Addr { return peerAddr(c.Conn().RemotePeer()) }

func (c *streamConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return 0, net.ErrClosed
	}
	dl := c.readDL
	if c.inbound && c.midRequest {
		dl = earliest(dl, time.Now().Add(c.layer.stall))
	}
	_ = c.Stream.SetReadDeadline(dl)
	c.mu.Unlock()

	n, err := c.Stream.Read(p)
	if n > 0 && c.inbound || err != nil {
		c.mu.Lock()
		if n > 0 && c.inbound {
			c.midRequest = true
		}
		err = c.closedErr(err)
		c.mu.Unlock()
	}
	return n, err
}

func (c *streamConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return 0, net.ErrClosed
	}
	_ = c.Stream.SetWriteDeadline(earliest(c.writeDL, time.Now().Add(c.layer.stall)))
	c.mu.Unlock()

	n, err := c.Stream.Write(p)
	if c.inbound || err != nil {
		c.mu.Lock()
		c.midRequest = false
		err = c.closedErr(err)
		c.mu.Unlock()
	}
	return n, err
}

// closedErr reports an operation that Close or abort ended as
// net.ErrClosed rather than as the past deadline that woke it. c.mu held.
func (c *streamConn) closedErr(err error) error {
	if err != nil && c.closed {
		return net.ErrClosed
	}
	return err
}

func (c *streamConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return net.ErrClosed
	}
	c.readDL, c.writeDL = t, t
	return c.Stream.SetDeadline(t)
}

func (c *streamConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return net.ErrClosed
	}
	c.readDL = t
	return c.Stream.SetReadDeadline(t)
}

func (c *streamConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return net.ErrClosed
	}
	c.writeDL = t
	return c.Stream.SetWriteDeadline(t)
}

// Close closes both directions; a half-closed Raft stream is useless.
func (c *streamConn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	c.layer.untrack(c)
	if err := c.Stream.Close(); err != nil {
		_ = c.Stream.Reset()
		if errors.Is(err, network.ErrReset) {
			return nil
		}
		return err
	}
	return nil
}

// abort ends the stream without waiting: a deadline in the past wakes any
// blocked Read or Write now, and the reset (which queues a frame, and on
// a stalled connection waits for yamux's connection write timeout) runs
// on its own goroutine.
func (c *streamConn) abort() {
	c.mu.Lock()
	already := c.closed
	c.closed = true
	if !already {
		_ = c.Stream.SetDeadline(time.Unix(1, 0))
	}
	c.mu.Unlock()
	if !already {
		go func() { _ = c.Stream.Reset() }()
	}
}

// earliest is the earlier of a deadline (zero: none) and t.
func earliest(dl, t time.Time) time.Time {
	if dl.IsZero() || t.Before(dl) {
		return t
	}
	return dl
}
