package exec

import (
	"errors"
	"fmt"
)

// Kind classifies why a run failed. A Kind is itself an error, so callers
// test a failure with errors.Is(err, exec.ErrMemoryLimit).
type Kind string

// Error makes a Kind usable as an errors.Is target.
func (k Kind) Error() string { return string(k) }

// The kinds of failure a program or a request can cause. Each is reported to
// the caller on chain; none of them means the node is broken.
const (
	// ErrBadRequest: the request itself is unusable (a limit above its cap,
	// a reserved or malformed secret name, oversized environment).
	ErrBadRequest Kind = "bad request"
	// ErrInvalidWasm: the bytes are not a WASI preview 1 command module that
	// this sandbox can run.
	ErrInvalidWasm Kind = "invalid wasm"
	// ErrCompileLimit: instrumenting and compiling the module needed more
	// CPU time or memory than a sandbox allows (Config.CompileTimeout,
	// Config.CompileMemoryMB).
	ErrCompileLimit Kind = "compilation limit exceeded"
	// ErrInputTooLarge: the input is larger than MaxInputBytes.
	ErrInputTooLarge Kind = "input too large"
	// ErrInstructionLimit: the program executed every instruction it was
	// allowed.
	ErrInstructionLimit Kind = "instruction limit exceeded"
	// ErrMemoryLimit: the program needed more linear memory than allowed.
	ErrMemoryLimit Kind = "memory limit exceeded"
	// ErrTimeLimit: the program ran longer than its wall-time limit.
	ErrTimeLimit Kind = "time limit exceeded"
	// ErrOutputTooLarge: the program wrote more than MaxOutputBytes to stdout.
	ErrOutputTooLarge Kind = "output too large"
	// ErrExit: the program exited with a non-zero status (Error.ExitCode).
	ErrExit Kind = "non-zero exit status"
	// ErrTrap: the program hit a WebAssembly trap (divide by zero, out of
	// bounds access, unreachable, stack overflow...).
	ErrTrap Kind = "trap"
	// ErrBadOutput: the program succeeded but its output does not fit the
	// requested response format (Json that does not parse, Text that is not
	// UTF-8).
	ErrBadOutput Kind = "output does not match the response format"
)

// Kinds lists every Kind, for callers that map them onto their own
// vocabulary (and test that none is missing).
func Kinds() []Kind {
	return []Kind{ErrBadRequest, ErrInvalidWasm, ErrCompileLimit, ErrInputTooLarge, ErrInstructionLimit,
		ErrMemoryLimit, ErrTimeLimit, ErrOutputTooLarge, ErrExit, ErrTrap, ErrBadOutput}
}

// Error is a failure caused by the program or by the request, never by the
// node. Its message is meant for the program's author.
type Error struct {
	Kind Kind
	// ExitCode is the program's exit status when Kind is ErrExit.
	ExitCode uint32
	// Message is the complete human-readable explanation.
	Message string
	// cause is the underlying error, when there is one (a wazero trap, a
	// JSON syntax error), kept for errors.As.
	cause error
}

func (e *Error) Error() string { return e.Message }

// Unwrap exposes both the Kind (for errors.Is) and the underlying cause.
func (e *Error) Unwrap() []error {
	if e.cause == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.cause}
}

func failure(kind Kind, format string, a ...any) *Error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, a...)}
}

func failureWithCause(kind Kind, cause error, format string, a ...any) *Error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, a...), cause: cause}
}

// IsProgramFailure reports whether err is the program's or the request's own
// failure (an *Error), which is a final answer to report to the caller, as
// opposed to a problem of the node (cancellation, closed runner), after which
// the request should be retried elsewhere.
func IsProgramFailure(err error) bool {
	var e *Error
	return errors.As(err, &e)
}

// Fault classifies a failure of the node, not of the program, that a caller
// should answer by running the request on another node (a bounded number of
// times). A Fault is an error, so callers test with
// errors.Is(err, exec.ErrSandboxCrashed).
type Fault string

// Error makes a Fault usable as an errors.Is target.
func (f Fault) Error() string { return string(f) }

const (
	// ErrSandboxCrashed: the sandbox process running the program died or
	// stopped answering (a Go fatal error such as running out of its
	// address space, a crash of wazero, a kill). Most likely the program
	// is hostile; possibly the node is sick. Another node should try.
	ErrSandboxCrashed Fault = "the program crashed the sandbox"
	// ErrNodeStalled: the run hit its wall-time limit, but the node gave
	// it too little CPU time in that wall time for the limit to be the
	// program's fault (the node was paused or overloaded).
	ErrNodeStalled Fault = "the node was too slow to run the program fairly"
)

// NodeError is a node-side failure with a Fault kind. It is never an
// *Error: IsProgramFailure reports false for it.
type NodeError struct {
	Fault   Fault
	Message string
}

func (e *NodeError) Error() string { return e.Message }

// Unwrap exposes the Fault for errors.Is.
func (e *NodeError) Unwrap() error { return e.Fault }

func nodeFailure(f Fault, format string, a ...any) *NodeError {
	return &NodeError{Fault: f, Message: string(f) + ": " + fmt.Sprintf(format, a...)}
}
