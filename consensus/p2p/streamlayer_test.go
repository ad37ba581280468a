package p2p

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// deafPeer is a member whose Raft handler accepts every stream and never
// reads it: its connection stays healthy (yamux answers pings, buffers up
// to the stream window), so only deadlines or Close free a sender.
func deafPeer(t *testing.T) (*Host, *atomic.Int32) {
	t.Helper()
	h := newTestHost(t, GaterConfig{})
	var accepted atomic.Int32
	held := make(chan network.Stream, 16)
	h.Handle(RaftProtocol, func(s network.Stream) {
		accepted.Add(1)
		held <- s // never read
	})
	t.Cleanup(func() {
		close(held)
		for s := range held {
			_ = s.Reset()
		}
	})
	return h, &accepted
}

// members makes every host a member of every other and tells each where
// the others listen.
func members(hosts ...*Host) {
	ids := make([]peer.ID, len(hosts))
	for i, h := range hosts {
		ids[i] = h.ID()
	}
	for _, h := range hosts {
		h.Gater().SetMembers(ids)
		for _, o := range hosts {
			if o != h {
				h.AddAddrs(o.ID(), o.ListenAddrs())
			}
		}
	}
}

func newTransport(sl *StreamLayer, timeout time.Duration) *raft.NetworkTransport {
	return raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream: sl, MaxPool: 2, Timeout: timeout,
		Logger: hclog.New(&hclog.LoggerOptions{Output: hclog.DefaultOutput, Level: hclog.Off}),
	})
}

func bigEntries(size int) *raft.AppendEntriesRequest {
	data := make([]byte, size)
	_, _ = rand.Read(data)
	return &raft.AppendEntriesRequest{Term: 1, Entries: []*raft.Log{{Index: 1, Term: 1, Type: raft.LogCommand, Data: data}}}
}

// TestStreamLayerCloseEndsEveryBlockedOperation: with Raft's deadlines and
// the stall limit both an hour away, every blocking Raft operation on a
// peer that never reads — an InstallSnapshot, an RPC waiting for its
// reply, a pipelined AppendEntries, a dial to an address that accepts TCP
// and never speaks — returns within a second of the stream layer's Close.
func TestStreamLayerCloseEndsEveryBlockedOperation(t *testing.T) {
	a := newTestHost(t, GaterConfig{})
	b, accepted := deafPeer(t)
	members(a, b)
	// A member whose address is a tarpit: TCP accepted, nothing said.
	tarpit, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tarpit.Close()
	tarpitConns := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := tarpit.Accept()
			if err != nil {
				return
			}
			tarpitConns <- c
		}
	}()
	defer func() {
		for len(tarpitConns) > 0 {
			(<-tarpitConns).Close()
		}
	}()
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	frozen, err := peer.IDFromPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	a.Gater().SetMembers([]peer.ID{a.ID(), b.ID(), frozen})
	a.AddAddrs(frozen, []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/" + portOf(t, tarpit.Addr()))})

	sl := NewStreamLayer(a, RaftProtocol, StreamLayerConfig{Stall: time.Hour})
	tr := newTransport(sl, time.Hour)
	bid := raft.ServerAddress(b.ID().String())

	type result struct {
		op  string
		err error
	}
	results := make(chan result, 4)
	go func() {
		snap := bytes.NewReader(make([]byte, 4<<20))
		err := tr.InstallSnapshot("b", bid, &raft.InstallSnapshotRequest{Term: 1, Size: int64(snap.Len())}, &raft.InstallSnapshotResponse{}, snap)
		results <- result{"InstallSnapshot", err}
	}()
	go func() {
		err := tr.AppendEntries("b", bid, &raft.AppendEntriesRequest{Term: 1}, &raft.AppendEntriesResponse{})
		results <- result{"AppendEntries (waiting for the reply)", err}
	}()
	go func() {
		p, err := tr.AppendEntriesPipeline("b", bid)
		if err == nil {
			defer p.Close()
			_, err = p.AppendEntries(bigEntries(4<<20), &raft.AppendEntriesResponse{})
		}
		results <- result{"pipelined AppendEntries", err}
	}()
	go func() {
		err := tr.RequestVote("frozen", raft.ServerAddress(frozen.String()), &raft.RequestVoteRequest{Term: 1}, &raft.RequestVoteResponse{})
		results <- result{"dial to a silent address", err}
	}()

	deadline := time.Now().Add(20 * time.Second)
	for accepted.Load() < 3 || len(tarpitConns) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the operations never reached the peers: %d Raft streams accepted, %d tarpit connections", accepted.Load(), len(tarpitConns))
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case r := <-results:
		t.Fatalf("%s returned (%v) while its peer had not read anything", r.op, r.err)
	default:
	}

	start := time.Now()
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	for range 4 {
		select {
		case r := <-results:
			if r.err == nil {
				t.Errorf("%s succeeded against a peer that never read", r.op)
			}
			t.Logf("%s returned %v after Close: %v", r.op, time.Since(start).Round(time.Millisecond), r.err)
		case <-time.After(5 * time.Second):
			t.Fatalf("an operation is still blocked 5 s after Close")
		}
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("the blocked operations took %v to return after Close, want well under a second", took)
	}
	if n := sl.OpenStreams(); n != 0 {
		t.Errorf("%d Raft streams still open after Close", n)
	}
	if _, err := sl.Dial(bid, time.Second); !errors.Is(err, net.ErrClosed) {
		t.Errorf("dial after Close: %v, want net.ErrClosed", err)
	}
}

