//go:build !unix

package consensus

import (
	"errors"
	"os"
)

// outlayerd runs on Linux (TDX guests); elsewhere the data directory
// cannot be locked and Open refuses to run rather than risk two daemons
// sharing one directory.
func tryLock(*os.File) (bool, error) {
	return false, errors.New("data directory locking is not supported on this platform")
}

func unlock(*os.File) error { return nil }
