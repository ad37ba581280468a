package build

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"syscall"
	"time"
)

// mount makes one host directory (or file) visible inside the sandbox at
// the same path. Keeping paths identical inside and out lets the
// unsandboxed development mode run the very same command line; -trimpath
// keeps the paths out of the WASM either way.
type mount struct {
	path     string
	writable bool
	optional bool // skip when the host path does not exist (/etc files)
}

// jail describes one sandboxed command.
type jail struct {
	mounts  []mount
	env     []string // KEY=VALUE; nothing else from the node's environment leaks in
	dir     string
	network bool
	rlimits rlimits
}

// rlimits are per-process limits applied with prlimit(1) before bwrap
// starts; every process of the build inherits them.
type rlimits struct {
	addressSpace uint64 // bytes, RLIMIT_AS
	cpuSeconds   uint64 // RLIMIT_CPU
	fileBytes    uint64 // RLIMIT_FSIZE: the largest file any build step may write
}

// sandbox runs commands inside bubblewrap (or, in the explicit development
// mode, directly).
type sandbox struct {
	bwrap       string // path of bwrap; empty when unsandboxed
	prlimit     string // path of prlimit; empty when not installed and unsandboxed
	unsandboxed bool
}

// maxCapture bounds how much of a command's output is kept in memory: a
// hostile program can make the compiler print a great deal.
const maxCapture = 1 << 20

// command builds the exec.Cmd for argv inside the jail.
func (s *sandbox) command(ctx context.Context, j jail, argv []string) *exec.Cmd {
	var full []string
	if s.prlimit != "" {
		full = append(full, s.prlimit,
			"--as="+strconv.FormatUint(j.rlimits.addressSpace, 10),
			"--cpu="+strconv.FormatUint(j.rlimits.cpuSeconds, 10),
			"--fsize="+strconv.FormatUint(j.rlimits.fileBytes, 10),
			"--core=0",
			"--")
	}
	if !s.unsandboxed {
		full = append(full, s.bwrapArgs(j)...)
		full = append(full, "--")
	}
	full = append(full, argv...)

	cmd := exec.CommandContext(ctx, full[0], full[1:]...)
	cmd.Env = j.env
	if s.unsandboxed {
		cmd.Dir = j.dir
	} else {
		cmd.Env = []string{"PATH=/usr/bin:/bin"}
	}
	// Own process group, so a time-out kills prlimit/bwrap and everything
	// under them; bwrap's --die-with-parent and the PID namespace take care
	// of processes that escaped into a new session.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

func (s *sandbox) bwrapArgs(j jail) []string {
	args := []string{s.bwrap,
		"--unshare-all", // user, ipc, pid, net, uts, cgroup namespaces
		"--unshare-user", "--uid", "65534", "--gid", "65534",
		"--disable-userns", // no nested namespaces from inside
		"--die-with-parent",
		"--new-session", // no TIOCSTI injection into the node's terminal
		"--clearenv",
		"--hostname", "outlayer-build",
		"--proc", "/proc",
		"--dev", "/dev",
	}
	if j.network {
		args = append(args, "--share-net")
	}
	for _, m := range j.mounts {
		op := "--ro-bind"
		if m.writable {
			op = "--bind"
		}
		if m.optional {
			op += "-try"
		}
		args = append(args, op, m.path, m.path)
	}
	for _, kv := range j.env {
		k, v, _ := cutEnv(kv)
		args = append(args, "--setenv", k, v)
	}
	if j.dir != "" {
		args = append(args, "--chdir", j.dir)
	}
	return args
}

func cutEnv(kv string) (string, string, bool) {
	for i := 0; i < len(kv); i++ {
		if kv[i] == '=' {
			return kv[:i], kv[i+1:], true
		}
	}
	return kv, "", false
}

// run executes argv in the jail and returns its combined output (capped).
// A non-nil error is the command's failure; the caller classifies it.
func (s *sandbox) run(ctx context.Context, j jail, argv []string) ([]byte, error) {
	cmd := s.command(ctx, j, argv)
	out := &cappedBuffer{max: maxCapture}
	cmd.Stdout = out
	cmd.Stderr = out
	err := cmd.Run()
	return out.Bytes(), err
}

// probe checks that bwrap can create its namespaces here, by running the
// toolchain's `go version` inside a minimal jail. It returns the version
// line.
func (s *sandbox) probe(ctx context.Context, goroot string) (string, error) {
	j := jail{
		mounts:  []mount{{path: goroot}},
		env:     []string{"PATH=" + goroot + "/bin", "GOTOOLCHAIN=local", "GOENV=off", "HOME=/"},
		dir:     "/",
		rlimits: rlimits{addressSpace: 1 << 32, cpuSeconds: 30, fileBytes: 1 << 20},
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
