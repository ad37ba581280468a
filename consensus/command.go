package consensus

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/outlayer/outlayer/store"
)

// CommandVersion is the envelope version of JSON-bodied commands, which
// this binary writes for every command without a compact body (see
// CommandVersionCompact). A node refuses to apply an entry whose version it
// does not know (see DESIGN.md: upgrade followers before the leader).
const CommandVersion byte = 1

// Command is a state change proposed through Raft. The types in the command
// table below are the whole vocabulary of the replicated state machine;
// each knows how it applies to the store.
type Command interface {
	// apply runs the command inside the FSM's store transaction, at the
	// proposing leader's time. It must be deterministic: every replica
	// runs it on the same bytes and must end with the same store.
	apply(tx *store.Tx, now time.Time) (Result, error)
}

// commands is the command table: one entry per command, and the only list
// of them. Encoding, decoding, naming and the FSM all read it. Codes are
// part of the log format: never renumber or reuse one, only add.
var commands = newCommandTable(
	command[Enqueue](1, compactBody(appendEnqueueCompact, decodeEnqueueCompact)),
	command[Assign](2),
	command[Complete](3),
	command[RequeueExpired](4),
	command[Fail](5),
	command[Resolved](6),
	command[Expired](7),
	command[AdvanceCursor](8),
	command[PutBlob](9),
	command[TouchBlob](10),
	command[EvictBlobs](11),
	command[NodeAdd](12, changesMembership),
	command[NodeRemove](13, changesMembership),
	command[KeystorePut](14),
	command[KeystoreDelete](15),
	command[Release](16),
	command[KeyCreate](17),
	command[KeyTopUp](18),
	command[KeyDelete](19),
	command[CallStart](20),
	command[CallSettle](21),
	command[PruneRequests](22),
	command[DropProgStorage](23),
)

// CommandType is a command's code in the log envelope.
type CommandType byte

func (t CommandType) String() string {
	if d := commands.byCode[t]; d != nil {
		return d.name
	}
	return fmt.Sprintf("CommandType(%d)", byte(t))
}

// commandDef is one entry of the command table.
type commandDef struct {
	code CommandType
	// name is the Go type's name (logs, errors).
	name string
	// goType is the pointer type that implements Command.
	goType reflect.Type
	// new returns an empty command to decode a JSON body into.
	new func() Command
	// membership: applying the command changes who is in the cluster, so
	// the gater's member set is refreshed after its batch.
	membership bool
	// appendCompact and decodeCompact, when set, are the command's compact
	// body (envelope version CommandVersionCompact), which is then what
	// this binary writes for it.
	appendCompact func(dst []byte, c Command) []byte
	decodeCompact func(version byte, body []byte) (Command, error)
}

// command makes the table entry for *T with the given code.
func command[T any, P interface {
	*T
	Command
}](code CommandType, opts ...func(*commandDef)) commandDef {
	d := commandDef{
		code:   code,
		name:   reflect.TypeFor[T]().Name(),
		goType: reflect.TypeFor[P](),
		new:    func() Command { return P(new(T)) },
	}
	for _, o := range opts {
		o(&d)
	}
	return d
}

// changesMembership marks a command that edits the node table.
func changesMembership(d *commandDef) { d.membership = true }

// compactBody gives a command a compact binary body instead of JSON.
// enc may raise the header's version byte (dst[0]) to
// CommandVersionCompactExt when it writes extensions; dec gets the version.
func compactBody[P Command](enc func([]byte, P) []byte, dec func(byte, []byte) (P, error)) func(*commandDef) {
	return func(d *commandDef) {
		d.appendCompact = func(dst []byte, c Command) []byte { return enc(dst, c.(P)) }
		d.decodeCompact = func(version byte, body []byte) (Command, error) {
			c, err := dec(version, body)
			if err != nil {
				return nil, err
			}
			return c, nil
		}
	}
}

// commandTable indexes the entries by code and by Go type.
type commandTable struct {
	all    []commandDef
	byCode map[CommandType]*commandDef
	byType map[reflect.Type]*commandDef
}

func newCommandTable(defs ...commandDef) *commandTable {
	t := &commandTable{
		all:    defs,
		byCode: make(map[CommandType]*commandDef, len(defs)),
		byType: make(map[reflect.Type]*commandDef, len(defs)),
	}
	for i := range t.all {
		d := &t.all[i]
		t.byCode[d.code] = d
		t.byType[d.goType] = d
	}
	return t
}

