package consensus

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/outlayer/outlayer/store"
)

// CommandVersion is the envelope version of JSON-bodied commands, which
// this binary writes for every type but Enqueue (see CommandVersionCompact).
// A node refuses to apply an entry whose version it does not know (see
// DESIGN.md: upgrade followers before the leader).
const CommandVersion byte = 1

// CommandType names a command in the envelope.
type CommandType byte

// Command types. Values are part of the log format: never renumber, only add.
const (
	TypeEnqueue        CommandType = 1
	TypeAssign         CommandType = 2
	TypeComplete       CommandType = 3
	TypeRequeueExpired CommandType = 4
	TypeFail           CommandType = 5
	TypeResolved       CommandType = 6
	TypeExpired        CommandType = 7
	TypeAdvanceCursor  CommandType = 8
	TypePutBlob        CommandType = 9
	TypeTouchBlob      CommandType = 10
	TypeEvictBlobs     CommandType = 11
	TypeNodeAdd        CommandType = 12
	TypeNodeRemove     CommandType = 13
	TypeKeystorePut    CommandType = 14
	TypeKeystoreDelete CommandType = 15
	TypeRelease        CommandType = 16
)

func (t CommandType) String() string {
	if name, ok := commandNames[t]; ok {
		return name
	}
	return fmt.Sprintf("CommandType(%d)", byte(t))
}

var commandNames = map[CommandType]string{
	TypeEnqueue: "Enqueue", TypeAssign: "Assign", TypeComplete: "Complete",
	TypeRequeueExpired: "RequeueExpired", TypeFail: "Fail", TypeResolved: "Resolved",
	TypeExpired: "Expired", TypeAdvanceCursor: "AdvanceCursor", TypePutBlob: "PutBlob",
	TypeTouchBlob: "TouchBlob", TypeEvictBlobs: "EvictBlobs", TypeNodeAdd: "NodeAdd",
	TypeNodeRemove: "NodeRemove", TypeKeystorePut: "KeystorePut", TypeKeystoreDelete: "KeystoreDelete",
	TypeRelease: "Release",
}

// Command is a state change proposed through Raft. The concrete types below
// are the whole vocabulary of the replicated state machine.
type Command interface {
	Type() CommandType
}

// Enqueue records requests seen on chain, with the chain cursor in the same
// entry so that the requests and the cursor move together. Idempotent on
// request id.
type Enqueue struct {
	Requests []store.Request `json:"requests"`
	Cursor   *store.Cursor   `json:"cursor,omitempty"`
}

// Assign leases a queued request to a node until LeaseUntil.
type Assign struct {
	ID         uint64    `json:"id"`
	Node       string    `json:"node"`
	LeaseUntil time.Time `json:"lease_until"`
}

// Complete reports a node's result. Idempotent; a late result is recorded
// but not used.
type Complete struct {
	ID     uint64       `json:"id"`
	Node   string       `json:"node"`
	Result store.Result `json:"result"`
}

// Release hands a node's live lease back to the queue (a graceful shutdown
// that will not finish the run). The attempt is marked released and does not
// count toward the attempt bound; a later result from the node is late.
type Release struct {
	ID   uint64 `json:"id"`
	Node string `json:"node"`
}

// RequeueExpired returns requests whose lease ended (at the command's time)
// to the queue, failing those that used MaxAttempts.
type RequeueExpired struct {
	MaxAttempts int `json:"max_attempts"`
}

// Fail gives up on a request (it is still resolved on chain as a failure).
type Fail struct {
	ID     uint64 `json:"id"`
	Reason string `json:"reason"`
}

// Resolved records the resolve transaction that landed on chain.
type Resolved struct {
	ID     uint64 `json:"id"`
	TxHash string `json:"tx_hash"`
}

// Expired records that the chain no longer waits for a request.
type Expired struct {
	ID     uint64 `json:"id"`
	Reason string `json:"reason"`
}

// AdvanceCursor moves the chain cursor without new requests (empty blocks).
type AdvanceCursor struct {
	Cursor store.Cursor `json:"cursor"`
}

// PutBlob stores a WASM blob under its sha256, optionally indexed by the
// build that produced it.
type PutBlob struct {
	Hash   store.BlobHash    `json:"hash"`
	Data   []byte            `json:"data"`
	Source *store.BlobSource `json:"source,omitempty"`
}

// TouchBlob marks a blob used (LRU accounting).
type TouchBlob struct {
	Hash store.BlobHash `json:"hash"`
}

// EvictBlobs deletes blobs (the leader computes the plan from its replica).
type EvictBlobs struct {
	Hashes []store.BlobHash `json:"hashes"`
}

// NodeAdd adds or replaces a member record in the node table.
type NodeAdd struct {
	Node store.Node `json:"node"`
}

// NodeRemove drops a member record from the node table.
type NodeRemove struct {
	PeerID string `json:"peer_id"`
}

// KeystorePut stores a sealed keystore entry.
type KeystorePut struct {
	Name   string `json:"name"`
	Sealed []byte `json:"sealed"`
}

// KeystoreDelete removes a sealed keystore entry.
type KeystoreDelete struct {
	Name string `json:"name"`
}

