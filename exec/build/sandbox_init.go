package build

import (
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/outlayer/outlayer/internal/reexec"
)

// initEntry is the sandbox's init: this binary re-executed by
// sandbox.command (internal/reexec), with the initSpec as JSON in its only
// argument.
const initEntry = "outlayer-build-sandbox-init"

// init turns any binary that links this package (outlayerd, and the test
// binaries of every package that builds programs) into the sandbox's init
// when it was started as one, before its main or tests run. Doing it here
// rather than in each main means no program can forget the hook, which
// would make the sandbox re-run the program itself (a node, or a test
// binary's tests).
func init() {
	reexec.Serve(initEntry, func(args []string) int {
		if len(args) != 1 {
			return initFailed(fmt.Errorf("want the spec as the only argument, got %d arguments", len(args)))
		}
		return sandboxInit(args[0])
	})
}

// initSpec is what the sandbox's init is asked to do, passed as its only
// argument.
type initSpec struct {
	Argv    []string `json:"argv"`
	Env     []string `json:"env"`
	Dir     string   `json:"dir"`
	Rlimits rlimits  `json:"rlimits"`
	// Root, when set, is an empty directory to build the private root on
	// (the init then runs in fresh namespaces and sees only Mounts).
	Root   string  `json:"root,omitempty"`
	Mounts []mount `json:"mounts,omitempty"`
}

// sandboxInit runs in the re-executed binary: it sets up the jail and
// executes the command in place of itself, so the command's exit status
// (or the signal that killed it) is what the builder sees. It returns only
// on failure, with exit status 127 and the reason on stderr.
func sandboxInit(arg string) int {
	// Capabilities are per thread: everything below, up to the exec, must
	// happen on the thread that executes the command.
	runtime.LockOSThread()
	var spec initSpec
	if err := json.Unmarshal([]byte(arg), &spec); err != nil {
		return initFailed(fmt.Errorf("decoding the spec: %w", err))
	}
	if len(spec.Argv) == 0 {
		return initFailed(fmt.Errorf("no command"))
	}
	if spec.Root != "" {
		if err := enterJail(spec); err != nil {
			return initFailed(err)
		}
	}
	if err := setRlimits(spec.Rlimits); err != nil {
		return initFailed(err)
	}
	// A write over the file-size limit then fails with EFBIG ("File too
	// large"), which tools report, instead of killing them silently: git's
	// index-pack inherits the ignored signal. (Go programs ignore it anyway.)
	signal.Ignore(syscall.SIGXFSZ)
	if spec.Root != "" {
		if err := dropPrivileges(); err != nil {
			return initFailed(err)
		}
	}
	if spec.Dir != "" {
		if err := os.Chdir(spec.Dir); err != nil {
			return initFailed(fmt.Errorf("entering %s: %w", spec.Dir, err))
		}
	}
	err := syscall.Exec(spec.Argv[0], spec.Argv, spec.Env)
	return initFailed(fmt.Errorf("executing %s: %w", spec.Argv[0], err))
}

func initFailed(err error) int {
	fmt.Fprintf(os.Stderr, "build sandbox: %v\n", err)
	return 127
}

// enterJail runs as root of fresh user, mount, pid, ipc, uts, cgroup (and,
// for the compile step, network) namespaces. It forbids further user
// namespaces, builds a root holding only the jail's mounts, a minimal /dev
// and the namespace's own /proc, and pivots into it.
func enterJail(spec initSpec) error {
	// Nothing mounted here may propagate back to the host.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making mounts private: %w", err)
	}
	root := spec.Root
	if err := unix.Mount("tmpfs", root, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "size=1m,nr_inodes=4096,mode=0755"); err != nil {
		return fmt.Errorf("mounting the sandbox root: %w", err)
	}
	for _, m := range spec.Mounts {
		if err := bindInto(root, m); err != nil {
			return err
		}
	}
	for _, dev := range []string{"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom"} {
		if err := bindInto(root, mount{Path: dev, Writable: true}); err != nil {
			return err
		}
	}
	if err := os.Symlink("/proc/self/fd", filepath.Join(root, "dev/fd")); err != nil {
		return fmt.Errorf("creating /dev/fd: %w", err)
	}
	// The namespace's own /proc: only the build's processes. A kernel may
	// refuse it where the host's /proc is partly hidden (some container
	// runtimes); the toolchain runs without /proc, so that is not fatal.
	proc := filepath.Join(root, "proc")
	if err := os.Mkdir(proc, 0o555); err != nil {
		return fmt.Errorf("creating /proc: %w", err)
	}
	sysctl := "/proc/sys/user/max_user_namespaces"
	if unix.Mount("proc", proc, "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "") == nil {
		sysctl = filepath.Join(proc, "sys/user/max_user_namespaces") // writable even where the host's /proc/sys is not
	}
	// The limit is per user namespace and we own this one: 0 means nothing
	// inside can create a user namespace (and so gain capabilities again).
	if err := os.WriteFile(sysctl, []byte("0"), 0); err != nil {
		return fmt.Errorf("forbidding nested user namespaces: %w", err)
	}
	// The root itself becomes read-only: writable places are the jail's
	// writable mounts only.
	if err := unix.Mount("", root, "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV, ""); err != nil {
		return fmt.Errorf("making the sandbox root read-only: %w", err)
	}
	if err := os.Chdir(root); err != nil {
		return fmt.Errorf("entering the sandbox root: %w", err)
	}
	// Stack the new root on the old one and detach the old: afterwards no
	// path leads to the host's file system.
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detaching the host's root: %w", err)
	}
	if err := os.Chdir("/"); err != nil {
		return err
	}
	if err := unix.Sethostname([]byte("outlayer-build")); err != nil {
		return fmt.Errorf("setting the hostname: %w", err)
	}
	return nil
}

