// Package reexec is the one way OutLayer starts a copy of its own binary as
// a child with another job: exec's sandbox children (which run programs for
// the node's Runner) and exec/build's sandbox init (which jails a build
// command). A package names its entry point with a constant, serves it from
// its init function and starts children with Command:
//
//	const sandboxEntry = "outlayer-exec-sandbox"
//
//	func init() { reexec.Serve(sandboxEntry, serveSandboxChild) }
//
//	cmd := reexec.Command(ctx, sandboxEntry, args...)
//
// The child is /proc/self/exe (on other systems, os.Executable) with the
// entry point's name as argv[0], args after it, and an empty environment.
// In a process started that way, Serve runs the entry point and exits with
// its status during the initialisation of the package that serves it,
// before any later package (a node's main, a test binary's tests) starts.
// So every binary that links such a package can be its child without a line
// in its main, and no binary can forget the hook and re-run itself in a
// child. exec/DESIGN.md (Isolation) says why it is done this way.
package reexec
