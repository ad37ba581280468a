package consensus

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/outlayer/outlayer/store"
)

// fileSink is a raft.SnapshotSink writing to a file.
type fileSink struct{ *os.File }

func (s fileSink) ID() string    { return "bench" }
func (s fileSink) Cancel() error { return s.File.Close() }
func (s fileSink) Close() error  { return s.File.Close() }

// BenchmarkSnapshotRestore100k measures the FSM's streamed snapshot and
// restore of a store holding 100,000 requests.
func BenchmarkSnapshotRestore100k(b *testing.B) {
	dir := b.TempDir()
	st, err := store.Open(filepath.Join(dir, "state.db"), store.Options{NoSync: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	now := time.Now()
	const total, chunk = 100_000, 1_000
	for base := 1; base <= total; base += chunk {
		reqs := make([]store.Request, chunk)
		for i := range reqs {
			reqs[i] = testRequest(uint64(base + i))
		}
		if err := st.Update(func(tx *store.Tx) error {
			_, err := tx.EnqueueBatch(reqs, nil, now)
			return err
		}); err != nil {
			b.Fatal(err)
		}
	}
	f := &fsm{store: st, log: slog.New(slog.DiscardHandler)}
	snapPath := filepath.Join(dir, "snap")
	b.ResetTimer()
	var snapDur, restoreDur time.Duration
	for i := 0; i < b.N; i++ {
		start := time.Now()
		snap, err := f.Snapshot()
		if err != nil {
			b.Fatal(err)
		}
		out, err := os.Create(snapPath)
		if err != nil {
			b.Fatal(err)
		}
		if err := snap.Persist(fileSink{out}); err != nil {
			b.Fatal(err)
		}
		snap.Release()
		snapDur += time.Since(start)

		start = time.Now()
		in, err := os.Open(snapPath)
		if err != nil {
			b.Fatal(err)
		}
		if err := f.Restore(io.NopCloser(in)); err != nil {
			b.Fatal(err)
		}
		in.Close()
		restoreDur += time.Since(start)
	}
	b.StopTimer()
	if fi, err := os.Stat(snapPath); err == nil {
		b.ReportMetric(float64(fi.Size())/(1<<20), "snapshot-MiB")
	}
	b.ReportMetric(snapDur.Seconds()*1000/float64(b.N), "snapshot-ms")
	b.ReportMetric(restoreDur.Seconds()*1000/float64(b.N), "restore-ms")
	if j, err := st.Get(total); err != nil || j.Status != store.StatusQueued {
		b.Fatalf("after restore request %d: %+v %v", total, j, err)
	}
}
