package build

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/outlayer/outlayer/internal/reexec"
)

// mount makes one host directory (or file) visible inside the sandbox at
// the same path. Keeping paths identical inside and out lets the
// unsandboxed development mode run the very same command line; -trimpath
// keeps the paths out of the WASM either way.
type mount struct {
	Path     string `json:"path"`
	Writable bool   `json:"writable,omitempty"`
	Optional bool   `json:"optional,omitempty"` // skip when the host path does not exist (/etc files)
}

// jail describes one sandboxed command.
type jail struct {
	mounts  []mount
	env     []string // KEY=VALUE; nothing else from the node's environment leaks in
	dir     string
	network bool
	// hostView runs the command with the limits but without namespaces:
	// git, which must see the host's network, binaries and libraries.
	hostView bool
	rlimits  rlimits
}

// rlimits are per-process limits the sandbox's init sets before it
// executes the command; every process the command starts inherits them.
type rlimits struct {
	AddressSpace uint64 `json:"as"`    // bytes, RLIMIT_AS
	CPUSeconds   uint64 `json:"cpu"`   // RLIMIT_CPU
	FileBytes    uint64 `json:"fsize"` // RLIMIT_FSIZE: the largest file the command may write
}

// sandbox runs commands through the sandbox init (sandbox_linux.go): a
// re-executed copy of the running binary that enters fresh namespaces,
// builds a private root from the jail's mounts, sets the rlimits, drops
// every capability and executes the command. In the explicit development
// mode (unsandboxed) the init only sets the rlimits.
type sandbox struct {
	workDir     string // where each run gets its empty root mount point
	unsandboxed bool
}

// maxCapture bounds how much of a command's output is kept in memory: a
// hostile program can make the compiler print a great deal.
const maxCapture = 1 << 20

// command builds the exec.Cmd for argv inside the jail. root is an empty
// directory the init mounts the jail's root on (unused for a host view).
func (s *sandbox) command(ctx context.Context, j jail, root string, argv []string) (*exec.Cmd, error) {
	spec := initSpec{
		Argv:    argv,
		Env:     j.env,
		Dir:     j.dir,
		Rlimits: j.rlimits,
	}
	isolate := !s.unsandboxed && !j.hostView
	if isolate {
		spec.Root = root
		spec.Mounts = j.mounts
	}
	arg, err := json.Marshal(spec)
	if err != nil {
		return nil, fmt.Errorf("encoding the sandbox spec: %w", err)
	}
	// The init passes spec.Env to the command; its own environment is empty.
	cmd := reexec.Command(ctx, initEntry, string(arg))
	if !isolate {
		cmd.Dir = j.dir
	}
	// A new session (no TIOCSTI keystroke injection into the node's
	// terminal) and so its own process group, which a time-out kills
	// whole; the PID namespace takes every process with its first one.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Pdeathsig: syscall.SIGKILL}
	if isolate {
		flags := syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS | syscall.CLONE_NEWPID |
			syscall.CLONE_NEWIPC | syscall.CLONE_NEWUTS | syscall.CLONE_NEWCGROUP
		if !j.network {
			flags |= syscall.CLONE_NEWNET
		}
		cmd.SysProcAttr.Cloneflags = uintptr(flags)
		// One uid and gid: the node's own, seen as 0 inside. The init uses
		// the capabilities that gives it in its own namespaces to mount,
		// then drops them all before the command runs.
		cmd.SysProcAttr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}}
		cmd.SysProcAttr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}}
		cmd.SysProcAttr.GidMappingsEnableSetgroups = false
	}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	return cmd, nil
}

// run executes argv in the jail and returns its combined output (capped).
// A non-nil error is the command's failure; the caller classifies it.
func (s *sandbox) run(ctx context.Context, j jail, argv []string) ([]byte, error) {
	cmd, done, err := s.prepare(ctx, j, argv)
	if err != nil {
		return nil, err
	}
	defer done()
	out := &cappedBuffer{max: maxCapture}
	cmd.Stdout = out
	cmd.Stderr = out
	err = cmd.Run()
	return out.Bytes(), err
}

// prepare returns the command for argv in the jail, not yet started, and
// a function to call once it has finished.
func (s *sandbox) prepare(ctx context.Context, j jail, argv []string) (*exec.Cmd, func(), error) {
	if s.unsandboxed || j.hostView {
		cmd, err := s.command(ctx, j, "", argv)
		return cmd, func() {}, err
	}
	root, err := os.MkdirTemp(s.workDir, "sandbox-root-")
	if err != nil {
		return nil, nil, fmt.Errorf("creating the sandbox mount point: %w", err)
	}
	// Mounts live in the command's own namespace: the host sees an empty
	// directory again once it has exited.
	done := func() { os.Remove(root) }
	cmd, err := s.command(ctx, j, root, argv)
	if err != nil {
		done()
		return nil, nil, err
	}
	return cmd, done, nil
}

// probe checks that the sandbox can be created here, by running the
// toolchain's `go version` inside a minimal jail. It returns the version
// line.
func (s *sandbox) probe(ctx context.Context, goroot string) (string, error) {
	j := jail{
		mounts:  []mount{{Path: goroot}},
		env:     []string{"PATH=" + goroot + "/bin", "GOTOOLCHAIN=local", "GOENV=off", "HOME=/"},
		dir:     "/",
		rlimits: rlimits{AddressSpace: 1 << 32, CPUSeconds: 30, FileBytes: 1 << 20},
	}
	out, err := s.run(ctx, j, []string{goroot + "/bin/go", "version"})
	if err != nil {
		return "", fmt.Errorf("%w: %s", err, bytes.TrimSpace(out))
	}
	return string(bytes.TrimSpace(out)), nil
}

// cappedBuffer keeps the first max bytes written to it and counts the rest.
type cappedBuffer struct {
	buf     bytes.Buffer
	max     int
	dropped int
}

func (c *cappedBuffer) Write(p []byte) (int, error) {
	room := c.max - c.buf.Len()
	if room >= len(p) {
		return c.buf.Write(p)
	}
	if room > 0 {
		c.buf.Write(p[:room])
	}
	c.dropped += len(p) - max(room, 0)
	return len(p), nil
}

func (c *cappedBuffer) Bytes() []byte {
	if c.dropped == 0 {
		return c.buf.Bytes()
	}
	return append(c.buf.Bytes(), fmt.Sprintf("\n… (%d more bytes of output dropped)", c.dropped)...)
}

// exitSignal reports the signal that killed the command, if any.
func exitSignal(err error) (syscall.Signal, bool) {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return 0, false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() {
		return 0, false
	}
	return ws.Signal(), true
}
