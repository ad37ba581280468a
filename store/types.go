package store

import (
	"encoding/hex"
	"fmt"
	"time"

	"github.com/outlayer/outlayer/failure"
)

// Status is where a request is in its lifecycle. The transitions are listed in
// DESIGN.md; every transition is made by one method of Tx in one bbolt
// transaction.
type Status string

const (
	// StatusQueued: known to the cluster, waiting for a node.
	StatusQueued Status = "queued"
	// StatusAssigned: leased to Job.Node until Job.LeaseUntil.
	StatusAssigned Status = "assigned"
	// StatusCompleted: a node returned a result inside its lease; the result is
	// final (Result.Success says whether the program succeeded) and waits to be
	// resolved on chain.
	StatusCompleted Status = "completed"
	// StatusFailed: the cluster gave up (attempts exhausted, or the leader
	// failed it, e.g. the yield deadline is near); Job.Error says why. It still
	// waits to be resolved on chain as a failure so the caller is refunded.
	StatusFailed Status = "failed"
	// StatusResolved: the resolve transaction landed (Job.ResolveTx). Terminal.
	StatusResolved Status = "resolved"
	// StatusExpired: the chain no longer waits for this request (the yield
	// timed out, or the chain says it is already resolved/cancelled) before we
	// resolved it. Terminal; Job.Error says what the chain answered.
	StatusExpired Status = "expired"
)

// Terminal reports whether no further transition (other than recording a late
// result) can happen from s.
func (s Status) Terminal() bool { return s == StatusResolved || s == StatusExpired }

// AwaitsResolve reports whether a request in status s must still be resolved
// on chain.
func (s Status) AwaitsResolve() bool { return s == StatusCompleted || s == StatusFailed }

// Cursor is the chain watcher's position: the last block whose requests are
// all in the store. It only moves forward.
type Cursor struct {
	Height uint64 `json:"height"`
	Hash   string `json:"hash,omitempty"`
}

// CodeSource says where a request's WASM comes from: exactly one of Git or
// Wasm is set.
type CodeSource struct {
	Git  *GitSource  `json:"git,omitempty"`
	Wasm *WasmSource `json:"wasm,omitempty"`
}

// GitSource is a repository at a commit (a SHA or, as upstream allows, a
// branch name), built for BuildTarget.
type GitSource struct {
	Repo        string `json:"repo"`
	Commit      string `json:"commit"`
	BuildTarget string `json:"build_target,omitempty"`
}

// WasmSource is a prebuilt WASM module fetched from URL whose sha256 must be
// Hash (lowercase hex).
type WasmSource struct {
	URL         string `json:"url"`
	Hash        string `json:"hash"`
	BuildTarget string `json:"build_target,omitempty"`
}

func (c CodeSource) validate() error {
	switch {
	case c.Git != nil && c.Wasm != nil:
		return fmt.Errorf("code source has both a git repository and a WASM URL; exactly one is allowed")
	case c.Git != nil:
		if c.Git.Repo == "" || c.Git.Commit == "" {
			return fmt.Errorf("git code source needs both repo and commit (got repo %q, commit %q)", c.Git.Repo, c.Git.Commit)
		}
	case c.Wasm != nil:
		if c.Wasm.URL == "" || c.Wasm.Hash == "" {
			return fmt.Errorf("WASM code source needs both url and hash (got url %q, hash %q)", c.Wasm.URL, c.Wasm.Hash)
		}
	default:
		return fmt.Errorf("code source is empty: set a git repository or a WASM URL")
	}
	return nil
}

// Limits are the resource limits the caller asked for. Zero means "not given"
// (the contract stores null); the executor applies its defaults.
type Limits struct {
	MaxInstructions     uint64 `json:"max_instructions,omitempty"`
	MaxMemoryMB         uint32 `json:"max_memory_mb,omitempty"`
	MaxExecutionSeconds uint64 `json:"max_execution_seconds,omitempty"`
}

// SecretsRef names the secrets a request may see: those owned by AccountID
// under Profile.
type SecretsRef struct {
	Profile   string `json:"profile"`
	AccountID string `json:"account_id"`
}

