//go:build !unix

package daemon

import "errors"

// diskSize is not read on this platform.
func diskSize(string) (uint64, error) {
	return 0, errors.New("the disk size is not read on this platform")
}
