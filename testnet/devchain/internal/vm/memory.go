package vm

import (
	"sync"
	"sync/atomic"

	"github.com/tetratelabs/wazero/experimental"
)

// Contract instances are short-lived: one per call. A Rust contract starts
// with a small memory and grows it (stack, then heap) on every call, and
// wazero's default memory reallocates and copies the buffer on each grow;
// that copying was about a third of a counter transaction's time. The pool
// below hands an instance a zeroed buffer sized from the peak the same code
// reached before, so steady-state calls neither grow-copy nor allocate.

// maxPooledBuffers bounds the zeroed buffers kept between calls.
const maxPooledBuffers = 8

// maxPooledBytes keeps unusually large memories (up to 128 MiB) from being
// pinned by the pool after a one-off call.
const maxPooledBytes = 16 << 20

// memoryPool recycles linear-memory buffers between instances.
type memoryPool struct {
	mu   sync.Mutex
	free [][]byte // zeroed, len 0
}

// take returns a zeroed buffer with capacity at least n (len 0).
func (p *memoryPool) take(n uint64) []byte {
	p.mu.Lock()
	for i := len(p.free) - 1; i >= 0; i-- {
		if b := p.free[i]; uint64(cap(b)) >= n {
			p.free[i] = p.free[len(p.free)-1]
			p.free = p.free[:len(p.free)-1]
			p.mu.Unlock()
			return b
		}
	}
	p.mu.Unlock()
	return make([]byte, 0, n)
}

// give zeroes the used part of b (wasm memory must start zeroed; bytes past
// len were never exposed) and keeps it for the next instance.
func (p *memoryPool) give(b []byte) {
	if cap(b) > maxPooledBytes {
		return
	}
	clear(b)
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.free) < maxPooledBuffers {
		p.free = append(p.free, b[:0])
		return
	}
	// Keep the larger buffers: they fit more contracts.
	for i, f := range p.free {
		if cap(f) < cap(b) {
			p.free[i] = b[:0]
			return
		}
	}
}

// allocator is the MemoryAllocator of one call: it sizes the buffer from the
// peak memory this code reached before and records a new peak on Free.
func (p *memoryPool) allocator(peak *atomic.Uint64) experimental.MemoryAllocator {
	return experimental.MemoryAllocatorFunc(func(capBytes, maxBytes uint64) experimental.LinearMemory {
		want := max(capBytes, min(peak.Load(), maxBytes))
		return &pooledMemory{pool: p, peak: peak, max: maxBytes, buf: p.take(want)}
	})
}

type pooledMemory struct {
	pool *memoryPool
	peak *atomic.Uint64
	max  uint64
	buf  []byte
}

// Reallocate implements experimental.LinearMemory. Growing within capacity
// exposes bytes that are already zero.
func (m *pooledMemory) Reallocate(size uint64) []byte {
	if size > m.max {
		return nil
	}
	if size <= uint64(cap(m.buf)) {
		m.buf = m.buf[:size]
		return m.buf
	}
	grown := make([]byte, size, min(max(size, 2*uint64(cap(m.buf))), m.max))
	copy(grown, m.buf)
	m.buf = grown
	return m.buf
}

// Free implements experimental.LinearMemory.
func (m *pooledMemory) Free() {
	if m.buf == nil {
		return
	}
	for n := uint64(len(m.buf)); ; {
		old := m.peak.Load()
		if n <= old || m.peak.CompareAndSwap(old, n) {
			break
		}
	}
	m.pool.give(m.buf)
	m.buf = nil
}