// Params are the request's boolean switches.
type Params struct {
	CompileOnly   bool `json:"compile_only,omitempty"`
	ForceRebuild  bool `json:"force_rebuild,omitempty"`
	StoreOnFastFS bool `json:"store_on_fastfs,omitempty"`
}

// Request is what the chain said: everything the contract's
// execution_requested event carries, plus where it was seen. It never changes
// after Enqueue.
type Request struct {
	ID     uint64 `json:"id"`
	DataID string `json:"data_id"` // hex of the 32-byte yield data id
	Sender string `json:"sender"`
	// Signer signed the request's transaction (Sender is the immediate
	// caller); empty when unknown.
	Signer string `json:"signer,omitempty"`
	// ProjectID ("<owner>/<name>") and ProjectUUID are set when the request
	// runs a project's version: its secrets are the project's, whatever the
	// version.
	ProjectID   string `json:"project_id,omitempty"`
	ProjectUUID string `json:"project_uuid,omitempty"`
	// Payer gets the refund; the event does not carry it (get_request does).
	Payer          string      `json:"payer,omitempty"`
	Code           CodeSource  `json:"code"`
	Limits         Limits      `json:"limits"`
	Input          string      `json:"input,omitempty"`
	Secrets        *SecretsRef `json:"secrets,omitempty"`
	ResponseFormat string      `json:"response_format,omitempty"` // Bytes|Text|Json; empty means Text
	Params         Params      `json:"params"`
	Deposit        string      `json:"deposit"` // u128 yoctoNEAR, decimal
	// RequestedAtNs is the contract's block timestamp (ns) at request time.
	RequestedAtNs uint64 `json:"requested_at_ns,omitempty"`
	BlockHeight   uint64 `json:"block_height"`
	BlockHash     string `json:"block_hash,omitempty"`
	TxHash        string `json:"tx_hash,omitempty"`
	ReceiptID     string `json:"receipt_id,omitempty"`
	// RequiredSignatures is the k the contract recorded for the request:
	// how many executors must sign its result (0: the contract needs no
	// signatures; the cluster's own Agreement then decides).
	RequiredSignatures uint64 `json:"required_signatures,omitempty"`
}

func (r *Request) validate() error {
	if r.Sender == "" {
		return fmt.Errorf("it has no sender account")
	}
	if err := validIndexPart("sender account", r.Sender); err != nil {
		return err
	}
	if err := r.Code.validate(); err != nil {
		return err
	}
	if r.DataID != "" {
		if b, err := hex.DecodeString(r.DataID); err != nil || len(b) != 32 {
			return fmt.Errorf("data id %q is not 32 bytes of hex", r.DataID)
		}
	}
	switch r.ResponseFormat {
	case "", "Text", "Json", "Bytes":
	default:
		return fmt.Errorf("response format %q is not Bytes, Text or Json", r.ResponseFormat)
	}
	if !isDecimal(r.Deposit) {
		return fmt.Errorf("deposit %q is not a decimal yoctoNEAR amount", r.Deposit)
	}
	return nil
}

// Result is what a node reports after running a request.
type Result struct {
	Success bool   `json:"success"`
	Output  []byte `json:"output,omitempty"`
	Error   string `json:"error,omitempty"`
	// ErrorKind classifies a failure (failure.CompilationFailed,
	// failure.InstructionLimit, failure.AccessDenied, ...); empty on
	// success. A reported result only ever carries a final kind.
	ErrorKind    failure.Kind `json:"error_kind,omitempty"`
	Instructions uint64       `json:"instructions"`
	TimeMs       uint64       `json:"time_ms"`
	// CompileMs is set only when this run compiled the WASM.
	CompileMs       *uint64 `json:"compile_ms,omitempty"`
	CompilationNote string  `json:"compilation_note,omitempty"`
	WasmHash        string  `json:"wasm_hash,omitempty"`
	// RecordHash is the sha256 (hex) of the run's host-call record; empty
	// when the program made no host call. Executors that agree saw the same
	// answers from the world.
	RecordHash  string `json:"record_hash,omitempty"`
	Attestation []byte `json:"attestation,omitempty"`
	// Signature is the executor's ed25519 signature over the result's
	// claim, made with SignerKey (its node key, "ed25519:<base58>", the key
	// the contract knows it by). Empty from a node that could not sign.
	Signature []byte `json:"signature,omitempty"`
	SignerKey string `json:"signer_key,omitempty"`

	// Filled in by the store.
	Node       string    `json:"node"`
	ReceivedAt time.Time `json:"received_at"`
}

