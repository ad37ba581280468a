package hostcall

import (
	"context"
	"fmt"

	"github.com/outlayer/outlayer/exec"
	"github.com/outlayer/outlayer/exec/hostabi"
)

// Runner runs a program; *exec.Runner implements it.
type Runner interface {
	Run(ctx context.Context, req exec.Request) (exec.Result, error)
}

// Replayed is a run whose host calls were answered from a record.
type Replayed struct {
	Result exec.Result
	// Err is the run's own outcome (nil: success), as exec.Runner.Run
	// returned it.
	Err error
	// Diverged is non-nil when the run did not make exactly the record's
	// calls (it matches hostabi.ErrReplayDiverged).
	Diverged error
	// RecordHash is the hash of the record replayed ("" for an empty one).
	RecordHash string
}

// Replay runs req with every host call answered from record (the hostabi
// encoding; nil or empty: a run that made none), asking nothing of the
// world. A re-execution that reproduces the original has the same output,
// success and instruction count, and no Diverged. The error is for a
// malformed record or a run the node could not do.
func Replay(ctx context.Context, r Runner, req exec.Request, record []byte) (*Replayed, error) {
	rec := &hostabi.Record{}
	if len(record) > 0 {
		var err error
		if rec, err = hostabi.ParseRecord(record); err != nil {
			return nil, err
		}
	}
	p := hostabi.NewReplayer(rec)
	req.Host = p.Handle
	res, runErr := r.Run(ctx, req)
	if runErr != nil && !exec.IsProgramFailure(runErr) {
		return nil, fmt.Errorf("replaying: %w", runErr)
	}
	return &Replayed{Result: res, Err: runErr, Diverged: p.Check(), RecordHash: rec.HashHex()}, nil
}
