package exec

import (
	"fmt"
	"time"
)

// Defaults and caps of the per-request limits. The instruction and time
// values are upstream's (the contract's defaults and hard caps); upstream
// has no memory cap, so the cap here is the whole 32-bit WebAssembly address
// space.
const (
	DefaultMaxInstructions uint64 = 1_000_000_000
	MaxInstructionsCap     uint64 = 500_000_000_000

	DefaultMaxMemoryMB uint32 = 128
	MaxMemoryMBCap     uint32 = 4096

	DefaultTimeout = 60 * time.Second
	TimeoutCap     = 180 * time.Second
)

// Byte caps on a run's streams. They are fixed, not per request, so every
// node enforces the same ones.
//
// A result reaches the chain in one transaction (NEAR caps a transaction at
// 1.5 MiB and function-call arguments at 4 MiB), and upstream's contract
// keeps large outputs in its state, so 1 MiB of output leaves room for JSON
// escaping. Input arrives in a transaction too, so the same 1 MiB applies.
// Stderr only feeds error messages: it is kept up to 64 KiB, the rest is
// dropped, and writing more than that is not a failure.
const (
	MaxInputBytes  = 1 << 20
	MaxOutputBytes = 1 << 20
	MaxStderrBytes = 64 << 10
	// MaxEnvBytes bounds the environment (context variables and secrets).
	MaxEnvBytes = 64 << 10
)

const wasmPageSize = 64 << 10

// Limits bound one run. A zero field means the default.
type Limits struct {
	// MaxInstructions is the number of WebAssembly instructions the program
	// may execute, counted by exec/meter.
	MaxInstructions uint64 `json:"max_instructions,omitempty"`
	// MaxMemoryMB is the largest linear memory, in MiB, the program may have.
	MaxMemoryMB uint32 `json:"max_memory_mb,omitempty"`
	// Timeout is the wall-time limit, from instantiation to exit.
	Timeout time.Duration `json:"timeout,omitempty"`
}

// WithDefaults returns l with every zero field set to its default.
func (l Limits) WithDefaults() Limits {
	if l.MaxInstructions == 0 {
		l.MaxInstructions = DefaultMaxInstructions
	}
	if l.MaxMemoryMB == 0 {
		l.MaxMemoryMB = DefaultMaxMemoryMB
	}
	if l.Timeout == 0 {
		l.Timeout = DefaultTimeout
	}
	return l
}

// Validate reports a limit above its cap (or a negative timeout) as an
// ErrBadRequest error. Zero fields are valid: they mean the default.
func (l Limits) Validate() error {
	switch {
	case l.MaxInstructions > MaxInstructionsCap:
		return failure(ErrBadRequest, "max instructions %d is above the cap of %d", l.MaxInstructions, MaxInstructionsCap)
	case l.MaxMemoryMB > MaxMemoryMBCap:
		return failure(ErrBadRequest, "max memory %d MiB is above the cap of %d MiB", l.MaxMemoryMB, MaxMemoryMBCap)
	case l.Timeout < 0:
		return failure(ErrBadRequest, "timeout %s is negative", l.Timeout)
	case l.Timeout > TimeoutCap:
		return failure(ErrBadRequest, "timeout %s is above the cap of %s", l.Timeout, TimeoutCap)
	}
	return nil
}

func (l Limits) memoryBytes() uint64 { return uint64(l.MaxMemoryMB) << 20 }

// timeoutSeconds is the limit in whole seconds, rounded up, for
// NEAR_MAX_EXECUTION_SECONDS.
func (l Limits) timeoutSeconds() uint64 {
	return uint64((l.Timeout + time.Second - 1) / time.Second)
}

func (l Limits) String() string {
	return fmt.Sprintf("%d instructions, %d MiB, %s", l.MaxInstructions, l.MaxMemoryMB, l.Timeout)
}
