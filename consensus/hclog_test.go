package consensus

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/outlayer/outlayer/store"
)

// recorder is a slog.Handler that keeps every record's level and text.
type recorder struct {
	mu    *sync.Mutex
	lines *[]recorded
	attrs []slog.Attr
}

type recorded struct {
	level slog.Level
	text  string
}

func newRecorder() *recorder { return &recorder{mu: &sync.Mutex{}, lines: &[]recorded{}} }

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }

func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	var b strings.Builder
	b.WriteString(rec.Message)
	for _, a := range r.attrs {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
	}
	rec.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	r.mu.Lock()
	*r.lines = append(*r.lines, recorded{rec.Level, b.String()})
	r.mu.Unlock()
	return nil
}

func (r *recorder) WithAttrs(as []slog.Attr) slog.Handler {
	return &recorder{mu: r.mu, lines: r.lines, attrs: append(append([]slog.Attr{}, r.attrs...), as...)}
}

func (r *recorder) WithGroup(string) slog.Handler { return r }

func (r *recorder) at(level slog.Level) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, l := range *r.lines {
		if l.level == level {
			out = append(out, l.text)
		}
	}
	return out
}

// hashicorp/raft logs a peer it cannot reach at ERROR: a peer that is
// restarting is not an error. The adapter maps that noise to WARN (or
// DEBUG when the other side simply closed the connection) and leaves every
// other ERROR alone.
func TestHCLogMapsRaftTransportNoise(t *testing.T) {
	rec := newRecorder()
	l := newHCLog(slog.New(rec), "raft")
	reset := fmt.Errorf("stream reset")
	cases := []struct {
		msg  string
		args []any
		want slog.Level
	}{
		{"failed to appendEntries to", []any{"peer", "p", "error", fmt.Errorf("dial backoff")}, slog.LevelWarn},
		{"failed to heartbeat to", []any{"peer", "p", "backoff time", "10ms", "error", fmt.Errorf("failed to dial")}, slog.LevelWarn},
		{"failed to make requestVote RPC", []any{"target", "p", "error", fmt.Errorf("no route"), "term", 3}, slog.LevelWarn},
		{"failed to start pipeline replication to", []any{"peer", "p", "error", reset}, slog.LevelWarn},
		{"failed to pipeline appendEntries", []any{"peer", "p", "error", reset}, slog.LevelWarn},
		{"failed to send snapshot to", []any{"peer", "p", "error", reset}, slog.LevelWarn},
		{"peer has newer term, stopping replication", []any{"peer", "p"}, slog.LevelInfo},
		{"failed to decode incoming command", []any{"error", reset}, slog.LevelDebug},
		{"failed to decode incoming command", []any{"error", fmt.Errorf("msgpack decode error [pos 3]: invalid descriptor")}, slog.LevelWarn},
		{"failed to flush response", []any{"error", fmt.Errorf("write: connection closed")}, slog.LevelDebug},
		{"failed to accept connection", []any{"error", fmt.Errorf("listener closed")}, slog.LevelDebug},
		// Real trouble stays ERROR.
		{"failed to append to logs", []any{"error", fmt.Errorf("disk full")}, slog.LevelError},
		{"failed to take snapshot", []any{"error", fmt.Errorf("disk full")}, slog.LevelError},
		{"failed to restore snapshot", []any{"error", fmt.Errorf("bad crc")}, slog.LevelError},
	}
	for _, c := range cases {
		*rec.lines = nil
		l.Error(c.msg, c.args...)
		got := *rec.lines
		if len(got) != 1 || got[0].level != c.want {
			t.Errorf("%q %v: logged %v, want one record at %s", c.msg, c.args, got, c.want)
		}
	}
	// Levels below ERROR pass through unchanged.
	*rec.lines = nil
	l.Warn("failed to appendEntries to", "peer", "p")
	l.Info("entering follower state")
	if got := *rec.lines; len(got) != 2 || got[0].level != slog.LevelWarn || got[1].level != slog.LevelInfo {
		t.Errorf("non-error records changed level: %v", got)
	}
}

// A graceful rolling restart of a three-node cluster — each node hands off
// leadership if it has it, stops, misses writes, comes back and catches up
// — logs nothing at ERROR. (Before the mapping it logged dozens of raft
// transport errors.)
func TestRollingRestartLogsNoErrors(t *testing.T) {
	rec := newRecorder()
	c := newTestCluster(t, func(cfg *Config) { cfg.Logger = slog.New(rec) })
	c.bootstrap(3)
	ctx := ctxT(t, 60*time.Second)
	id := uint64(1)
	for i := range 3 {
		if c.node(i).IsLeader() {
			if err := c.node(i).HandOffLeadership(); err != nil {
				t.Fatalf("hand off leadership: %v", err)
			}
		}
		c.stop(i)
		other := (i + 1) % 3
		if _, err := c.node(other).Apply(ctx, &Enqueue{Requests: []store.Request{testRequest(id)}}); err != nil {
			t.Fatalf("write while node %d is down: %v", i, err)
		}
		c.start(i)
		c.waitReplicated(id, store.StatusQueued)
		id++
	}
	if errs := rec.at(slog.LevelError); len(errs) > 0 {
		t.Errorf("a graceful rolling restart logged %d lines at ERROR:\n%s", len(errs), strings.Join(errs, "\n"))
	}
	t.Logf("warnings: %d", len(rec.at(slog.LevelWarn)))
}