// TestStreamLayerStall: a write that makes no progress fails after the
// stall limit even when Raft's deadline is an hour away; so does a read in
// the middle of an inbound request whose sender stopped; an idle inbound
// stream (between requests) waits without a limit until Close.
func TestStreamLayerStall(t *testing.T) {
	const stall = 300 * time.Millisecond
	a := newTestHost(t, GaterConfig{})
	b, _ := deafPeer(t)
	c := newTestHost(t, GaterConfig{})
	members(a, b, c)

	// Outbound: 4 MiB of entries to a peer that reads nothing.
	sl := NewStreamLayer(a, RaftProtocol, StreamLayerConfig{Stall: stall})
	tr := newTransport(sl, time.Hour)
	defer tr.Close()
	start := time.Now()
	err := tr.AppendEntries("b", raft.ServerAddress(b.ID().String()), bigEntries(4<<20), &raft.AppendEntriesResponse{})
	// Raft's msgpack codec keeps only the message of the stream's error.
	if err == nil || !strings.Contains(err.Error(), "deadline") {
		t.Fatalf("append to a peer that never reads: %v, want a deadline error", err)
	}
	if took := time.Since(start); took > 10*stall {
		t.Errorf("the stalled write failed after %v, want about %v", took, stall)
	}

	// Inbound: c's layer receives a stream from a.
	csl := NewStreamLayer(c, RaftProtocol, StreamLayerConfig{Stall: stall})
	defer csl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := a.NewStream(ctx, c.ID(), RaftProtocol)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Reset()
	send := func(b ...byte) {
		t.Helper()
		if _, err := out.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	send(1, 2, 3) // a request
	conn, err := csl.Accept()
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	if n, err := conn.Read(buf); err != nil || n != 3 {
		t.Fatalf("read the request: %d bytes, %v", n, err)
	}
	if _, err := conn.Write([]byte{9}); err != nil { // the reply: the stream is idle now
		t.Fatal(err)
	}
	type read struct {
		n   int
		err error
	}
	reads := make(chan read, 1)
	readAsync := func() {
		go func() {
			n, err := conn.Read(buf)
			reads <- read{n, err}
		}()
	}
	readAsync()
	select {
	case r := <-reads:
		t.Fatalf("a read on an idle inbound stream returned %d, %v: idle streams have no stall limit", r.n, r.err)
	case <-time.After(4 * stall):
	}
	send(4, 5) // the start of the next request, then nothing
	if r := <-reads; r.err != nil || r.n != 2 {
		t.Fatalf("read the next request's start: %d bytes, %v", r.n, r.err)
	}
	start = time.Now()
	if _, err := conn.Read(buf); !isTimeout(err) {
		t.Fatalf("read after the sender stopped mid-request: %v, want a timeout", err)
	}
	if took := time.Since(start); took > 10*stall {
		t.Errorf("the stalled read failed after %v, want about %v", took, stall)
	}

	// Close ends an idle read at once.
	if _, err := conn.Write([]byte{9}); err != nil {
		t.Fatal(err)
	}
	readAsync()
	start = time.Now()
	csl.Close()
	select {
	case r := <-reads:
		if r.err == nil {
			t.Fatalf("read after Close returned %d bytes and no error", r.n)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("an idle inbound read is still blocked 5 s after Close")
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("an idle read took %v to end after Close", took)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func portOf(t *testing.T, a net.Addr) string {
	t.Helper()
	_, port, err := net.SplitHostPort(a.String())
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// TestPipelineWhoseRepliesAreNotReadKeepsSending reproduces hashicorp/raft
// v1.7's pipeline deadlock and checks Transport's fix: Raft's decoder stops
// reading a pipeline's replies (a follower refused an entry, or answered
// with a newer term) while the sender goes on sending. On the bare
// NetworkTransport the second such send never returns; on Transport every
// send returns, and the replies wait, in order, for whoever reads them.
func TestPipelineWhoseRepliesAreNotReadKeepsSending(t *testing.T) {
	a := newTestHost(t, GaterConfig{})
	b := newTestHost(t, GaterConfig{})
	members(a, b)
	follower := newTransport(NewStreamLayer(b, RaftProtocol, StreamLayerConfig{}), 10*time.Second)
	defer follower.Close()
	go func() { // a follower that accepts every entry at once
		for rpc := range follower.Consumer() {
			req := rpc.Command.(*raft.AppendEntriesRequest)
			rpc.Respond(&raft.AppendEntriesResponse{Term: req.Term, LastLog: req.Entries[len(req.Entries)-1].Index, Success: true}, nil)
		}
	}()
	bid := raft.ServerAddress(b.ID().String())
	entry := func(i uint64) *raft.AppendEntriesRequest {
		return &raft.AppendEntriesRequest{Term: 1, PrevLogEntry: i - 1, PrevLogTerm: 1,
			Entries: []*raft.Log{{Index: i, Term: 1, Type: raft.LogCommand, Data: []byte("x")}}}
	}
	sendAll := func(p raft.AppendPipeline, n int) (sent int) {
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i := range n {
				if _, err := p.AppendEntries(entry(uint64(i+1)), &raft.AppendEntriesResponse{}); err != nil {
					return
				}
				sent++
			}
		}()
		select {
		case <-done:
		case <-time.After(2 * time.Second):
		}
		_ = p.Close() // frees a blocked send
		<-done
		return sent
	}

	// The bare transport: nobody reads Consumer(), so the second send is
	// stuck until the pipeline closes.
	bare := newTransport(NewStreamLayer(a, RaftProtocol, StreamLayerConfig{}), 10*time.Second)
	defer bare.Close()
	p, err := bare.AppendEntriesPipeline("b", bid)
	if err != nil {
		t.Fatal(err)
	}
	if sent := sendAll(p, 5); sent != 1 {
		t.Fatalf("the bare NetworkTransport sent %d of 5 with nobody reading replies; want it stuck after 1 (hashicorp/raft's deadlock: if this changed, Transport's drain may no longer be needed)", sent)
	}

	// Transport: all five go out, and their replies are all there.
	tr := NewTransport(&raft.NetworkTransportConfig{Stream: NewStreamLayer(a, RaftProtocol, StreamLayerConfig{}),
		MaxPool: 2, Timeout: 10 * time.Second, Logger: hclog.New(&hclog.LoggerOptions{Level: hclog.Off})})
	defer tr.Close()
	p, err = tr.AppendEntriesPipeline("b", bid)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		for i := range 5 {
			if _, err := p.AppendEntries(entry(uint64(i+1)), &raft.AppendEntriesResponse{}); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a send on Transport's pipeline blocked while nobody read the replies")
	}
	for i := range 5 {
		select {
		case f := <-p.Consumer():
			if err := f.Error(); err != nil || !f.Response().Success || f.Request().Entries[0].Index != uint64(i+1) {
				t.Fatalf("reply %d: request %d, %+v, %v", i, f.Request().Entries[0].Index, f.Response(), err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("reply %d never came", i)
		}
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
}
