package reexec

import (
	"context"
	"os"
	osexec "os/exec"
	"runtime"
)

// Serve runs main and exits with the status it returns when this process
// was started as the entry point name (by Command); otherwise it returns at
// once. Call it from the init function of the package that owns the entry
// point, so that it runs with that package (and everything it imports)
// initialised and before anything that depends on it.
//
// name is the child's argv[0]: unlike any real command's name and unique
// among the binary's entry points (by convention "outlayer-<package>-<job>").
func Serve(name string, main func(args []string) int) {
	if len(os.Args) > 0 && os.Args[0] == name {
		os.Exit(main(os.Args[1:]))
	}
}

// Command returns the command that starts this binary as the entry point
// name, with args, in an empty environment (the parent's may hold
// credentials; whatever the child needs goes in args or over its pipes).
// The caller sets its files, process attributes and Cancel as usual.
func Command(ctx context.Context, name string, args ...string) *osexec.Cmd {
	cmd := osexec.CommandContext(ctx, self())
	cmd.Args = append([]string{name}, args...)
	cmd.Env = []string{}
	return cmd
}

// self is the path that starts this very program. On Linux,
// /proc/self/exe is the running binary even if its file was since replaced
// (an upgrade in place, go run's temporary copy removed), so a child never
// runs another version than its parent.
func self() string {
	if runtime.GOOS == "linux" {
		return "/proc/self/exe"
	}
	if exe, err := os.Executable(); err == nil {
		return exe
	}
	return os.Args[0]
}
