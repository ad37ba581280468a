package p2p

import (
	"sync"

	"github.com/hashicorp/raft"
)

// Transport is hashicorp/raft's NetworkTransport (over a StreamLayer) with
// its AppendEntries pipeline made safe against a deadlock in hashicorp/raft
// v1.7.
//
// The deadlock: Raft's replication goroutine sends on the pipeline while a
// decoder goroutine reads the replies from Consumer(). When a follower
// answers Success=false or with a newer term (a leadership transfer does
// that), the decoder returns and nobody reads Consumer() again; but the
// sender may still pick another send before it notices, and the transport
// hands each sent request to its reply reader through an unbuffered
// channel. The reply reader is parked handing the previous reply to
// Consumer(), the sender is parked handing it the new request, and only
// closing the pipeline would free them — which the parked sender itself
// does when it returns. Replication to that follower stops for good
// (heartbeats still flow, so no election repairs it) and Raft's Shutdown,
// which waits for the sender, never returns: a daemon Stop hung until the
// test binary's timeout this way.
//
// The fix is at the consumer: every pipeline's replies are drained by a
// goroutine of ours into a queue that Raft reads at its own pace, so the
// transport's reply reader never waits for Raft, and the sender is only
// ever held by the network, whose deadlines bound it.
type Transport struct {
	*raft.NetworkTransport
}

// NewTransport is raft.NewNetworkTransportWithConfig with a safe pipeline.
func NewTransport(cfg *raft.NetworkTransportConfig) *Transport {
	return &Transport{raft.NewNetworkTransportWithConfig(cfg)}
}

// AppendEntriesPipeline opens a pipeline to target whose replies are
// drained whether or not Raft reads them.
func (t *Transport) AppendEntriesPipeline(id raft.ServerID, target raft.ServerAddress) (raft.AppendPipeline, error) {
	p, err := t.NetworkTransport.AppendEntriesPipeline(id, target)
	if err != nil {
		return nil, err
	}
	return newDrainedPipeline(p), nil
}

// drainedPipeline forwards an AppendPipeline's replies through a queue
// that never blocks the pipeline.
type drainedPipeline struct {
	raft.AppendPipeline
	out       chan raft.AppendFuture
	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

func newDrainedPipeline(p raft.AppendPipeline) *drainedPipeline {
	d := &drainedPipeline{AppendPipeline: p, out: make(chan raft.AppendFuture),
		stop: make(chan struct{}), done: make(chan struct{})}
	go d.forward()
	return d
}

// forward moves replies from the pipeline to out, queueing those Raft has
// not taken yet. The queue only grows after Raft stopped reading, by the
// few requests sent before Raft closes the pipeline.
func (d *drainedPipeline) forward() {
	defer close(d.done)
	in := d.AppendPipeline.Consumer()
	var queue []raft.AppendFuture
	for {
		var out chan raft.AppendFuture
		var next raft.AppendFuture
		if len(queue) > 0 {
			out, next = d.out, queue[0]
		}
		select {
		case f := <-in:
			queue = append(queue, f)
		case out <- next:
			queue[0] = nil
			queue = queue[1:]
		case <-d.stop:
			return
		}
	}
}

// Consumer is where Raft reads the replies.
func (d *drainedPipeline) Consumer() <-chan raft.AppendFuture { return d.out }

// Close closes the pipeline and stops forwarding.
func (d *drainedPipeline) Close() error {
	err := d.AppendPipeline.Close()
	d.closeOnce.Do(func() { close(d.stop) })
	<-d.done
	return err
}
