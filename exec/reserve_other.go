//go:build !unix

package exec

// reservation is a linear memory on the Go heap where address space cannot
// be reserved: it is allocated at its largest size at once.
type reservation struct{ mem []byte }

func reserve(size uint64) (*reservation, error) { return &reservation{mem: make([]byte, size)}, nil }

func (r *reservation) grow(size uint64) ([]byte, error) { return r.mem[:size:size], nil }

func (r *reservation) free() { r.mem = nil }
