package daemon

import (
	"errors"

	"github.com/outlayer/outlayer/exec"
	"github.com/outlayer/outlayer/failure"
)

// execKinds maps the sandbox's failure kinds onto the shared vocabulary.
// A kind missing here is still the program's failure (exec says so), and is
// recorded as failure.ExecutionFailed.
var execKinds = map[exec.Kind]failure.Kind{
	exec.ErrBadRequest:       failure.InvalidRequest,
	exec.ErrInvalidWasm:      failure.InvalidWasm,
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
	if k, ok := failure.KindOf(err); ok {
		return k
	}
	return failure.NodeFault
}
