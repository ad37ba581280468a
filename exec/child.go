package exec

import (
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/outlayer/outlayer/exec/hostabi"
	"github.com/outlayer/outlayer/internal/reexec"
)

// The sandbox child: a re-executed copy of the node's own binary that runs
// programs for the node's Runner over a pair of pipes. See isolate.go for
// the node's side and DESIGN.md for why.

// sandboxEntry is the sandbox child's entry point (internal/reexec).
const sandboxEntry = "outlayer-exec-sandbox"

// init makes every binary that links this package (outlayerd, every test
// binary whose runners isolate programs) serve as its own sandbox child
// when a Runner started it as one, before its main or tests run.
func init() {
	reexec.Serve(sandboxEntry, serveSandboxChild)
}

// The child reads requests on fd 3 and writes replies on fd 4; its stderr
// goes to the node, which quotes it when the child dies.
const (
	childRequestFD = 3
	childReplyFD   = 4
)

// serveSandboxChild serves the node's requests until the node closes the
// pipe, and returns the process's exit status.
func serveSandboxChild([]string) int {
	in := os.NewFile(childRequestFD, "sandbox-requests")
	out := os.NewFile(childReplyFD, "sandbox-replies")
	if err := serveSandbox(in, out); err != nil && !errors.Is(err, io.EOF) {
		fmt.Fprintln(os.Stderr, "outlayer sandbox:", err)
		return 1
	}
	return 0
}

// childHello is the node's first message: how to set up the runner.
type childHello struct {
	CacheDir         string
	MaxCachedModules int
	Interpreter      bool
	CompileMemoryMB  int64
	// KillAtDeadline: the node kills the sandbox at a run's wall-time
	// limit, so programs are instrumented without the stop global.
	KillAtDeadline bool
}

// childRequest asks the child to run Req. Req.Wasm is empty when the node
// believes the child has the module cached; the child answers NeedWasm if
// it has not.
type childRequest struct {
	Req Request
	Key [32]byte
	// HostReply, instead of a request, answers the running program's
	// HostCall.
	HostReply *hostabi.Reply
}

// childReply is one message from the child: Ready (after the hello),
// NeedWasm, Compiled (the module is ready; the run starts) or Done.
type childReply struct {
	Ready    bool
	NeedWasm bool
	Compiled bool
	Done     bool

	Result Result
	Err    *wireError
	// HostCall is a host function call of the running program, which the
	// node answers with a HostReply (see hostCallsOverPipe).
	HostCall *hostabi.Call
}

// wireError carries a run's error across the pipe: an *Error or a
// *NodeError keeps its kind and message; anything else keeps its message
// and stays the node's error. (Causes, such as a wazero trap value, do not
// cross; their text is in the message.)
type wireError struct {
	Kind     Kind
	Fault    Fault
	ExitCode uint32
	Message  string
}

func toWire(err error) *wireError {
	if err == nil {
		return nil
	}
	var pe *Error
	if errors.As(err, &pe) {
		return &wireError{Kind: pe.Kind, ExitCode: pe.ExitCode, Message: pe.Message}
	}
	var ne *NodeError
	if errors.As(err, &ne) {
		return &wireError{Fault: ne.Fault, Message: ne.Message}
	}
	return &wireError{Message: err.Error()}
}

func (w *wireError) err() error {
	switch {
	case w == nil:
		return nil
	case w.Kind != "":
		return &Error{Kind: w.Kind, ExitCode: w.ExitCode, Message: w.Message}
	case w.Fault != "":
		return &NodeError{Fault: w.Fault, Message: w.Message}
	}
	return fmt.Errorf("exec: in the sandbox: %s", w.Message)
}

type compiledHookKey struct{}

// onCompiled registers f to be called by Run once the module is compiled
// (or found in the cache), before the program starts.
func onCompiled(ctx context.Context, f func()) context.Context {
	return context.WithValue(ctx, compiledHookKey{}, f)
}

func compiledHook(ctx context.Context) {
	if f, ok := ctx.Value(compiledHookKey{}).(func()); ok {
		f()
	}
}

