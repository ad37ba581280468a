package consensus

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/hashicorp/raft"

	"github.com/google/renameio/v2"

	"github.com/outlayer/outlayer/store"
)

// The store runs without fsync (the Raft log is the durable copy). After a
// crash its file may be torn, so it is rebuilt from snapshot and log; after
// a clean shutdown it was synced and is kept. cleanFile is the proof of a
// clean shutdown: written, durably, only after the store was synced and
// closed, and removed, durably, before the store is opened for writing
// again. It holds the store's applied index as a cross-check.
const (
	stateFile = "state.db"
	cleanFile = "state.clean"
)

// takeCleanMark reads and removes the clean-shutdown mark. ok is false when
// there is none (first start, crash, kill -9, failed store transaction) or
// it is unreadable. The removal is synced before returning: from here on a
// crash must lead to a rebuild, whatever the store file looks like.
func takeCleanMark(dir string, log *slog.Logger) (applied uint64, ok bool, err error) {
	path := filepath.Join(dir, cleanFile)
	raw, rerr := os.ReadFile(path)
	if errors.Is(rerr, fs.ErrNotExist) {
		return 0, false, nil
	}
	if rerr == nil {
		applied, rerr = strconv.ParseUint(strings.TrimSpace(string(raw)), 10, 64)
		ok = rerr == nil
	}
	if rerr != nil {
		log.Warn("ignoring an unreadable clean-shutdown mark; the store will be rebuilt", "file", path, "err", rerr)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return 0, false, fmt.Errorf("remove the clean-shutdown mark %s: %w", path, err)
	}
	if err := syncDir(dir); err != nil {
		return 0, false, fmt.Errorf("sync the data directory after removing %s: %w", cleanFile, err)
	}
	return applied, ok, nil
}

// putCleanMark records a clean shutdown at the store's applied index. The
// store must be synced and closed.
func putCleanMark(dir string, applied uint64) error {
	if err := renameio.WriteFile(filepath.Join(dir, cleanFile), []byte(strconv.FormatUint(applied, 10)+"\n"), 0o600); err != nil {
		return err
	}
	// Also makes a snapshot restore's rename of state.db durable.
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// openState opens the store, keeping the file of a clean shutdown and
// rebuilding it otherwise. It returns the store, the applied index it
// holds (0 when rebuilt) and whether raft must skip restoring its latest
// snapshot on start because the kept store is already at or past it.
func openState(dir string, opts store.Options, logs raft.LogStore, snaps raft.SnapshotStore, log *slog.Logger) (*store.Store, uint64, bool, error) {
	path := filepath.Join(dir, stateFile)
	mark, clean, err := takeCleanMark(dir, log)
	if err != nil {
		return nil, 0, false, err
	}
	rebuild := func(why string) (*store.Store, uint64, bool, error) {
		if why != "" {
			log.Info("rebuilding the store from the raft snapshot and log", "reason", why)
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, 0, false, fmt.Errorf("remove the previous store (it is rebuilt from the raft log): %w", err)
		}
		s, err := store.Open(path, opts)
		if err != nil {
			return nil, 0, false, fmt.Errorf("open store: %w", err)
		}
		return s, 0, false, nil
	}
	if !clean {
		why := "no clean shutdown recorded"
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			why = ""
		}
		return rebuild(why)
	}
	s, err := store.Open(path, opts)
	if err != nil {
		log.Warn("the kept store does not open", "err", err)
		return rebuild("the kept store does not open")
	}
	held, err := s.AppliedIndex()
	var why string
	switch {
	case err != nil:
		why = fmt.Sprintf("read its applied index: %v", err)
	case held != mark:
		why = fmt.Sprintf("it holds index %d but shut down at %d", held, mark)
	}
	snapIndex := uint64(0)
	if why == "" {
		list, err := snaps.List()
		if err != nil {
			why = fmt.Sprintf("list snapshots: %v", err)
		} else if len(list) > 0 {
			snapIndex = list[0].Index
		}
	}
	if why == "" {
		last, err := logs.LastIndex()
		switch {
		case err != nil:
			why = fmt.Sprintf("read the raft log: %v", err)
		case held > max(last, snapIndex):
			// Only committed entries reach the store, and they stay in
			// the log or a snapshot: this store belongs to other raft
			// state (a replaced raft directory).
			why = fmt.Sprintf("it holds index %d, past the raft log (%d) and snapshot (%d)", held, last, snapIndex)
		}
	}
	if why != "" {
		if err := s.Close(); err != nil {
			return nil, 0, false, fmt.Errorf("close the store before rebuilding it: %w", err)
		}
		return rebuild(why)
	}
	// At or past the latest snapshot: restoring it would only go back, so
	// raft starts from the snapshot's index and the FSM skips what the
	// store holds. Behind it, raft restores the snapshot over the store as
	// usual: usually the entries between are no-ops and configurations
	// (nothing lost but time), but a snapshot installed from the leader
	// just before shutdown may be on disk and not yet in the store.
	skipRestore := held >= snapIndex
	log.Info("keeping the store of a clean shutdown", "applied_index", held, "snapshot_index", snapIndex, "restore_snapshot", !skipRestore)
	return s, held, skipRestore, nil
}

// closeState closes the store and, when it matches the log (Raft is shut
// down, so nothing applies any more, and no store transaction failed),
// syncs it first and marks the shutdown clean so the next start keeps it.
func (n *Node) closeState() error {
	clean := n.raft != nil && n.fsm != nil && !n.fsm.broken.Load()
	var applied uint64
	if clean {
		var err error
		if applied, err = n.store.AppliedIndex(); err != nil {
			n.log.Warn("not marking the store clean: read its applied index", "err", err)
			clean = false
		} else if err := n.store.Sync(); err != nil {
			n.log.Warn("not marking the store clean: sync it", "err", err)
			clean = false
		}
	}
	if err := n.store.Close(); err != nil {
		return fmt.Errorf("close store: %w", err)
	}
	if !clean {
		return nil
	}
	if err := putCleanMark(n.cfg.DataDir, applied); err != nil {
		// Only costs a rebuild on the next start.
		n.log.Warn("could not mark the store clean; it will be rebuilt on the next start", "err", err)
	}
	return nil
}
