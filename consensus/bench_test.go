package consensus

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/outlayer/outlayer/store"
)

// benchCluster builds a 3-node loopback cluster with fsync on (raft-boltdb
// syncs every log append) and production-like timeouts.
func benchCluster(b *testing.B) *testCluster {
	b.Helper()
	c := &testCluster{t: b, base: b.TempDir(), tune: func(cfg *Config) { cfg.Raft = RaftTuning{MaxAppendEntries: 256} }}
	b.Cleanup(c.closeAll)
	c.bootstrap(3)
	return c
}

// reportLatency adds p50/p99 commit latency to the benchmark output.
func reportLatency(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	p := func(q float64) float64 {
		return float64(lat[int(q*float64(len(lat)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(p(0.50), "p50-ms")
	b.ReportMetric(p(0.99), "p99-ms")
}

var benchID atomic.Uint64

// BenchmarkEnqueueSequential: one proposer on the leader, one request per
// Raft entry, each waiting for its commit: the latency floor (one fsync per
// entry on the leader and a quorum follower).
func BenchmarkEnqueueSequential(b *testing.B) {
	c := benchCluster(b)
	n := c.node(c.leader())
	ctx := context.Background()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if _, err := n.Apply(ctx, &Enqueue{Requests: []store.Request{testRequest(benchID.Add(1))}}); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "enqueues/s")
	reportLatency(b, lat)
}

// BenchmarkEnqueueConcurrent: many proposers, one request per entry; Raft
// batches their entries into shared appends and fsyncs, and the FSM applies
// each batch in one bbolt transaction (ApplyBatch).
func BenchmarkEnqueueConcurrent(b *testing.B) {
	benchConcurrent(b, 64, 1)
}

// BenchmarkEnqueueBlocks: the chain watcher's real shape, one entry per
// block of 16 requests with the cursor, from 8 concurrent proposers.
func BenchmarkEnqueueBlocks(b *testing.B) {
	benchConcurrent(b, 8, 16)
}

func benchConcurrent(b *testing.B, proposers, perEntry int) {
	benchConcurrentOn(b, proposers, perEntry, false)
}

func benchConcurrentOn(b *testing.B, proposers, perEntry int, viaFollower bool) {
	c := benchCluster(b)
	l := c.leader()
	n := c.node(l)
	if viaFollower {
		n = c.node((l + 1) % 3)
	}
	ctx := context.Background()
	var (
		mu   sync.Mutex
		lat  = make([]time.Duration, 0, b.N)
		next atomic.Int64
		wg   sync.WaitGroup
	)
	entries := (b.N + perEntry - 1) / perEntry
	b.ResetTimer()
	for p := 0; p < proposers; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]time.Duration, 0, entries/proposers+1)
			for next.Add(1) <= int64(entries) {
				reqs := make([]store.Request, perEntry)
				for i := range reqs {
					reqs[i] = testRequest(benchID.Add(1))
				}
				start := time.Now()
				if _, err := n.Apply(ctx, &Enqueue{Requests: reqs}); err != nil {
					b.Error(err)
					return
				}
				local = append(local, time.Since(start))
			}
			mu.Lock()
			lat = append(lat, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(entries*perEntry)/b.Elapsed().Seconds(), "enqueues/s")
	reportLatency(b, lat)
}

// BenchmarkEnqueueBatch64Sequential: one proposer, 64 requests per entry,
// each waiting for its commit (rqlite's "batched 64 per request" shape).
func BenchmarkEnqueueBatch64Sequential(b *testing.B) {
	benchConcurrent(b, 1, 64)
}

// BenchmarkEnqueueBatch64Concurrent: 8 proposers of 64-request entries;
// Raft batches the entries and the FSM applies each batch in one bbolt
// transaction.
func BenchmarkEnqueueBatch64Concurrent(b *testing.B) {
	benchConcurrent(b, 8, 64)
}

// BenchmarkEnqueueBatch64Forwarded: BenchmarkEnqueueBatch64Concurrent
// proposed on a follower, so every entry is forwarded to the leader over
// libp2p (/outlayer/rpc/1) and its result sent back: the path of a daemon
// whose chain watcher is not on the leader.
func BenchmarkEnqueueBatch64Forwarded(b *testing.B) {
	benchConcurrentOn(b, 8, 64, true)
}
