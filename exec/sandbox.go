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

// wallNow and monotonicNow read the clock without advancing it (for
// poll_oneoff's absolute deadlines).
func (c *virtualClock) wallNow() int64      { return c.startUnixNano + c.elapsed }
func (c *virtualClock) monotonicNow() int64 { return c.elapsed }

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
// Each memory reserves its largest possible size (the limit, or the
// module's declared maximum if smaller) as address space up front and
// makes pages usable as it grows (see reservation), so growing never copies
// and the host holds about what the program uses, never a second copy.
type limitedAllocator struct {
	limit    uint64
	refused  bool
	memories []*limitedMemory
}

func (a *limitedAllocator) Allocate(_, maxBytes uint64) experimental.LinearMemory {
	m := &limitedMemory{alloc: a, reserve: min(maxBytes, a.limit)}
	a.memories = append(a.memories, m)
	return m
}

// release unmaps every memory of the run. It must be called only once the
// run's code has stopped: wazero frees a memory when its module closes,
// which Runner.Close may do while the code still runs, so Free leaves the
// mapping in place and release, after the call returned, removes it.
func (a *limitedAllocator) release() {
	for _, m := range a.memories {
		m.buf = nil
		if m.res != nil {
			m.res.free()
			m.res = nil
		}
	}
	a.memories = nil
}

type limitedMemory struct {
	alloc   *limitedAllocator
	reserve uint64
	res     *reservation // nil until the first Reallocate, and after Free
	buf     []byte
}

func (m *limitedMemory) Reallocate(size uint64) []byte {
	if size > m.alloc.limit || size > m.reserve {
		m.alloc.refused = true
		return nil
	}
	if m.res == nil {
		res, err := reserve(m.reserve)
		if err != nil {
			// The host could not reserve the address space: the program
			// sees a failed memory.grow, the same as over its limit.
			m.alloc.refused = true
			return nil
		}
		m.res = res
	}
	buf, err := m.res.grow(size)
	if err != nil {
		m.alloc.refused = true
		return nil
	}
	m.buf = buf
	return m.buf
}

// Free is wazero's call when the module closes; the mapping stays until
// the allocator's release (see there).
func (m *limitedMemory) Free() {}
