package daemon_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/outlayer/outlayer/contracts"
	"github.com/outlayer/outlayer/contracts/near"
	"github.com/outlayer/outlayer/daemon"
	"github.com/outlayer/outlayer/store"
)

// benchBlockTime is the devchain block time the issue asks for.
const benchBlockTime = 100 * time.Millisecond

var benchLimits = contracts.ResourceLimits{MaxInstructions: 50_000_000, MaxMemoryMB: 64, MaxExecutionSeconds: 5}

// blockOf is the height and timestamp (ns) of the block an outcome ran in.
func (w *world) blockOf(h near.CryptoHash) (uint64, uint64) {
	w.t.Helper()
	b, err := w.cl.Block(w.ctx, near.AtHash(h))
	if err != nil {
		w.t.Fatalf("block %s: %v", h, err)
	}
	return b.Header.Height, b.Header.Timestamp
}

// benchTuning runs the nodes as `outlayerd run` does: the default poll
// interval and Raft commit timeout (the harness shortens both for tests).
func benchTuning(c *daemon.Config) {
	c.PollInterval = 0
	c.Raft.CommitTimeout = 0
	c.Slots = 0
}

// latencySample is one request's path from its block to its resolve's block.
type latencySample struct {
	blocks uint64
	ms     float64
	// stages, in ms of wall clock (the leader's clock, which stamps every
	// Raft entry): request block -> enqueued -> leased -> result accepted
	// -> resolve block.
	watch, assign, run, resolve float64
	// exec is the program's own run time inside run.
	exec float64
}

// measure follows one resolved request back through the chain and the
// replica.
func (w *world) measure(reqTx near.CryptoHash) latencySample {
	w.t.Helper()
	out := w.final(reqTx, w.alice.AccountID(), time.Minute)
	o := parseOutcome(w.t, out)
	if len(o.completed) != 1 || !o.completed[0].Success {
		w.t.Fatalf("request %d: completion events %+v", o.requestID, o.completed)
	}
	// The first receipt is request_execution on the OutLayer contract: the
	// block it ran in is the request's block.
	reqHeight, reqTS := w.blockOf(out.ReceiptsOutcome[0].BlockHash)
	var j *store.Job
	w.eventually(10*time.Second, "the resolve recorded in the replica", func() bool {
		got, err := w.anyNode().Consensus().Store().Get(o.requestID)
		if err == nil && got.Status == store.StatusResolved {
			j = got
			return true
		}
		return false
	})
	rh, err := near.ParseCryptoHash(j.ResolveTx)
	if err != nil {
		w.t.Fatalf("resolve tx %q: %v", j.ResolveTx, err)
	}
	rout, err := w.cl.TxStatus(w.ctx, rh, w.operator.AccountID(), near.TxFinal)
	if err != nil {
		w.t.Fatalf("resolve tx status: %v", err)
	}
	// The resolve's function call receipt (which resumes the yield) is the
	// first receipt of the resolve transaction.
	resHeight, resTS := w.blockOf(rout.ReceiptsOutcome[0].BlockHash)
	ms := func(from, to time.Time) float64 { return float64(to.Sub(from).Microseconds()) / 1000 }
	reqTime := time.Unix(0, int64(reqTS))
	resTime := time.Unix(0, int64(resTS))
	s := latencySample{blocks: resHeight - reqHeight, ms: ms(reqTime, resTime)}
	if len(j.Attempts) > 0 && j.Result != nil {
		s.watch = ms(reqTime, j.QueuedAt)
		s.assign = ms(j.QueuedAt, j.Attempts[0].AssignedAt)
		s.run = ms(j.Attempts[0].AssignedAt, j.Result.ReceivedAt)
		s.resolve = ms(j.Result.ReceivedAt, resTime)
		s.exec = float64(j.Result.TimeMs)
	}
	return s
}

// BenchmarkRequestToResolveLatency sends one request at a time for a small
// program whose WASM the cluster has cached and measures, on chain, the
// blocks between the request's block and the block its resolve ran in. The
// sub-benchmarks differ in the leader's poll interval (default 100ms).
//
//	go test ./daemon -run '^$' -bench RequestToResolveLatency -benchtime 40x
func BenchmarkRequestToResolveLatency(b *testing.B) {
	for _, poll := range []time.Duration{100 * time.Millisecond, 25 * time.Millisecond} {
		b.Run("poll="+poll.String(), func(b *testing.B) {
			w := newWorld(b, benchBlockTime, 2400)
			w.startCluster(3, func(c *daemon.Config) { benchTuning(c); c.PollInterval = poll })
			deposit := add(contracts.DefaultPricing().Estimate(benchLimits), nearAmount(b, "0.01"))
			// Warm-up: the first request downloads the WASM and compiles it.
			w.measure(w.request(w.wasmSource("echo"), "warm", benchLimits, contracts.FormatText, deposit))

			samples := make([]latencySample, 0, b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				h := w.request(w.wasmSource("echo"), "x", benchLimits, contracts.FormatText, deposit)
				s := w.measure(h)
				if s.blocks > 3 {
					b.Logf("slow request: %+v", s)
				}
				samples = append(samples, s)
			}
			b.StopTimer()
			reportLatency(b, samples)
		})
	}
}

