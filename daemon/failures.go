package daemon

import (
	"errors"

	"github.com/outlayer/outlayer/exec"
	"github.com/outlayer/outlayer/failure"
	"github.com/outlayer/outlayer/store"
)

// execKinds maps the sandbox's failure kinds onto the shared vocabulary.
// A kind missing here is still the program's failure (exec says so), and is
// recorded as failure.ExecutionFailed.
var execKinds = map[exec.Kind]failure.Kind{
	exec.ErrBadRequest:       failure.InvalidRequest,
	exec.ErrInvalidWasm:      failure.InvalidWasm,
	exec.ErrCompileLimit:     failure.CompileLimit,
	exec.ErrInputTooLarge:    failure.InputTooLarge,
	exec.ErrInstructionLimit: failure.InstructionLimit,
	exec.ErrMemoryLimit:      failure.MemoryLimit,
	exec.ErrTimeLimit:        failure.TimeLimit,
	exec.ErrOutputTooLarge:   failure.OutputTooLarge,
	exec.ErrExit:             failure.NonZeroExit,
	exec.ErrTrap:             failure.Trap,
	exec.ErrBadOutput:        failure.BadOutput,
}

// classify names the failure behind err, an error from a run, a build, a
// download or the keystore. A program's or request's failure (an
// *exec.Error, or an error carrying a final failure.Kind) is the request's
// answer; anything else, including the node kinds the sandbox may report
// (a crashed sandbox, a stalled node), is the node's problem: no result is
// reported and the request runs again on another node once its lease ends,
// bounded by the cluster's attempt limit (Config.MaxAttempts). No error has
// no kind.
func classify(err error) failure.Kind {
	if err == nil {
		return ""
	}
	var ee *exec.Error
	if errors.As(err, &ee) {
		if k, ok := execKinds[ee.Kind]; ok {
			return k
		}
		return failure.ExecutionFailed
	}
	switch {
	case errors.Is(err, exec.ErrSandboxCrashed):
		return failure.SandboxCrashed
	case errors.Is(err, exec.ErrNodeStalled):
		return failure.NodeStalled
	}
	if k, ok := failure.KindOf(err); ok {
		return k
	}
	return failure.NodeFault
}

// lastAttemptKind decides a node-side sandbox failure (a crashed sandbox, a
// stalled node) on the last attempt the cluster allows this request: the
// program crashed, or was starved in, every sandbox that ran it, so the
// request fails with what happened (the program's kind, not
// attempts_exhausted) instead of waiting out one more lease.
func lastAttemptKind(k failure.Kind, j *store.Job, maxAttempts int) (failure.Kind, bool) {
	if maxAttempts <= 0 {
		return k, false // no bound known: leave it to the scheduler
	}
	counted := 0
	for _, a := range j.Attempts {
		if a.Outcome != store.AttemptReleased && a.Outcome != store.AttemptCompleted {
			counted++ // as the store counts them (k-of-n executors that finished do not count)
		}
	}
	if counted < maxAttempts {
		return k, false
	}
	switch k {
	case failure.SandboxCrashed:
		return failure.ExecutionFailed, true
	case failure.NodeStalled:
		return failure.TimeLimit, true
	}
	return k, false
}