// of returns c's entry, or nil when c's type is not in the table.
func (t *commandTable) of(c Command) *commandDef { return t.byType[reflect.TypeOf(c)] }

// typeOf is c's code in the log (0 when c is not in the table).
func typeOf(c Command) CommandType {
	if d := commands.of(c); d != nil {
		return d.code
	}
	return 0
}

// Enqueue records requests seen on chain, with the chain cursor in the same
// entry so that the requests and the cursor move together. Idempotent on
// request id.
type Enqueue struct {
	Requests []store.Request `json:"requests"`
	Cursor   *store.Cursor   `json:"cursor,omitempty"`
}

func (c *Enqueue) apply(tx *store.Tx, now time.Time) (r Result, err error) {
	r.Enqueued, err = tx.EnqueueBatch(c.Requests, c.Cursor, now)
	return r, err
}

// Assign leases a queued request to a node until LeaseUntil. Agree, when
// above 1, is how many agreeing executors the request needs (fixed by its
// first assignment; see store.Tx.AssignAgreeing); omitted for the plain
// path, so those entries are what older binaries wrote.
type Assign struct {
	ID         uint64    `json:"id"`
	Node       string    `json:"node"`
	LeaseUntil time.Time `json:"lease_until"`
	Agree      int       `json:"agree,omitempty"`
}

func (c *Assign) apply(tx *store.Tx, now time.Time) (r Result, err error) {
	r.Job, err = tx.AssignAgreeing(c.ID, c.Node, c.LeaseUntil, c.Agree, now)
	return r, err
}

// Complete reports a node's result. Idempotent; a late result is recorded
// but not used.
type Complete struct {
	ID     uint64       `json:"id"`
	Node   string       `json:"node"`
	Result store.Result `json:"result"`
	// Record is the run's host-call record (exec/hostabi encoding), kept
	// with the request when the result is accepted.
	Record []byte `json:"record,omitempty"`
	// Storage is the run's storage transaction. It applies with an
	// accepted, successful result, only if what the run read still holds
	// (else the command fails with store.ErrStorageConflict and nothing
	// changes); a failed run's is ignored.
	Storage *store.ProgEffects `json:"storage,omitempty"`
}

func (c *Complete) apply(tx *store.Tx, now time.Time) (r Result, err error) {
	// Everything that could refuse is checked before Complete writes, so
	// a refused command changes nothing.
	if len(c.Record) > store.MaxRecordBytes {
		return r, fmt.Errorf("complete request %d: the run record is %d bytes, above the cap of %d: %w", c.ID, len(c.Record), store.MaxRecordBytes, store.ErrBadInput)
	}
	// A request's storage effects are those of its first accepted,
	// successful run (later executors replay that run's record, so they
	// reach the same writes); they wait until the request completes.
	pending, err := tx.PendingEffects(c.ID)
	if err != nil {
		return r, err
	}
	effects := pending
	if effects == nil && c.Result.Success {
		effects = c.Storage
	}
	if effects != nil && c.Result.Success && c.Result.RecordHash == effects.RecordHash {
		// What the run read must still hold when this result may be the
		// one that completes the request.
		if err := tx.CheckProgEffects(effects); err != nil {
			return r, err
		}
	}
	r.Completed, err = tx.Complete(c.ID, c.Node, c.Result, now)
	if err != nil || r.Completed != store.Accepted {
		return r, err
	}
	if len(c.Record) > 0 {
		if _, kept := tx.Record(c.ID); !kept {
			if err := tx.PutRecord(c.ID, c.Record); err != nil {
				return r, err
			}
		}
	}
	if pending == nil && c.Storage != nil && c.Result.Success {
		if err := tx.PutPendingEffects(c.ID, c.Storage); err != nil {
			return r, err
		}
		pending = c.Storage
	}
	if pending == nil {
		return r, nil
	}
	job, err := tx.Get(c.ID)
	if err != nil || job.Status != store.StatusCompleted {
		return r, err
	}
	// Completed: the writes apply with a successful result of the same
	// record, and are dropped otherwise (a failed or different majority).
	if job.Result != nil && job.Result.Success && job.Result.RecordHash == pending.RecordHash {
		if err := tx.ApplyProgEffects(pending); err != nil {
			return r, err
		}
	}
	return r, tx.DeletePendingEffects(c.ID)
}

// Release hands a node's live lease back to the queue (a graceful shutdown
// that will not finish the run). The attempt is marked released and does not
// count toward the attempt bound; a later result from the node is late.
type Release struct {
	ID   uint64 `json:"id"`
	Node string `json:"node"`
}

