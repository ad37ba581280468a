package exec

import (
	"container/list"
	"context"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
)

// program is a compiled, instrumented module ready to instantiate.
type program struct {
	compiled wazero.CompiledModule
	// minMemoryPages is the size the module's memory starts at.
	minMemoryPages uint32
	// tableBytes is what the module's tables can hold at most (their
	// maximum sizes), counted against the run's memory limit.
	tableBytes  uint64
	compileTime time.Duration
}

// moduleCache holds compiled programs keyed by the sha256 of the original
// WASM, most recently used first, at most max of them. Concurrent requests
// for a program being compiled wait for that one compilation. A program
// evicted while runs still use it is closed when the last run releases it.
type moduleCache struct {
	mu      sync.Mutex
	max     int
	entries map[[32]byte]*cacheEntry
	lru     *list.List // of *cacheEntry; front is most recent
	closed  bool
}

type cacheEntry struct {
	key  [32]byte
	elem *list.Element // nil while compiling or once evicted

	ready chan struct{} // closed when prog or err is set
	prog  *program
	err   error

	refs    int
	evicted bool
}

func newModuleCache(maxEntries int) *moduleCache {
	return &moduleCache{max: maxEntries, entries: make(map[[32]byte]*cacheEntry), lru: list.New()}
}

// acquire returns the program for key, compiling it with compile if no one
// has. The caller must release the entry. hit reports that the program was
// already compiled (or being compiled by someone else).
func (c *moduleCache) acquire(ctx context.Context, key [32]byte, compile func() (*program, error)) (e *cacheEntry, hit bool, err error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, false, errRunnerClosed
	}
	if e, ok := c.entries[key]; ok {
		e.refs++
		if e.elem != nil {
			c.lru.MoveToFront(e.elem)
		}
		c.mu.Unlock()
		select {
		case <-e.ready:
		case <-ctx.Done():
			c.release(e)
			return nil, true, ctx.Err()
		}
		if e.err != nil {
			c.release(e)
			return nil, true, e.err
		}
		return e, true, nil
	}
	e = &cacheEntry{key: key, ready: make(chan struct{}), refs: 1}
	c.entries[key] = e
	c.mu.Unlock()

	prog, err := compile()

	c.mu.Lock()
	e.prog, e.err = prog, err
	close(e.ready)
	if err != nil {
		// Failures are not cached: the next request compiles (and fails)
		// again, which costs little and never pins a transient error.
		delete(c.entries, key)
	} else if !c.closed {
		e.elem = c.lru.PushFront(e)
		c.evictLocked()
	}
	c.mu.Unlock()
	if err != nil {
		c.release(e)
		return nil, false, err
	}
	return e, false, nil
}

func (c *moduleCache) evictLocked() {
	for c.lru.Len() > c.max {
		old := c.lru.Remove(c.lru.Back()).(*cacheEntry)
		old.elem = nil
		old.evicted = true
		delete(c.entries, old.key)
		if old.refs == 0 {
			closeProgram(old.prog)
		}
	}
}

func (c *moduleCache) release(e *cacheEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e.refs--
	if e.refs == 0 && (e.evicted || c.closed) {
		closeProgram(e.prog)
	}
}

// close marks the cache closed and drops every idle program; programs in
// use are closed by their last release.
func (c *moduleCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	for _, e := range c.entries {
		e.evicted = true
		if e.elem != nil {
			c.lru.Remove(e.elem)
			e.elem = nil
		}
		if e.refs == 0 {
			closeProgram(e.prog)
		}
	}
	clear(c.entries)
}

// has reports whether key is compiled and cached (or being compiled).
func (c *moduleCache) has(key [32]byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.entries[key]
	return ok
}

func (c *moduleCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}

func closeProgram(p *program) {
	if p != nil && p.compiled != nil {
		// Closing a compiled module only frees memory; the context is not
		// used for anything that can block.
		_ = p.compiled.Close(context.Background())
		p.compiled = nil
	}
}
