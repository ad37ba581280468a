package daemon_test

import (
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/outlayer/outlayer/daemon"
)

// The HTTPS API's speed on three nodes configured as `outlayerd run`
// configures them (default Raft commit timeout and slots), a cached
// program (bob.near/echo): sync calls one at a time for the latency, many
// at once for the rate.
//
//	go test ./daemon -run '^$' -bench 'HTTPSCall' -benchtime 200x

func BenchmarkHTTPSCallLatency(b *testing.B) {
	w := callWorld(b, benchTuning)
	k := w.newKey("alice.near", 1, 1<<62)
	if r := w.call(0, k, "bob.near/echo", map[string]any{"input": 0}, nil); r.status != http.StatusOK {
		b.Fatalf("warm-up: %d %s %v", r.status, r.body, r.err)
	}
	ms := make([]float64, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		r := w.call(i%3, k, "bob.near/echo", map[string]any{"input": map[string]int{"i": i}}, nil)
		ms = append(ms, float64(time.Since(start).Microseconds())/1000)
		if r.status != http.StatusOK {
			b.Fatalf("call %d: %d %s %v", i, r.status, r.body, r.err)
		}
	}
	b.StopTimer()
	slices.Sort(ms)
	b.ReportMetric(percentile(ms, 50), "p50-ms")
	b.ReportMetric(percentile(ms, 99), "p99-ms")
	b.ReportMetric(0, "ns/op")
}

func BenchmarkHTTPSCallThroughput(b *testing.B) {
	w := callWorld(b, func(c *daemon.Config) { benchTuning(c) })
	k := w.newKey("alice.near", 1, 1<<62)
	if r := w.call(0, k, "bob.near/echo", map[string]any{"input": 0}, nil); r.status != http.StatusOK {
		b.Fatalf("warm-up: %d %s %v", r.status, r.body, r.err)
	}
	const clients = 48
	var next, failed atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				if r := w.call(i%3, k, "bob.near/echo", map[string]any{"input": i}, nil); r.status != http.StatusOK {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if failed.Load() > 0 {
		b.Fatalf("%d of %d calls failed", failed.Load(), b.N)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "calls/s")
	b.ReportMetric(0, "ns/op")
}