func (*Enqueue) Type() CommandType        { return TypeEnqueue }
func (*Assign) Type() CommandType         { return TypeAssign }
func (*Complete) Type() CommandType       { return TypeComplete }
func (*RequeueExpired) Type() CommandType { return TypeRequeueExpired }
func (*Fail) Type() CommandType           { return TypeFail }
func (*Resolved) Type() CommandType       { return TypeResolved }
func (*Expired) Type() CommandType        { return TypeExpired }
func (*AdvanceCursor) Type() CommandType  { return TypeAdvanceCursor }
func (*PutBlob) Type() CommandType        { return TypePutBlob }
func (*TouchBlob) Type() CommandType      { return TypeTouchBlob }
func (*EvictBlobs) Type() CommandType     { return TypeEvictBlobs }
func (*NodeAdd) Type() CommandType        { return TypeNodeAdd }
func (*NodeRemove) Type() CommandType     { return TypeNodeRemove }
func (*KeystorePut) Type() CommandType    { return TypeKeystorePut }
func (*KeystoreDelete) Type() CommandType { return TypeKeystoreDelete }
func (*Release) Type() CommandType        { return TypeRelease }

func newCommand(t CommandType) (Command, error) {
	switch t {
	case TypeEnqueue:
		return &Enqueue{}, nil
	case TypeAssign:
		return &Assign{}, nil
	case TypeComplete:
		return &Complete{}, nil
	case TypeRequeueExpired:
		return &RequeueExpired{}, nil
	case TypeFail:
		return &Fail{}, nil
	case TypeResolved:
		return &Resolved{}, nil
	case TypeExpired:
		return &Expired{}, nil
	case TypeAdvanceCursor:
		return &AdvanceCursor{}, nil
	case TypePutBlob:
		return &PutBlob{}, nil
	case TypeTouchBlob:
		return &TouchBlob{}, nil
	case TypeEvictBlobs:
		return &EvictBlobs{}, nil
	case TypeNodeAdd:
		return &NodeAdd{}, nil
	case TypeNodeRemove:
		return &NodeRemove{}, nil
	case TypeKeystorePut:
		return &KeystorePut{}, nil
	case TypeKeystoreDelete:
		return &KeystoreDelete{}, nil
	case TypeRelease:
		return &Release{}, nil
	}
	return nil, fmt.Errorf("unknown command type %d", byte(t))
}

// envelopeHeader is version(1) | type(1) | time(8, unix ns, big endian).
const envelopeHeader = 10

// ErrBadCommand wraps every decoding failure of a log entry or a forwarded
// command.
var ErrBadCommand = errors.New("malformed command")

// encodeCommand writes the envelope: a version byte, the command type, the
// proposing leader's clock, then the command as JSON. JSON keeps the log
// readable with standard tools and lets fields be added without a version
// bump; the fixed header keeps dispatch cheap.
func encodeCommand(c Command, now time.Time) ([]byte, error) {
	if c == nil {
		return nil, fmt.Errorf("%w: nil command", ErrBadCommand)
	}
	if _, err := newCommand(c.Type()); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadCommand, err)
	}
	if e, ok := c.(*Enqueue); ok {
		out := make([]byte, envelopeHeader, envelopeHeader+64+len(e.Requests)*256)
		out[0] = CommandVersionCompact
		out[1] = byte(TypeEnqueue)
		binary.BigEndian.PutUint64(out[2:], uint64(now.UnixNano()))
		return appendEnqueueCompact(out, e), nil
	}
	body, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("%w: encode %s: %w", ErrBadCommand, c.Type(), err)
	}
	out := make([]byte, envelopeHeader, envelopeHeader+len(body))
	out[0] = CommandVersion
	out[1] = byte(c.Type())
	binary.BigEndian.PutUint64(out[2:], uint64(now.UnixNano()))
	return append(out, body...), nil
}

// decodeCommand parses an envelope.
func decodeCommand(b []byte) (Command, time.Time, error) {
	if len(b) < envelopeHeader {
		return nil, time.Time{}, fmt.Errorf("%w: %d bytes is shorter than the %d-byte header", ErrBadCommand, len(b), envelopeHeader)
	}
	if b[0] != CommandVersion && b[0] != CommandVersionCompact {
		return nil, time.Time{}, fmt.Errorf("%w: command version %d, this node understands versions %d and %d (upgrade it)", ErrBadCommand, b[0], CommandVersion, CommandVersionCompact)
	}
	c, err := newCommand(CommandType(b[1]))
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("%w: %w", ErrBadCommand, err)
	}
	now := time.Unix(0, int64(binary.BigEndian.Uint64(b[2:10]))).UTC()
	if b[0] == CommandVersionCompact {
		if c.Type() != TypeEnqueue {
			return nil, time.Time{}, fmt.Errorf("%w: %s has no compact encoding", ErrBadCommand, c.Type())
		}
		e, err := decodeEnqueueCompact(b[envelopeHeader:])
		if err != nil {
			return nil, time.Time{}, fmt.Errorf("%w: decode compact %s: %w", ErrBadCommand, c.Type(), err)
		}
		return e, now, nil
	}
	if err := json.Unmarshal(b[envelopeHeader:], c); err != nil {
		return nil, time.Time{}, fmt.Errorf("%w: decode %s: %w", ErrBadCommand, c.Type(), err)
	}
	return c, now, nil
}