// Attempt is one lease of a request to a node.
type Attempt struct {
	Node       string    `json:"node"`
	AssignedAt time.Time `json:"assigned_at"`
	LeaseUntil time.Time `json:"lease_until"`
	// Outcome is AttemptLeased while the lease is current.
	Outcome AttemptOutcome `json:"outcome"`
	EndedAt time.Time      `json:"ended_at,omitzero"`
	// LateResult is a result that arrived after this attempt's lease ended. It
	// is kept for the record and never used.
	LateResult *Result `json:"late_result,omitempty"`
}

// AttemptOutcome says how an attempt ended.
type AttemptOutcome string

const (
	AttemptLeased    AttemptOutcome = "leased"    // still running
	AttemptCompleted AttemptOutcome = "completed" // its result was accepted
	AttemptExpired   AttemptOutcome = "expired"   // lease ran out (requeued, reassigned or given up)
	AttemptCancelled AttemptOutcome = "cancelled" // the request was failed or expired while leased
	// AttemptReleased: the holder handed the lease back before it ran out
	// (a graceful shutdown). It is not a failure, so it does not count
	// toward RequeueExpired's attempt bound.
	AttemptReleased AttemptOutcome = "released"
)

// Job is a request plus everything the cluster did with it.
type Job struct {
	Request
	// Call is the HTTPS call this request runs (see calls.go); empty for
	// a request from the chain. Such a request is settled against its
	// payment key instead of resolved on chain.
	Call   string `json:"call,omitempty"`
	Status Status `json:"status"`
	// Node and LeaseUntil describe the current lease (StatusAssigned only).
	Node       string    `json:"node,omitempty"`
	LeaseUntil time.Time `json:"lease_until,omitzero"`
	// Extra are the other current leases of a request that needs several
	// agreeing executors and runs them at once (see DESIGN.md,
	// "Agreement"); Node/LeaseUntil is the first of them.
	Extra    []Lease   `json:"extra_leases,omitempty"`
	Attempts []Attempt `json:"attempts,omitempty"`
	Result   *Result   `json:"result,omitempty"`
	// Agreement is the k-of-n record (every executor's result, the
	// dissent) of a request that needs more than one executor; nil for
	// k = 1. Result is the majority's result once one formed.
	Agreement *Agreement `json:"agreement,omitempty"`
	// Error says why the request failed or expired.
	Error     string    `json:"error,omitempty"`
	ResolveTx string    `json:"resolve_tx,omitempty"`
	QueuedAt  time.Time `json:"queued_at"`
	UpdatedAt time.Time `json:"updated_at"`
	DoneAt    time.Time `json:"done_at,omitzero"`   // completed or failed
	ClosedAt  time.Time `json:"closed_at,omitzero"` // resolved or expired
}

// Lease is one executor's hold on a request until Until.
type Lease struct {
	Node  string    `json:"node"`
	Until time.Time `json:"until"`
}

// Holders are j's current leases, the first (Node/LeaseUntil) first.
func (j *Job) Holders() []Lease {
	if j.Status != StatusAssigned || j.Node == "" {
		return nil
	}
	return append([]Lease{{Node: j.Node, Until: j.LeaseUntil}}, j.Extra...)
}

// LeaseOf is the end of node's current lease on j; ok is false when node
// holds none.
func (j *Job) LeaseOf(node string) (until time.Time, ok bool) {
	for _, l := range j.Holders() {
		if l.Node == node {
			return l.Until, true
		}
	}
	return time.Time{}, false
}

// EnqueueOutcome says what Enqueue did with a request.
type EnqueueOutcome int

