package build

import (
	"errors"
)

// Error kinds. Every error Build returns for a problem with the request or
// the program matches exactly one of these with errors.Is; the *Error that
// carries it has the details (and the compiler's output for ErrCompile).
var (
	// ErrInvalidSource: the repository URL, commit or path is malformed or
	// not allowed by the configuration (for example a local path when
	// local repositories are disabled).
	ErrInvalidSource = errors.New("invalid code source")
	// ErrRepoNotFound: the repository could not be cloned because it does
	// not exist (or is private).
	ErrRepoNotFound = errors.New("repository not found")
	// ErrFetch: cloning failed for another reason (network, server error).
	ErrFetch = errors.New("cannot fetch repository")
	// ErrSourceTooLarge: the repository, or the commit's tree, is bigger
	// than the node's limits (Limits.MaxRepoBytes, MaxSourceBytes,
	// MaxSourceFiles). Nothing over the limits was written to disk.
	ErrSourceTooLarge = errors.New("repository too large")
	// ErrCommitNotFound: the repository has no commit, branch or tag of
	// that name.
	ErrCommitNotFound = errors.New("commit not found")
	// ErrNoMainPackage: the path holds no buildable Go main package (no
	// go.mod, no .go files, or a package other than main).
	ErrNoMainPackage = errors.New("no Go main package")
	// ErrDependencies: `go mod download` failed (a missing or tampered
	// module, an unreachable proxy).
	ErrDependencies = errors.New("cannot download Go module dependencies")
	// ErrCompile: the Go compiler rejected the program; Error.Output holds
	// its output.
	ErrCompile = errors.New("compile error")
	// ErrTimeout: the build took longer than Limits.Timeout.
	ErrTimeout = errors.New("build timed out")
	// ErrResourceLimit: the build ran out of CPU time or memory.
	ErrResourceLimit = errors.New("build exceeded its CPU or memory limit")
	// ErrOutputTooLarge: the WASM is bigger than Limits.MaxWasmBytes.
	ErrOutputTooLarge = errors.New("built WASM is too large")
	// ErrSandboxUnavailable: the kernel refuses the namespaces the sandbox
	// needs. This is an operator problem, not the program's.
	ErrSandboxUnavailable = errors.New("build sandbox unavailable")
)

// Error is a failed build: Kind is one of the Err* values above, Detail
// says what happened in words, Output is the tool's (capped) output when
// it helps the program's author (compiler errors, git's complaint).
type Error struct {
	Kind   error
	Detail string
	Output string
}

func (e *Error) Error() string {
	msg := e.Kind.Error()
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	if e.Output != "" {
		msg += "\n" + e.Output
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Kind }

func newError(kind error, detail, output string) *Error {
	return &Error{Kind: kind, Detail: detail, Output: output}
}
