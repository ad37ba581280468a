package consensus

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/outlayer/outlayer/store"
)

// BenchmarkStartup100k: how long a node holding 100,000 requests (1,000
// log entries of 100, no snapshot, so a rebuild replays all of them) takes
// from Open until its store answers for the last request: once keeping its
// store after a clean shutdown, once rebuilding it (no clean-shutdown mark,
// as after a crash).
//
//	go test ./consensus/ -run '^$' -bench Startup100k -benchtime 1x
func BenchmarkStartup100k(b *testing.B) {
	const entries, perEntry = 1000, 100
	c := &testCluster{t: b, base: b.TempDir(), tune: func(cfg *Config) {
		cfg.Raft.SnapshotThreshold = 1 << 30 // replay the whole log
		cfg.Raft.SnapshotInterval = time.Hour
	}}
	b.Cleanup(c.closeAll)
	c.bootstrap(1)
	ctx := context.Background()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				e := next.Add(1)
				if e > entries {
					return
				}
				reqs := make([]store.Request, perEntry)
				for i := range reqs {
					reqs[i] = testRequest(uint64((e-1)*perEntry) + uint64(i) + 1)
				}
				if _, err := c.node(0).Apply(ctx, &Enqueue{Requests: reqs}); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if b.Failed() {
		return
	}
	last := uint64(entries * perEntry)
	restart := func(b *testing.B, crash bool) {
		for i := 0; i < b.N; i++ {
			c.stop(0)
			if crash {
				if err := os.Remove(filepath.Join(c.dirs[0], cleanFile)); err != nil {
					b.Fatal(err)
				}
			}
			start := time.Now()
			c.start(0)
			waitFor(b, 5*time.Minute, "the last request in the store", func() bool {
				_, err := c.node(0).Store().Get(last)
				return err == nil
			})
			b.ReportMetric(time.Since(start).Seconds()*1000, "ms-to-ready")
		}
	}
	b.Run("kept", func(b *testing.B) { restart(b, false) })
	b.Run("rebuilt", func(b *testing.B) { restart(b, true) })
}
