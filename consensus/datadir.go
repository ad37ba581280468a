package consensus

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/outlayer/outlayer/store"
)

// ErrDataDirInUse: another outlayerd (or another Node in this process)
// holds the data directory's lock. Errors carrying it also wrap
// store.ErrInUse, so callers that test for either see it.
var ErrDataDirInUse = errors.New("data directory is in use")

// lockFile is the data directory's lock. It is held (flock, exclusive) for
// the life of a Node and names the holder's pid for the error a second
// process gets. The lock, not the file, is what counts: a file left behind
// by a crashed process is not locked and is simply taken over.
const lockFile = "LOCK"

// dirLock is a held data directory lock.
type dirLock struct {
	f *os.File
}

// lockDataDir takes the data directory's lock without waiting. It must be
// the first thing Open does in the directory: everything after it (the
// identity key, the store, the Raft log) assumes this process is alone.
func lockDataDir(dir string) (*dirLock, error) {
	path := filepath.Join(dir, lockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("consensus: open the data directory lock %s: %w", path, err)
	}
	held, err := tryLock(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("consensus: lock the data directory %s: %w", dir, err)
	}
	if !held {
		holder := "unknown pid"
		if raw, err := os.ReadFile(path); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(raw))); err == nil && pid > 0 {
				holder = "pid " + strconv.Itoa(pid)
			}
		}
		f.Close()
		return nil, fmt.Errorf("consensus: data directory %s is in use by another outlayerd (%s); stop it or use another data directory: %w: %w", dir, holder, ErrDataDirInUse, store.ErrInUse)
	}
	// Record who holds it. A reader racing with this sees an empty or
	// partial file and reports "unknown pid"; nothing depends on it.
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &dirLock{f: f}, nil
}

// release drops the lock. The file stays: removing it would let a third
// process lock a new inode while a second one still holds the old.
func (l *dirLock) release() error {
	if l == nil || l.f == nil {
		return nil
	}
	_ = l.f.Truncate(0)
	err := unlock(l.f)
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	l.f = nil
	return err
}
