//go:build !linux

package exec

import (
	"syscall"
	"time"
)

// Without Linux's /proc and rlimits, sandboxes still isolate crashes but
// cannot bound their address space, and CPU time is unknown (the wall time
// stands in for it, so no run is judged stalled).

func threadCPU() (time.Duration, bool)      { return 0, false }
func processCPU(int) (time.Duration, bool)  { return 0, false }
func limitAddressSpace(uint64) error        { return errors.ErrUnsupported }
func unlimitAddressSpace() error            { return nil }
func noCoreDumps() error                    { return nil }
func machineMemoryMB() int64                { return 0 }
func sandboxProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
