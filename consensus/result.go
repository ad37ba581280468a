package consensus

import (
	"errors"
	"fmt"

	"github.com/outlayer/outlayer/store"
)

// Result is what applying a command did, returned to the proposer wherever
// it proposed from. Exactly the fields of the command's kind are set.
type Result struct {
	// Index is the Raft log index the command was committed at.
	Index uint64 `json:"index"`
	// Enqueue: one outcome per request (enqueued or already known).
	Enqueued []store.EnqueueOutcome `json:"enqueued,omitempty"`
	// Assign, Fail, Resolved, Expired: the request after the change.
	Job *store.Job `json:"job,omitempty"`
	// Complete: accepted, duplicate or late.
	Completed store.CompleteOutcome `json:"completed,omitempty"`
	// RequeueExpired: what happened to each expired lease.
	Requeued []store.Requeued `json:"requeued,omitempty"`
	// EvictBlobs: bytes freed.
	Freed uint64 `json:"freed,omitempty"`
	// KeyCreate, KeyTopUp, KeyDelete: applied, or seen before.
	KeyEvent store.KeyEventOutcome `json:"key_event,omitempty"`
	// CallStart: the call, or the key's refusal.
	CallStarted *store.CallStarted `json:"call_started,omitempty"`
	// CallSettle: the settled call.
	Call *store.Call `json:"call,omitempty"`
	// PruneRequests: what was dropped.
	Pruned *store.PruneOutcome `json:"pruned,omitempty"`
	// DropProgStorage: keys deleted, and whether keys remain.
	Dropped     int  `json:"dropped,omitempty"`
	DropPending bool `json:"drop_pending,omitempty"`
}

// Errors of the consensus layer. Errors from the store (store.ErrNotFound,
// store.ErrInvalidTransition, ...) reach the proposer unchanged, also across
// forwarding, and can be tested with errors.Is.
var (
	// ErrNoLeader: no leader is known (election in progress, or this node is
	// not part of a cluster yet). Nothing was applied; retrying is safe.
	ErrNoLeader = errors.New("no raft leader")
	// ErrNotLeader: an operation that must run on the leader reached a node
	// that is not. Nothing was applied.
	ErrNotLeader = errors.New("not the raft leader")
	// ErrIndeterminate: the command was handed to Raft but its outcome is
	// unknown (leadership lost, connection dropped, deadline passed). It may
	// or may not be applied; only idempotent commands may be blindly retried.
	ErrIndeterminate = errors.New("outcome unknown: the command may or may not have been applied")
	// ErrJoinRefused: the cluster refused a join; nothing changed.
	ErrJoinRefused = errors.New("join refused")
	// ErrNotInCluster: a join was sent to a node that is not a member of
	// any cluster (never bootstrapped or joined, or removed). Nothing
	// changed; join through a member instead.
	ErrNotInCluster = errors.New("the node asked is not a member of a cluster")
	// ErrClosed: the node is shut down.
	ErrClosed = errors.New("consensus node is closed")
)

// wireError carries an error across the forwarding protocol keeping the
// sentinel it wrapped, so errors.Is works on the proposer.
type wireError struct {
	Code string `json:"code"`
	Msg  string `json:"msg"`
}

// errorCodes maps sentinels to stable wire codes.
var errorCodes = []struct {
	code string
	err  error
}{
	{"not_found", store.ErrNotFound},
	{"invalid_transition", store.ErrInvalidTransition},
	{"not_holder", store.ErrNotHolder},
	{"cursor_regression", store.ErrCursorRegression},
	{"bad_input", store.ErrBadInput},
	{"bad_command", ErrBadCommand},
	{"no_leader", ErrNoLeader},
	{"not_leader", ErrNotLeader},
	{"indeterminate", ErrIndeterminate},
	{"join_refused", ErrJoinRefused},
	{"not_in_cluster", ErrNotInCluster},
	{"closed", ErrClosed},
	// The storage errors decide what a worker does with its run (run it
	// again, or fail it), so they must survive forwarding from a follower.
	{"storage_conflict", store.ErrStorageConflict},
	{"storage_budget", store.ErrStorageBudget},
	{"storage_quota", store.ErrStorageQuota},
}

func toWire(err error) *wireError {
	if err == nil {
		return nil
	}
	for _, e := range errorCodes {
		if errors.Is(err, e.err) {
			return &wireError{Code: e.code, Msg: err.Error()}
		}
	}
	return &wireError{Code: "other", Msg: err.Error()}
}

// remoteError is an error received from another node.
type remoteError struct {
	msg      string
	sentinel error
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.sentinel }

func fromWire(w *wireError) error {
	if w == nil {
		return nil
	}
	for _, e := range errorCodes {
		if e.code == w.Code {
			return &remoteError{msg: w.Msg, sentinel: e.err}
		}
	}
	return &remoteError{msg: w.Msg}
}

// applyResponse is what the FSM returns for one log entry.
type applyResponse struct {
	result Result
	err    error
}

func (r applyResponse) String() string { return fmt.Sprintf("%+v %v", r.result, r.err) }
