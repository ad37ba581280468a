//go:build unix

package exec

import (
	"fmt"
	"os"
	"syscall"
)

// reservation is address space for one linear memory: mapped without
// access at first, made readable and writable page by page as the memory
// grows. The pages are the kernel's zero pages until written, so a program
// costs host memory only for what it touches, and the memory never moves.
type reservation struct {
	mem    []byte // the whole reservation
	usable uint64 // bytes made readable and writable so far
}

func reserve(size uint64) (*reservation, error) {
	if size == 0 {
		return &reservation{}, nil
	}
	mem, err := syscall.Mmap(-1, 0, int(size), syscall.PROT_NONE,
		syscall.MAP_PRIVATE|syscall.MAP_ANON|syscall.MAP_NORESERVE)
	if err != nil {
		return nil, fmt.Errorf("reserving %d bytes of address space: %w", size, err)
	}
	return &reservation{mem: mem}, nil
}

// grow returns the first size bytes, making them usable if they were not.
func (r *reservation) grow(size uint64) ([]byte, error) {
	if size > uint64(len(r.mem)) {
		return nil, fmt.Errorf("%d bytes is beyond the reservation of %d", size, len(r.mem))
	}
	if size > r.usable {
		page := uint64(os.Getpagesize())
		end := min((size+page-1)/page*page, uint64(len(r.mem)))
		if err := syscall.Mprotect(r.mem[r.usable:end], syscall.PROT_READ|syscall.PROT_WRITE); err != nil {
			return nil, fmt.Errorf("making memory usable: %w", err)
		}
		r.usable = end
	}
	return r.mem[:size:size], nil
}

func (r *reservation) free() {
	if r.mem != nil {
		_ = syscall.Munmap(r.mem)
		r.mem = nil
	}
}