func serveSandbox(in io.Reader, out io.Writer) error {
	if err := noCoreDumps(); err != nil {
		return fmt.Errorf("disabling core dumps: %w", err)
	}
	dec := gob.NewDecoder(in)
	enc := gob.NewEncoder(out)
	var hello childHello
	if err := dec.Decode(&hello); err != nil {
		return fmt.Errorf("reading the node's hello: %w", err)
	}
	ctx := context.Background()
	r, err := NewRunner(ctx, Config{
		CacheDir:         hello.CacheDir,
		MaxCachedModules: hello.MaxCachedModules,
		Interpreter:      hello.Interpreter,
		MemoryBudgetMB:   -1, // the node keeps the budget
		noStop:           hello.KillAtDeadline,
	})
	if err != nil {
		return err
	}
	defer r.Close(ctx)
	if err := enc.Encode(childReply{Ready: true}); err != nil {
		return err
	}
	for {
		var cr childRequest
		if err := dec.Decode(&cr); err != nil {
			return err
		}
		if len(cr.Req.Wasm) == 0 && !r.modules.has(cr.Key) {
			if err := enc.Encode(childReply{NeedWasm: true}); err != nil {
				return err
			}
			continue
		}
		cr.Req.WasmSHA256 = cr.Key
		cr.Req.Host = hostCallsOverPipe(dec, enc)
		if err := childRun(ctx, r, enc, cr.Req, hello.CompileMemoryMB); err != nil {
			return err
		}
	}
}

// hostCallsOverPipe is the child's Handler: each host call goes to the
// node as a HostCall and waits for its HostReply. The run is the only user
// of the pipe while it runs (serveSandbox is inside Run), so the reply read
// next is this call's.
func hostCallsOverPipe(dec *gob.Decoder, enc *gob.Encoder) hostabi.Handler {
	return func(_ context.Context, c hostabi.Call) hostabi.Reply {
		if err := enc.Encode(childReply{HostCall: &c}); err != nil {
			return hostabi.Errorf(hostabi.Trap, "sending the call to the node: %v", err)
		}
		var m childRequest
		if err := dec.Decode(&m); err != nil {
			return hostabi.Errorf(hostabi.Trap, "reading the node's answer: %v", err)
		}
		if m.HostReply == nil {
			return hostabi.Errorf(hostabi.Trap, "the node sent something other than the call's answer")
		}
		return *m.HostReply
	}
}

// runOverheadBytes is the address space a run may use beyond its linear
// memory: the compiled code's instance, tables, stacks, the Go runtime's
// bookkeeping. A program that needs more (say, a table of 2³² elements)
// kills its sandbox, not the node.
const runOverheadBytes = 1 << 30

// childRun runs one request, with the address space bounded during
// compilation by the compile budget and during the run by the memory limit
// plus overhead; it reports Compiled, then Done.
func childRun(ctx context.Context, r *Runner, enc *gob.Encoder, req Request, compileMB int64) error {
	defer unlimitAddressSpace() //nolint:errcheck // best effort; the next run sets its own
	if compileMB > 0 {
		if err := limitAddressSpace(uint64(compileMB) << 20); err != nil {
			return fmt.Errorf("limiting the compiler's address space: %w", err)
		}
	}
	var hookErr error
	limits := req.Limits.WithDefaults()
	hook := func() {
		_ = unlimitAddressSpace()
		if limits.MaxMemoryMB <= MaxMemoryMBCap {
			if err := limitAddressSpace(limits.memoryBytes() + runOverheadBytes); err != nil {
				hookErr = fmt.Errorf("limiting the run's address space: %w", err)
			}
		}
		if err := enc.Encode(childReply{Compiled: true}); err != nil && hookErr == nil {
			hookErr = err
		}
	}
	compiled := false
	ctx = onCompiled(ctx, func() { compiled = true; hook() })
	res, err := r.Run(ctx, req)
	if hookErr != nil {
		return hookErr
	}
	if !compiled && compileMB > 0 && isOutOfMemory(err) {
		// Instrumenting or compiling ran into the address-space limit
		// and failed (rather than killing the process): a compile bomb.
		err = failure(ErrCompileLimit, "compilation limit exceeded: instrumenting and compiling the module needed more than %d MiB of memory", compileMB)
	}
	return enc.Encode(childReply{Done: true, Result: res, Err: toWire(err)})
}

// isOutOfMemory reports an error that says an allocation failed (ENOMEM
// from an mmap, a Go allocation refused): the marks of an exhausted
// address-space limit.
func isOutOfMemory(err error) bool {
	if err == nil || errors.Is(err, ErrMemoryLimit) {
		return false
	}
	msg := err.Error()
	return errors.Is(err, syscall.ENOMEM) || strings.Contains(msg, "cannot allocate memory") || strings.Contains(msg, "out of memory")
}

// sandboxHandshakeTimeout bounds how long a new sandbox may take to start.
const sandboxHandshakeTimeout = 30 * time.Second
