package exec_test

import (
	"context"
	"crypto/sha256"
	"slices"
	"testing"
	"time"

	outexec "github.com/outlayer/outlayer/exec"
)

// benchmarkWarm runs one program end to end (instantiate, run, collect) with
// its compiled module already cached, and reports the p50 and p99 latency of
// a run next to the mean that ns/op shows.
//
// The request carries the WASM's sha256, as the daemon's do (it fetches
// blobs by hash and verifies them once), so the cache lookup does not hash
// megabytes of WASM per run.
func benchmarkWarm(b *testing.B, req outexec.Request) {
	benchmarkWarmWith(b, outexec.Config{}, req)
}

// benchmarkWarmWith is benchmarkWarm on a runner configured by cfg.
func benchmarkWarmWith(b *testing.B, cfg outexec.Config, req outexec.Request) {
	req.WasmSHA256 = sha256.Sum256(req.Wasm)
	r := newRunner(b, cfg)
	ctx := context.Background()
	if _, err := r.Run(ctx, req); err != nil { // compile once, outside the timing
		b.Fatal(err)
	}
	durations := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		res, err := r.Run(ctx, req)
		durations = append(durations, time.Since(start))
		if err != nil || !res.Cached {
			b.Fatalf("run failed or missed the cache: %v", err)
		}
	}
	b.StopTimer()
	slices.Sort(durations)
	pct := func(p float64) float64 {
		return float64(durations[int(p*float64(len(durations)-1))].Nanoseconds())
	}
	b.ReportMetric(pct(0.50), "p50-ns")
	b.ReportMetric(pct(0.99), "p99-ns")
}

// BenchmarkWarmRunTiny is the smallest possible program: one fd_write of
// "hello" (hand-written WASM).
func BenchmarkWarmRunTiny(b *testing.B) {
	benchmarkWarm(b, outexec.Request{Wasm: helloModule()})
}

// BenchmarkWarmRunGoEcho is the smallest Go program: echo, whose run is
// dominated by the Go runtime's start-up (about 1.6M instructions).
func BenchmarkWarmRunGoEcho(b *testing.B) {
	benchmarkWarm(b, outexec.Request{Wasm: sample(b, "echo"), Input: []byte("hello")})
}
