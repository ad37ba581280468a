package consensus

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	"github.com/outlayer/outlayer/store"
)

// fsm applies committed commands to the store and nothing else. Every entry
// of a batch runs in one bbolt transaction (store.Update); the store checks
// each operation before writing, so a refused command changes nothing while
// the rest of the batch commits.
type fsm struct {
	store *store.Store
	log   *slog.Logger
	// membershipChanged is called (outside any transaction) after a batch
	// that changed the node table or the Raft configuration, and after a
	// restore.
	membershipChanged func()
	// applied is the highest log index this FSM has applied to the store.
	// Raft's own AppliedIndex moves when entries are handed to the FSM
	// goroutine, before they are in the store, so reads wait on this.
	applied atomic.Uint64
	// held is the applied index recorded in the store itself (written in
	// the same transaction as the entries): entries at or below it are
	// already in the store and are skipped. Raft replays them after a
	// restart that kept the store, or after installing a snapshot taken
	// while its sender was still replaying (see DESIGN.md).
	held atomic.Uint64
	// broken is set when a store transaction failed: the replica no longer
	// matches its log and must be rebuilt on the next start.
	broken atomic.Bool
	// storeErr is the first failed store transaction's error (health).
	storeErr atomic.Pointer[storeFailure]
	// busySince is when the batch being applied started (unix nanoseconds;
	// 0 when idle): a batch that takes long is a stalled apply (health).
	busySince atomic.Int64
	// skipped and written count entries skipped as already held and
	// entries written to the store (tests).
	skipped, written atomic.Uint64
}

var _ raft.BatchingFSM = (*fsm)(nil)

func (f *fsm) Apply(l *raft.Log) any {
	return f.ApplyBatch([]*raft.Log{l})[0]
}

func (f *fsm) ApplyBatch(logs []*raft.Log) []any {
	f.busySince.Store(time.Now().UnixNano())
	defer f.busySince.Store(0)
	out := make([]any, len(logs))
	type decoded struct {
		i   int
		cmd Command
		now time.Time
	}
	cmds := make([]decoded, 0, len(logs))
	membership := false
	held := f.held.Load()
	// lastCmd is the highest new command entry of the batch; it becomes the
	// store's applied index. Configuration entries do not count: they do not
	// touch the store, and leaving them out keeps the recorded index (and
	// so the store's bytes) the same on every replica however raft batched
	// the entries.
	lastCmd := uint64(0)
	for i, l := range logs {
		if l.Index <= held {
			out[i] = applyResponse{result: Result{Index: l.Index}}
			f.skipped.Add(1)
			if l.Type == raft.LogConfiguration {
				membership = true
			}
			continue
		}
		if l.Type == raft.LogCommand {
			lastCmd = l.Index
		}
		switch l.Type {
		case raft.LogCommand:
			cmd, now, err := decodeCommand(l.Data)
			if err != nil {
				// Every node decodes the same bytes the same way, so a
				// refusal here is the same on all replicas.
				f.log.Error("refusing a log entry this node cannot decode", "index", l.Index, "err", err)
				out[i] = applyResponse{err: err}
				continue
			}
			cmds = append(cmds, decoded{i: i, cmd: cmd, now: now})
			if commands.of(cmd).membership {
				membership = true
			}
		case raft.LogConfiguration:
			membership = true
		}
	}
	// An undecodable entry still moves the applied index (every replica
	// refuses it alike), so the transaction runs even when cmds is empty.
	if lastCmd > 0 {
		err := f.store.Update(func(tx *store.Tx) error {
			for _, d := range cmds {
				res, err := d.cmd.apply(tx, d.now)
				res.Index = logs[d.i].Index
				out[d.i] = applyResponse{result: res, err: err}
			}
			return tx.SetAppliedIndex(lastCmd)
		})
		if err != nil {
			// The transaction itself failed (disk full, I/O error): nothing
			// of the batch is in the store. The replica is now behind its
			// log; it is marked broken so that the next start rebuilds it
			// from snapshot and log instead of trusting it.
			f.broken.Store(true)
			f.storeErr.CompareAndSwap(nil, &storeFailure{err: err, index: logs[0].Index, at: time.Now()})
			f.log.Error("store transaction failed; this replica no longer matches the log and will be rebuilt on restart", "first_index", logs[0].Index, "err", err)
			for _, d := range cmds {
				out[d.i] = applyResponse{err: fmt.Errorf("apply to store: %w", err)}
			}
		} else {
			f.held.Store(lastCmd)
			f.written.Add(uint64(len(cmds)))
		}
	}
	if len(logs) > 0 {
		// Skipped entries are below what the store already holds: the
		// watermark only moves forward.
		if last := logs[len(logs)-1].Index; last > f.applied.Load() {
			f.applied.Store(last)
		}
	}
	if membership && f.membershipChanged != nil {
		f.membershipChanged()
	}
	return out
}

// Snapshot pins a read transaction now, on the FSM goroutine, so the
// snapshot holds exactly the state at the last applied index even though
// Persist runs later while new entries are applied. The pinned view is
// streamed by Persist straight from bbolt to the sink: the state is never
// loaded into memory whole.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	pr, pw := io.Pipe()
	pinned, failed := make(chan struct{}), make(chan error, 1)
	go func() {
		err := f.store.SnapshotPinned(pw, func() { close(pinned) })
		pw.CloseWithError(err)
		failed <- err
	}()
	// Wait until store.Snapshot has opened its read transaction: from then
	// on the view is fixed. The bytes (a compacted copy can take a while
	// to build) come in Persist, off the FSM goroutine.
	select {
	case <-pinned:
	case err := <-failed:
		if err == nil {
			err = errors.New("the store wrote no snapshot")
		}
		pr.CloseWithError(err)
		return nil, fmt.Errorf("snapshot the store: %w", err)
	}
	return &fsmSnapshot{r: bufio.NewReaderSize(pr, 64<<10), pr: pr}, nil
}

// Restore replaces the store with a snapshot; store.Restore streams it to a
// temporary file, checks it and swaps it in, so a corrupt snapshot leaves
// the current state alone.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	if err := f.store.Restore(rc); err != nil {
		return fmt.Errorf("restore the store from a raft snapshot: %w", err)
	}
	// The snapshot carries the applied index of the state it holds, which
	// may be past the index raft labelled it with (taken while its sender
	// was still skipping through a replay): raft then hands us entries the
	// state already holds, and they must be skipped.
	held, err := f.store.AppliedIndex()
	if err != nil {
		f.broken.Store(true)
		return fmt.Errorf("restore the store from a raft snapshot: read its applied index: %w", err)
	}
	f.held.Store(held)
	if held > f.applied.Load() {
		f.applied.Store(held)
	}
	if f.membershipChanged != nil {
		f.membershipChanged()
	}
	return nil
}

type fsmSnapshot struct {
	r  *bufio.Reader
	pr *io.PipeReader
}

func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := io.Copy(sink, s.r); err != nil {
		s.pr.CloseWithError(err)
		_ = sink.Cancel()
		return fmt.Errorf("write raft snapshot: %w", err)
	}
	return sink.Close()
}

// Release ends the pinned read transaction if Persist did not run to the end.
func (s *fsmSnapshot) Release() { s.pr.CloseWithError(io.ErrClosedPipe) }

// storeFailure is a store transaction that failed.
type storeFailure struct {
	err   error
	index uint64
	at    time.Time
}