func (c *Release) apply(tx *store.Tx, now time.Time) (r Result, err error) {
	r.Job, err = tx.Release(c.ID, c.Node, now)
	return r, err
}

// RequeueExpired returns requests whose lease ended (at the command's time)
// to the queue, failing those that used MaxAttempts.
type RequeueExpired struct {
	MaxAttempts int `json:"max_attempts"`
}

func (c *RequeueExpired) apply(tx *store.Tx, now time.Time) (r Result, err error) {
	r.Requeued, err = tx.RequeueExpired(now, c.MaxAttempts)
	return r, err
}

// Fail gives up on a request (it is still resolved on chain as a failure).
type Fail struct {
	ID     uint64 `json:"id"`
	Reason string `json:"reason"`
}

func (c *Fail) apply(tx *store.Tx, now time.Time) (r Result, err error) {
	r.Job, err = tx.Fail(c.ID, c.Reason, now)
	return r, err
}

// Resolved records the resolve transaction that landed on chain.
type Resolved struct {
	ID     uint64 `json:"id"`
	TxHash string `json:"tx_hash"`
}

func (c *Resolved) apply(tx *store.Tx, now time.Time) (r Result, err error) {
	r.Job, err = tx.MarkResolved(c.ID, c.TxHash, now)
	return r, err
}

// Expired records that the chain no longer waits for a request.
type Expired struct {
	ID     uint64 `json:"id"`
	Reason string `json:"reason"`
}

func (c *Expired) apply(tx *store.Tx, now time.Time) (r Result, err error) {
	r.Job, err = tx.MarkExpired(c.ID, c.Reason, now)
	return r, err
}

// AdvanceCursor moves the chain cursor without new requests (empty blocks).
type AdvanceCursor struct {
	Cursor store.Cursor `json:"cursor"`
}

func (c *AdvanceCursor) apply(tx *store.Tx, _ time.Time) (Result, error) {
	return Result{}, tx.AdvanceCursor(c.Cursor)
}

// PutBlob stores a WASM blob under its sha256, optionally indexed by the
// build that produced it.
type PutBlob struct {
	Hash   store.BlobHash    `json:"hash"`
	Data   []byte            `json:"data"`
	Source *store.BlobSource `json:"source,omitempty"`
}

func (c *PutBlob) apply(tx *store.Tx, now time.Time) (Result, error) {
	return Result{}, tx.PutBlob(c.Hash, c.Data, c.Source, now)
}

// TouchBlob marks a blob used (LRU accounting).
type TouchBlob struct {
	Hash store.BlobHash `json:"hash"`
}

func (c *TouchBlob) apply(tx *store.Tx, now time.Time) (Result, error) {
	return Result{}, tx.TouchBlob(c.Hash, now)
}

// EvictBlobs deletes blobs (the leader computes the plan from its replica).
type EvictBlobs struct {
	Hashes []store.BlobHash `json:"hashes"`
}

func (c *EvictBlobs) apply(tx *store.Tx, _ time.Time) (r Result, err error) {
	r.Freed, err = tx.EvictBlobs(c.Hashes)
	return r, err
}

// PruneRequests drops settled requests (resolved or expired, closed at or
// before ClosedBefore) with their records, index entries and calls; the
// leader plans the ids from its replica (store.Tx.PrunePlan) and the store
// checks each again, so nothing a pending request needs is dropped.
type PruneRequests struct {
	IDs          []uint64  `json:"ids"`
	ClosedBefore time.Time `json:"closed_before"`
}

func (c *PruneRequests) apply(tx *store.Tx, now time.Time) (r Result, err error) {
	out, err := tx.PruneRequests(c.IDs, c.ClosedBefore, now)
	if err != nil {
		return r, err
	}
	r.Pruned = &out
	return r, nil
}

// DropProgStorage deletes one program's storage (a project deleted on
// chain): every key under Prefixes, at most store.MaxDropKeys per entry;
// Result.DropPending says to propose it again. Idempotent.
type DropProgStorage struct {
	Code     string   `json:"code"`
	Prefixes [][]byte `json:"prefixes"`
}

func (c *DropProgStorage) apply(tx *store.Tx, _ time.Time) (r Result, err error) {
	r.Dropped, r.DropPending, err = tx.DropProgStorage(c.Code, c.Prefixes, 0)
	return r, err
}

