package exec

import (
	"math/rand/v2"

	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/sys"
)

// virtualClock is the only clock a program sees. It starts at the request's
// timestamp and moves forward only by what the program itself does: every
// reading advances it by clockTick and every sleep by the time slept, so the
// same program on the same request reads the same times on every node. Wall
// and monotonic time share one counter so durations measured either way
// agree. A run's module executes on one goroutine, so no lock is needed.
type virtualClock struct {
	startUnixNano int64
	elapsed       int64
}

// clockTick is how far each clock reading moves the clock: small enough to
// look like a real clock, large enough that consecutive readings differ
// (some programs spin until they do).
const clockTick = 1000 // nanoseconds

const clockResolution sys.ClockResolution = clockTick

func (c *virtualClock) walltime() (sec int64, nsec int32) {
	c.elapsed += clockTick
	t := c.startUnixNano + c.elapsed
	return t / 1e9, int32(t % 1e9)
}

func (c *virtualClock) nanotime() int64 {
	c.elapsed += clockTick
	return c.elapsed
}

// nanosleep does not sleep: the program's time passes instantly, so a
// sleeping program neither holds a node nor depends on its speed.
func (c *virtualClock) nanosleep(ns int64) {
	if ns > 0 {
		c.elapsed += ns
	}
}

func (c *virtualClock) osyield() {}

// randomSource is the program's random_get: a ChaCha8 stream keyed by the
// request's seed, identical on every node.
func randomSource(seed [32]byte) *rand.ChaCha8 {
	return rand.NewChaCha8(seed)
}

// limitedAllocator backs a run's linear memory and refuses to grow it past
// the request's limit. wazero then fails memory.grow (the program sees -1),
// and the refusal is remembered so a program that dies of it is reported as
// over its memory limit rather than with whatever it printed on the way out.
//
// The memory lives on the Go heap and grows geometrically. Reserving the
// whole limit with mmap instead (growth by reslicing, memory back to the OS
// at once) was tried and showed no gain in the warm-run benchmark, so the
// simpler heap path stays (see DESIGN.md).
type limitedAllocator struct {
	limit    uint64
	refused  bool
	memories []*limitedMemory
}

func (a *limitedAllocator) Allocate(capacity, _ uint64) experimental.LinearMemory {
	m := &limitedMemory{alloc: a, capHint: min(capacity, a.limit)}
	a.memories = append(a.memories, m)
	return m
}

// release drops every memory of the run, so nothing keeps a finished run's
// memory alive (wazero frees it when the module closes, but not when
// instantiation fails half-way).
func (a *limitedAllocator) release() {
	for _, m := range a.memories {
		m.Free()
	}
	a.memories = nil
}

type limitedMemory struct {
	alloc   *limitedAllocator
	capHint uint64
	buf     []byte
}

func (m *limitedMemory) Reallocate(size uint64) []byte {
	if size > m.alloc.limit {
		m.alloc.refused = true
		return nil
	}
	if size <= uint64(cap(m.buf)) {
		// Bytes past len were never written (memory never shrinks), so
		// they are still zero as WebAssembly requires.
		m.buf = m.buf[:size]
		return m.buf
	}
	// Grow geometrically, but never reserve past the limit.
	newCap := max(size, min(2*uint64(cap(m.buf)), m.alloc.limit), m.capHint)
	grown := make([]byte, size, newCap)
	copy(grown, m.buf)
	m.buf = grown
	return m.buf
}

func (m *limitedMemory) Free() { m.buf = nil }