const (
	// Enqueued: a new request, now queued.
	Enqueued EnqueueOutcome = iota + 1
	// AlreadyKnown: the request id was already in the store; nothing about the
	// request changed (the first write wins).
	AlreadyKnown
	// EnqueuedInvalid: a new request the cluster cannot execute; it is stored
	// as failed (Job.Error says why) and will be resolved as a failure.
	EnqueuedInvalid
)

func (o EnqueueOutcome) String() string {
	switch o {
	case Enqueued:
		return "enqueued"
	case AlreadyKnown:
		return "already known"
	case EnqueuedInvalid:
		return "enqueued as failed (invalid)"
	}
	return fmt.Sprintf("EnqueueOutcome(%d)", int(o))
}

// CompleteOutcome says what Complete did with a result.
type CompleteOutcome int

const (
	// Accepted: the result was from the current lease holder inside its
	// lease; the request is now completed.
	Accepted CompleteOutcome = iota + 1
	// Duplicate: this node's result was already recorded (accepted or late);
	// nothing changed.
	Duplicate
	// Late: the node held an earlier or expired lease; the result is recorded
	// on that attempt and not used.
	Late
)

func (o CompleteOutcome) String() string {
	switch o {
	case Accepted:
		return "accepted"
	case Duplicate:
		return "duplicate"
	case Late:
		return "late"
	}
	return fmt.Sprintf("CompleteOutcome(%d)", int(o))
}

// Requeued reports what RequeueExpired did with one expired lease.
type Requeued struct {
	ID     uint64 `json:"id"`
	Node   string `json:"node"`   // the holder whose lease expired
	Status Status `json:"status"` // StatusQueued, or StatusFailed when out of attempts
}

// Role is a node's Raft role.
type Role string

const (
	RoleVoter    Role = "voter"
	RoleNonVoter Role = "nonvoter"
)

// Node is a cluster member as the cluster knows it.
type Node struct {
	PeerID    string   `json:"peer_id"`
	Addresses []string `json:"addresses,omitempty"`
	Role      Role     `json:"role"`
	// Attestation is the raw report (e.g. a TDX quote) the node joined with;
	// AttestationSummary is its human-readable verdict.
	Attestation        []byte    `json:"attestation,omitempty"`
	AttestationSummary string    `json:"attestation_summary,omitempty"`
	JoinedAt           time.Time `json:"joined_at"`
	LastSeen           time.Time `json:"last_seen,omitzero"`
}

// BlobHash is the sha256 of a WASM blob.
type BlobHash [32]byte

// ParseBlobHash parses 64 hex digits.
func ParseBlobHash(s string) (BlobHash, error) {
	var h BlobHash
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(h) {
		return h, fmt.Errorf("blob hash %q is not 64 hex digits", s)
	}
	copy(h[:], b)
	return h, nil
}

func (h BlobHash) String() string { return hex.EncodeToString(h[:]) }

// BlobSource is the build that produced a blob.
type BlobSource struct {
	Repo   string `json:"repo"`
	Commit string `json:"commit"`
	Target string `json:"target"`
}

func (s BlobSource) validate() error {
	if s.Repo == "" || s.Commit == "" || s.Target == "" {
		return fmt.Errorf("blob source needs repo, commit and target (got %q, %q, %q)", s.Repo, s.Commit, s.Target)
	}
	for _, part := range []string{s.Repo, s.Commit, s.Target} {
		if err := validIndexPart("blob source", part); err != nil {
			return err
		}
	}
	return nil
}

// BlobInfo is the accounting record of a stored blob.
type BlobInfo struct {
	Hash     BlobHash     `json:"-"`
	Size     uint64       `json:"size"`
	StoredAt time.Time    `json:"stored_at"`
	LastUsed time.Time    `json:"last_used"`
	Sources  []BlobSource `json:"sources,omitempty"`
}

func isDecimal(s string) bool {
	if s == "" || len(s) > 40 { // u128 has at most 39 digits
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func validIndexPart(what, s string) error {
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			return fmt.Errorf("%s %q contains a NUL byte", what, s)
		}
	}
	if len(s) > 1024 {
		return fmt.Errorf("%s is %d bytes long; at most 1024 are allowed", what, len(s))
	}
	return nil
}