// NodeAdd adds or replaces a member record in the node table.
type NodeAdd struct {
	Node store.Node `json:"node"`
}

func (c *NodeAdd) apply(tx *store.Tx, _ time.Time) (Result, error) {
	return Result{}, tx.PutNode(c.Node)
}

// NodeRemove drops a member record from the node table.
type NodeRemove struct {
	PeerID string `json:"peer_id"`
}

func (c *NodeRemove) apply(tx *store.Tx, _ time.Time) (Result, error) {
	return Result{}, tx.RemoveNode(c.PeerID)
}

// KeystorePut stores a sealed keystore entry.
type KeystorePut struct {
	Name   string `json:"name"`
	Sealed []byte `json:"sealed"`
}

func (c *KeystorePut) apply(tx *store.Tx, _ time.Time) (Result, error) {
	return Result{}, tx.PutSealed(c.Name, c.Sealed)
}

// KeystoreDelete removes a sealed keystore entry.
type KeystoreDelete struct {
	Name string `json:"name"`
}

func (c *KeystoreDelete) apply(tx *store.Tx, _ time.Time) (Result, error) {
	return Result{}, tx.DeleteSealed(c.Name)
}

// envelopeHeader is version(1) | type(1) | time(8, unix ns, big endian).
const envelopeHeader = 10

// ErrBadCommand wraps every decoding failure of a log entry or a forwarded
// command.
var ErrBadCommand = errors.New("malformed command")

// encodeCommand writes the envelope: a version byte, the command's code,
// the proposing leader's clock, then the body — JSON, which keeps the log
// readable with standard tools and lets fields be added without a version
// bump, or the command's compact body if it has one. The fixed header keeps
// dispatch cheap.
func encodeCommand(c Command, now time.Time) ([]byte, error) {
	if c == nil || reflect.ValueOf(c).IsNil() {
		return nil, fmt.Errorf("%w: nil command", ErrBadCommand)
	}
	d := commands.of(c)
	if d == nil {
		return nil, fmt.Errorf("%w: %T is not in the command table", ErrBadCommand, c)
	}
	if d.appendCompact != nil {
		out := make([]byte, envelopeHeader, 256)
		putHeader(out, CommandVersionCompact, d.code, now)
		return d.appendCompact(out, c), nil
	}
	body, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("%w: encode %s: %w", ErrBadCommand, d.name, err)
	}
	out := make([]byte, envelopeHeader, envelopeHeader+len(body))
	putHeader(out, CommandVersion, d.code, now)
	return append(out, body...), nil
}

func putHeader(out []byte, version byte, code CommandType, now time.Time) {
	out[0] = version
	out[1] = byte(code)
	binary.BigEndian.PutUint64(out[2:], uint64(now.UnixNano()))
}

// decodeCommand parses an envelope.
func decodeCommand(b []byte) (Command, time.Time, error) {
	if len(b) < envelopeHeader {
		return nil, time.Time{}, fmt.Errorf("%w: %d bytes is shorter than the %d-byte header", ErrBadCommand, len(b), envelopeHeader)
	}
	if b[0] != CommandVersion && b[0] != CommandVersionCompact && b[0] != CommandVersionCompactExt {
		return nil, time.Time{}, fmt.Errorf("%w: command version %d, this node understands versions %d to %d (upgrade it)", ErrBadCommand, b[0], CommandVersion, CommandVersionCompactExt)
	}
	d := commands.byCode[CommandType(b[1])]
	if d == nil {
		return nil, time.Time{}, fmt.Errorf("%w: unknown command type %d", ErrBadCommand, b[1])
	}
	now := time.Unix(0, int64(binary.BigEndian.Uint64(b[2:10]))).UTC()
	body := b[envelopeHeader:]
	if b[0] == CommandVersionCompact || b[0] == CommandVersionCompactExt {
		if d.decodeCompact == nil {
			return nil, time.Time{}, fmt.Errorf("%w: %s has no compact encoding", ErrBadCommand, d.name)
		}
		c, err := d.decodeCompact(b[0], body)
		if err != nil {
			return nil, time.Time{}, fmt.Errorf("%w: decode compact %s: %w", ErrBadCommand, d.name, err)
		}
		return c, now, nil
	}
	c := d.new()
	if err := json.Unmarshal(body, c); err != nil {
		return nil, time.Time{}, fmt.Errorf("%w: decode %s: %w", ErrBadCommand, d.name, err)
	}
	return c, now, nil
}
