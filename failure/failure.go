package failure

import (
	"errors"
	"fmt"
)

// Kind names one reason a request failed. Its string is what the store
// records as a result's error_kind and what the API shows.
type Kind string

// Class says who is at fault for a Kind, and so what the cluster does.
type Class int

const (
	// ClassRequest: the request, its code or its program failed. The
	// failure is the final answer and is reported to the caller on chain.
	ClassRequest Class = iota + 1
	// ClassNode: this node could not run the request (its sandbox crashed,
	// it stalled, it cannot decrypt secrets now). No result is reported:
	// the request runs again on another node, bounded by the cluster's
	// attempt limit.
	ClassNode
	// ClassCluster: the cluster gave up on the request (deadline, attempts
	// exhausted, the chain's yield window closed). Final, like
	// ClassRequest, but decided by the coordinator rather than a run.
	ClassCluster
)

func (c Class) String() string {
	switch c {
	case ClassRequest:
		return "request"
	case ClassNode:
		return "node"
	case ClassCluster:
		return "cluster"
	}
	return fmt.Sprintf("class(%d)", int(c))
}

// The kinds. Request kinds first; they end up on chain.
const (
	// InvalidRequest: the request itself is unusable (no code source, a
	// limit above its cap, an unknown response format, bad secret names).
	InvalidRequest Kind = "invalid_request"
	// CompilationFailed: the code source did not yield runnable WASM (a
	// build error, an unsupported target, a failed or mismatched download).
	CompilationFailed Kind = "compilation_failed"
	// InvalidWasm: the bytes are not a module this sandbox can run.
	InvalidWasm Kind = "invalid_wasm"
	// CompileLimit: instrumenting and compiling the module took more CPU
	// time or memory than a sandbox allows (a compile bomb). Every node
	// would do the same, so it is the request's answer, not a retry.
	CompileLimit Kind = "compile_limit_exceeded"
	// InputTooLarge: the input is above the sandbox's limit.
	InputTooLarge Kind = "input_too_large"
	// InstructionLimit, MemoryLimit, TimeLimit: the program used up a limit.
	InstructionLimit Kind = "instruction_limit_exceeded"
	MemoryLimit      Kind = "memory_limit_exceeded"
	TimeLimit        Kind = "time_limit_exceeded"
	// OutputTooLarge: the program wrote more than the output limit.
	OutputTooLarge Kind = "output_too_large"
	// NonZeroExit: the program exited with a non-zero status.
	NonZeroExit Kind = "non_zero_exit"
	// Trap: the program hit a WebAssembly trap.
	Trap Kind = "trap"
	// BadOutput: the output does not match the response format.
	BadOutput Kind = "bad_output"
	// ExecutionFailed: the program failed in a way no finer kind names.
	ExecutionFailed Kind = "execution_failed"
	// AccessDenied, SecretsNotFound, SecretsInvalid: the request's secrets
	// are not the caller's, do not exist, or do not decrypt.
	AccessDenied    Kind = "access_denied"
	SecretsNotFound Kind = "secrets_not_found"
	SecretsInvalid  Kind = "secrets_invalid"
	// SecretsUnavailable: no node of this cluster can ever decrypt them
	// (the keystore's master secret is lost).
	SecretsUnavailable Kind = "secrets_unavailable"
)

// Node kinds: the request is run again elsewhere.
const (
	// NodeFault: this node could not run the request; no finer kind.
	NodeFault Kind = "node_fault"
	// SandboxCrashed: the sandbox process running the program died.
	SandboxCrashed Kind = "sandbox_crashed"
	// NodeStalled: the node stopped making progress on the run.
	NodeStalled Kind = "node_stalled"
	// SecretsNotReady: this node cannot decrypt secrets yet (its keystore
	// is not ready, or the chain view it needs failed).
	SecretsNotReady Kind = "secrets_not_ready"
)

// Cluster kinds: the coordinator gave up.
const (
	// DeadlineNear: given up shortly before the chain's yield timeout so
	// the caller is refunded now.
	DeadlineNear Kind = "deadline_near"
	// YieldExpired: the chain's yield window closed, or the chain refused
	// the resolve for good.
	YieldExpired Kind = "yield_expired"
	// AttemptsExhausted: every allowed lease ran out without a result.
	AttemptsExhausted Kind = "attempts_exhausted"
)

var classes = map[Kind]Class{
	InvalidRequest: ClassRequest, CompilationFailed: ClassRequest, InvalidWasm: ClassRequest, CompileLimit: ClassRequest,
	InputTooLarge: ClassRequest, InstructionLimit: ClassRequest, MemoryLimit: ClassRequest,
	TimeLimit: ClassRequest, OutputTooLarge: ClassRequest, NonZeroExit: ClassRequest,
	Trap: ClassRequest, BadOutput: ClassRequest, ExecutionFailed: ClassRequest,
	AccessDenied: ClassRequest, SecretsNotFound: ClassRequest, SecretsInvalid: ClassRequest,
	SecretsUnavailable: ClassRequest,

	NodeFault: ClassNode, SandboxCrashed: ClassNode, NodeStalled: ClassNode, SecretsNotReady: ClassNode,

	DeadlineNear: ClassCluster, YieldExpired: ClassCluster, AttemptsExhausted: ClassCluster,
}

// Class is who is at fault for k. An unknown kind is the node's: a kind
// this binary does not know must not become a final answer on chain.
func (k Kind) Class() Class {
	if c, ok := classes[k]; ok {
		return c
	}
	return ClassNode
}

// Known reports whether k is one of this package's kinds.
func (k Kind) Known() bool {
	_, ok := classes[k]
	return ok
}

// Final reports whether a failure of kind k is the request's answer (it is
// reported on chain) rather than a reason to run it on another node.
func (k Kind) Final() bool { return k.Class() != ClassNode }

// Error makes a Kind usable as an errors.Is target.
func (k Kind) Error() string { return string(k) }

// Error is a failure with its kind and a message for the request's author
// (request kinds) or the operator (node kinds).
type Error struct {
	Kind    Kind
	Message string
	cause   error
}

// New returns an Error of kind k with a formatted message.
func New(k Kind, format string, a ...any) *Error {
	return &Error{Kind: k, Message: fmt.Sprintf(format, a...)}
}

// Wrap returns an Error of kind k whose message is msg and which unwraps to
// cause (for errors.Is and errors.As).
func Wrap(k Kind, cause error, msg string) *Error {
	return &Error{Kind: k, Message: msg, cause: cause}
}

func (e *Error) Error() string { return e.Message }

// Unwrap exposes the Kind (for errors.Is) and the cause.
func (e *Error) Unwrap() []error {
	if e.cause == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.cause}
}

// KindOf returns the kind of the first *Error in err's tree, or the first
// Kind in it; ok is false when err carries no kind.
func KindOf(err error) (k Kind, ok bool) {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind, true
	}
	if errors.As(err, &k) {
		return k, true
	}
	return "", false
}
