package exec

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The Linux specifics of isolation: address-space limits, CPU time and the
// machine's memory.

// rusageThread is getrusage's RUSAGE_THREAD (not in package syscall).
const rusageThread = 1

// threadCPU is the CPU time (user + system) of the calling OS thread; the
// caller must have locked its goroutine to the thread.
func threadCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}

// clockTicks is USER_HZ, the unit of /proc's CPU times; Linux fixes it at
// 100 for user space whatever the kernel's own tick rate.
const clockTicks = 100

// processCPU is the CPU time (user + system, all threads) of process pid.
func processCPU(pid int) (time.Duration, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	// The command name (field 2) is in parentheses and may hold spaces;
	// utime and stime are fields 14 and 15, i.e. 12th and 13th after it.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, false
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(ut+st) * time.Second / clockTicks, true
}

// addressSpace is the calling process's virtual size (VmSize), in bytes.
func addressSpace() (uint64, error) {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0, fmt.Errorf("unexpected /proc/self/statm %q", b)
	}
	pages, err := strconv.ParseUint(f[0], 10, 64)
	if err != nil {
		return 0, err
	}
	return pages * uint64(os.Getpagesize()), nil
}

// limitAddressSpace lets the process grow by at most extra bytes of
// address space from now on (RLIMIT_AS, soft limit); past it, allocations
// fail and the Go runtime dies with "out of memory".
func limitAddressSpace(extra uint64) error {
	cur, err := addressSpace()
	if err != nil {
		return fmt.Errorf("reading the address space size: %w", err)
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_AS, &lim); err != nil {
		return err
	}
	lim.Cur = min(cur+extra, lim.Max)
	return syscall.Setrlimit(syscall.RLIMIT_AS, &lim)
}

// unlimitAddressSpace raises the soft limit back to the hard one.
func unlimitAddressSpace() error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_AS, &lim); err != nil {
		return err
	}
	lim.Cur = lim.Max
	return syscall.Setrlimit(syscall.RLIMIT_AS, &lim)
}

// noCoreDumps keeps a crashing sandbox from writing its memory (which
// holds a request's secrets) to disk.
func noCoreDumps() error {
	return syscall.Setrlimit(syscall.RLIMIT_CORE, &syscall.Rlimit{})
}

// machineMemoryMB is the machine's physical memory in MiB (0 if unknown).
func machineMemoryMB() int64 {
	var si syscall.Sysinfo_t
	if err := syscall.Sysinfo(&si); err != nil {
		return 0
	}
	return int64(uint64(si.Totalram) * uint64(si.Unit) >> 20)
}

// sandboxProcAttr puts a sandbox in its own process group (a Ctrl-C at the
// node's terminal is for the node, which drains, not for its sandboxes)
// and kills it if the node dies.
func sandboxProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
