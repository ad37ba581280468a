package consensus

import (
	"context"
	"errors"
	"io"
	"log"
	"log/slog"
	"net"
	"strings"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// hclogAdapter lets hashicorp/raft log through slog.
type hclogAdapter struct {
	l    *slog.Logger
	name string
	args []any
}

func newHCLog(l *slog.Logger, name string) hclog.Logger {
	return &hclogAdapter{l: l.With("component", name), name: name}
}

func toSlogLevel(level hclog.Level) slog.Level {
	switch level {
	case hclog.Trace:
		return slog.LevelDebug - 4
	case hclog.Debug:
		return slog.LevelDebug
	case hclog.Warn:
		return slog.LevelWarn
	case hclog.Error:
		return slog.LevelError
	default:
		return slog.LevelInfo
	}
}

func (a *hclogAdapter) Log(level hclog.Level, msg string, args ...any) {
	if level == hclog.Error {
		level = raftErrorLevel(msg, args)
	}
	a.l.Log(context.Background(), toSlogLevel(level), msg, args...)
}

// raftNoise is what hashicorp/raft logs at ERROR although it is the
// ordinary result of a peer restarting or being down, or of leadership
// moving: a graceful rolling restart of three nodes logged dozens of these
// lines, which made ERROR useless as an alert. Raft retries all of them on
// its own (with backoff); a peer that stays down shows in the membership
// and health views. Every other raft ERROR (log store, snapshots, FSM)
// stays ERROR.
var raftNoise = []struct {
	prefix string
	level  hclog.Level
	// quietWhenClosed: when the error only says the other side closed or
	// reset the connection, the line is DEBUG.
	quietWhenClosed bool
}{
	// The leader cannot reach a follower.
	{prefix: "failed to appendEntries to", level: hclog.Warn},
	{prefix: "failed to heartbeat to", level: hclog.Warn},
	{prefix: "failed to start pipeline replication to", level: hclog.Warn},
	{prefix: "failed to pipeline appendEntries", level: hclog.Warn},
	{prefix: "failed to send snapshot to", level: hclog.Warn},
	// A candidate cannot reach a voter.
	{prefix: "failed to make requestVote RPC", level: hclog.Warn},
	// A follower answered with a newer term: leadership moved.
	{prefix: "peer has newer term, stopping replication", level: hclog.Info},
	// The serving side of a connection the other node closed.
	{prefix: "failed to decode incoming command", level: hclog.Warn, quietWhenClosed: true},
	{prefix: "failed to flush response", level: hclog.Warn, quietWhenClosed: true},
	{prefix: "failed to accept connection", level: hclog.Warn, quietWhenClosed: true},
}

// raftErrorLevel is the level for a line raft logged at ERROR.
func raftErrorLevel(msg string, args []any) hclog.Level {
	for _, n := range raftNoise {
		if !strings.HasPrefix(msg, n.prefix) {
			continue
		}
		if n.quietWhenClosed && connectionClosed(args) {
			return hclog.Debug
		}
		return n.level
	}
	return hclog.Error
}

// connectionClosed reports whether the line's error says only that the
// connection went away (closed, reset, EOF, the transport shutting down).
func connectionClosed(args []any) bool {
	for i := 0; i+1 < len(args); i += 2 {
		if k, ok := args[i].(string); !ok || k != "error" {
			continue
		}
		err, ok := args[i+1].(error)
		if !ok {
			return false
		}
		if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || errors.Is(err, raft.ErrTransportShutdown) {
			return true
		}
		// libp2p's stream and connection errors do not all wrap a
		// sentinel; their text is stable.
		text := err.Error()
		for _, s := range []string{"stream reset", "connection reset", "connection closed", "closed network connection", "listener closed"} {
			if strings.Contains(text, s) {
				return true
			}
		}
		return false
	}
	return false
}
func (a *hclogAdapter) Trace(msg string, args ...any) { a.Log(hclog.Trace, msg, args...) }
func (a *hclogAdapter) Debug(msg string, args ...any) { a.Log(hclog.Debug, msg, args...) }
func (a *hclogAdapter) Info(msg string, args ...any)  { a.Log(hclog.Info, msg, args...) }
func (a *hclogAdapter) Warn(msg string, args ...any)  { a.Log(hclog.Warn, msg, args...) }
func (a *hclogAdapter) Error(msg string, args ...any) { a.Log(hclog.Error, msg, args...) }
func (a *hclogAdapter) enabled(level hclog.Level) bool {
	return a.l.Enabled(context.Background(), toSlogLevel(level))
}
func (a *hclogAdapter) IsTrace() bool        { return a.enabled(hclog.Trace) }
func (a *hclogAdapter) IsDebug() bool        { return a.enabled(hclog.Debug) }
func (a *hclogAdapter) IsInfo() bool         { return a.enabled(hclog.Info) }
func (a *hclogAdapter) IsWarn() bool         { return a.enabled(hclog.Warn) }
func (a *hclogAdapter) IsError() bool        { return a.enabled(hclog.Error) }
func (a *hclogAdapter) ImpliedArgs() []any   { return a.args }
func (a *hclogAdapter) Name() string         { return a.name }
func (a *hclogAdapter) SetLevel(hclog.Level) {}
func (a *hclogAdapter) GetLevel() hclog.Level {
	for _, lv := range []hclog.Level{hclog.Trace, hclog.Debug, hclog.Info, hclog.Warn} {
		if a.enabled(lv) {
			return lv
		}
	}
	return hclog.Error
}
func (a *hclogAdapter) With(args ...any) hclog.Logger {
	return &hclogAdapter{l: a.l.With(args...), name: a.name, args: append(append([]any{}, a.args...), args...)}
}
func (a *hclogAdapter) Named(name string) hclog.Logger {
	full := name
	if a.name != "" {
		full = a.name + "." + name
	}
	return &hclogAdapter{l: a.l.With("sub", name), name: full, args: a.args}
}
func (a *hclogAdapter) ResetNamed(name string) hclog.Logger {
	return &hclogAdapter{l: a.l, name: name, args: a.args}
}
func (a *hclogAdapter) StandardLogger(*hclog.StandardLoggerOptions) *log.Logger {
	return slog.NewLogLogger(a.l.Handler(), slog.LevelInfo)
}
func (a *hclogAdapter) StandardWriter(*hclog.StandardLoggerOptions) io.Writer {
	return slog.NewLogLogger(a.l.Handler(), slog.LevelInfo).Writer()
}