// bindInto makes host path m.Path visible at the same path under root,
// read-only unless m.Writable.
func bindInto(root string, m mount) error {
	fi, err := os.Stat(m.Path)
	if err != nil {
		if m.Optional && os.IsNotExist(err) {
			return nil
		}
		return fmt.Errorf("sandbox mount %s: %w", m.Path, err)
	}
	target := filepath.Join(root, m.Path)
	if fi.IsDir() {
		err = os.MkdirAll(target, 0o755)
	} else if err = os.MkdirAll(filepath.Dir(target), 0o755); err == nil {
		var f *os.File
		if f, err = os.OpenFile(target, os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
			err = f.Close()
		}
	}
	if err != nil {
		return fmt.Errorf("sandbox mount point %s: %w", m.Path, err)
	}
	if err := unix.Mount(m.Path, target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("sandbox mount %s: %w", m.Path, err)
	}
	// A bind mount takes the source's flags; the remount adds read-only and
	// nosuid. Flags the host locked (nodev, noexec, the atime mode) must be
	// repeated or the kernel refuses the remount.
	var st unix.Statfs_t
	if err := unix.Statfs(target, &st); err != nil {
		return fmt.Errorf("sandbox mount %s: %w", m.Path, err)
	}
	flags := uintptr(unix.MS_BIND | unix.MS_REMOUNT | unix.MS_NOSUID)
	if !m.Writable {
		flags |= unix.MS_RDONLY
	}
	for _, f := range []struct{ st, ms uintptr }{
		{unix.ST_NODEV, unix.MS_NODEV}, {unix.ST_NOEXEC, unix.MS_NOEXEC},
		{unix.ST_NOATIME, unix.MS_NOATIME}, {unix.ST_NODIRATIME, unix.MS_NODIRATIME},
		{unix.ST_RELATIME, unix.MS_RELATIME},
	} {
		if uintptr(st.Flags)&f.st != 0 {
			flags |= f.ms
		}
	}
	if uintptr(st.Flags)&(unix.ST_NOATIME|unix.ST_RELATIME) == 0 {
		flags |= unix.MS_STRICTATIME
	}
	if err := unix.Mount("", target, "", flags, ""); err != nil {
		return fmt.Errorf("sandbox mount %s read-only: %w", m.Path, err)
	}
	return nil
}

func setRlimits(l rlimits) error {
	for _, r := range []struct {
		name     string
		resource int
		value    uint64
	}{
		{"address space", unix.RLIMIT_AS, l.AddressSpace},
		{"CPU time", unix.RLIMIT_CPU, l.CPUSeconds},
		{"file size", unix.RLIMIT_FSIZE, l.FileBytes},
		{"core size", unix.RLIMIT_CORE, 0},
	} {
		v := r.value
		if v == 0 && r.resource != unix.RLIMIT_CORE {
			continue // not limited
		}
		if err := unix.Setrlimit(r.resource, &unix.Rlimit{Cur: v, Max: v}); err != nil {
			return fmt.Errorf("setting the %s limit: %w", r.name, err)
		}
	}
	return nil
}

// dropPrivileges removes every capability the init held in its
// namespaces, from all sets, so the command runs as an ordinary user
// (uid 0 of a namespace with no powers), and no exec can regain any.
func dropPrivileges() error {
	for c := 0; c <= 63; c++ {
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil && err != unix.EINVAL {
			return fmt.Errorf("dropping capability %d: %w", c, err)
		}
	}
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil && err != unix.EINVAL {
		return fmt.Errorf("clearing ambient capabilities: %w", err)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("clearing capabilities: %w", err)
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("setting no_new_privs: %w", err)
	}
	return nil
}
