//go:build unix

package daemon

import "syscall"

// diskSize is the total size of the file system holding dir.
func diskSize(dir string) (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return st.Blocks * uint64(st.Bsize), nil
}