func reportLatency(b *testing.B, samples []latencySample) {
	if len(samples) == 0 {
		return
	}
	blocks := make([]float64, len(samples))
	ms := make([]float64, len(samples))
	var watch, assign, run, resolve, exec float64
	for i, s := range samples {
		blocks[i], ms[i] = float64(s.blocks), s.ms
		watch += s.watch
		assign += s.assign
		run += s.run
		resolve += s.resolve
		exec += s.exec
	}
	slices.Sort(blocks)
	slices.Sort(ms)
	n := float64(len(samples))
	b.ReportMetric(percentile(blocks, 50), "p50-blocks")
	b.ReportMetric(percentile(blocks, 99), "p99-blocks")
	b.ReportMetric(percentile(ms, 50), "p50-ms")
	b.ReportMetric(percentile(ms, 99), "p99-ms")
	b.ReportMetric(watch/n, "watch-ms")
	b.ReportMetric(assign/n, "assign-ms")
	b.ReportMetric(run/n, "run-ms")
	b.ReportMetric(resolve/n, "resolve-ms")
	b.ReportMetric(exec/n, "exec-ms")
	b.ReportMetric(0, "ns/op")
}

// percentile is the nearest-rank percentile of sorted values.
func percentile(sorted []float64, p int) float64 {
	i := (len(sorted)*p + 99) / 100
	return sorted[max(i-1, 0)]
}

// BenchmarkClusterThroughput sends b.N requests for a small cached program
// at once and measures how many per second the three-node cluster settles
// on chain (from the first broadcast to the last final callback).
//
//	go test ./daemon -run '^$' -bench ClusterThroughput -benchtime 300x
func BenchmarkClusterThroughput(b *testing.B) {
	w := newWorld(b, benchBlockTime, 2400)
	w.startCluster(3, benchTuning)
	deposit := add(contracts.DefaultPricing().Estimate(benchLimits), nearAmount(b, "0.01"))
	w.measure(w.request(w.wasmSource("echo"), "warm", benchLimits, contracts.FormatText, deposit))

	b.ResetTimer()
	start := time.Now()
	hashes := make([]near.CryptoHash, b.N)
	for i := range hashes {
		hashes[i] = w.request(w.wasmSource("echo"), "t", benchLimits, contracts.FormatText, deposit)
	}
	sent := time.Now()
	var wg sync.WaitGroup
	failed := make(chan string, b.N)
	for _, h := range hashes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := parseOutcome(b, w.final(h, w.alice.AccountID(), 5*time.Minute))
			if len(o.completed) != 1 || !o.completed[0].Success {
				failed <- h.String()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	close(failed)
	for h := range failed {
		b.Errorf("request %s not settled once with success", h)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "requests/s")
	b.ReportMetric(float64(sent.Sub(start).Milliseconds()), "broadcast-ms")
	// Where the time went, averaged over every request.
	var watch, assign, run, resolve float64
	for _, h := range hashes {
		s := w.measure(h)
		watch += s.watch
		assign += s.assign
		run += s.run
		resolve += s.resolve
	}
	n := float64(b.N)
	b.ReportMetric(watch/n, "watch-ms")
	b.ReportMetric(assign/n, "assign-ms")
	b.ReportMetric(run/n, "run-ms")
	b.ReportMetric(resolve/n, "resolve-ms")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkAgreement measures k-of-n agreement on three nodes, the
// contract checking k executor signatures on every resolve: the latency of
// one request at a time (blocks and block-timestamp ms from the request's
// block to its resolve's), and the requests per second settled when
// agreeBatch are sent at once.
//
//	go test ./daemon -run '^$' -bench Agreement -benchtime 20x
func BenchmarkAgreement(b *testing.B) {
	const agreeBatch = 100
	for _, k := range []int{1, 2, 3} {
		b.Run(fmt.Sprintf("k=%d", k), func(b *testing.B) {
			w := newWorld(b, benchBlockTime, 2400)
			w.startCluster(3, func(c *daemon.Config) { benchTuning(c); c.Agreement = k })
			w.requireSignatures(uint64(k))
			deposit := add(contracts.DefaultPricing().Estimate(benchLimits), nearAmount(b, "0.01"))
			// Warm-up: every node downloads and compiles the WASM.
			for range 3 {
				w.measure(w.request(w.wasmSource("echo"), "warm", benchLimits, contracts.FormatText, deposit))
			}
			b.ResetTimer()
			samples := make([]latencySample, 0, b.N)
			for i := 0; i < b.N; i++ {
				samples = append(samples, w.measure(w.request(w.wasmSource("echo"), "x", benchLimits, contracts.FormatText, deposit)))
			}
			start := time.Now()
			hashes := make([]near.CryptoHash, agreeBatch)
			for i := range hashes {
				hashes[i] = w.request(w.wasmSource("echo"), "t", benchLimits, contracts.FormatText, deposit)
			}
			for _, o := range w.finals(hashes, w.alice.AccountID(), 5*time.Minute) {
				if len(o.completed) != 1 || !o.completed[0].Success {
					b.Errorf("request %d not settled once with success", o.requestID)
				}
			}
			elapsed := time.Since(start)
			b.StopTimer()
			reportLatency(b, samples)
			b.ReportMetric(float64(agreeBatch)/elapsed.Seconds(), "requests/s")
		})
	}
}
