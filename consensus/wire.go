package consensus

import (
	"io"

	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/outlayer/outlayer/consensus/p2p"
)

// Protocols the consensus layer speaks besides the Raft transport.
const (
	// RPCProtocol carries member-to-leader calls: forwarded writes, read
	// index requests, join steps relayed by a member, removals. Members only.
	RPCProtocol protocol.ID = "/outlayer/rpc/1"
	// JoinProtocol is the only protocol a non-member may speak: a joiner
	// talks to any member, which relays to the leader.
	JoinProtocol protocol.ID = "/outlayer/join/1"
)

// maxFrame bounds one message between members; forwarded PutBlob commands
// carry WASM.
const maxFrame = 128 << 20

// The join protocol is spoken with strangers, so its frames are capped to
// what an honest joiner sends: a hello (its addresses), then the proof (a
// TDX quote with its certificate chain is under 16 KiB, base64 in JSON
// under 24 KiB); and what a joiner accepts back (the member list).
const (
	maxJoinHello  = 4 << 10
	maxJoinProof  = 64 << 10
	maxJoinAnswer = 1 << 20
)

// writeFrame and readFrame carry the cluster's RPCs in the framing every
// OutLayer stream protocol shares.
func writeFrame(w io.Writer, v any) error { return p2p.WriteJSON(w, v, maxFrame) }

func readFrame(r io.Reader, v any) error { return p2p.ReadJSON(r, v, maxFrame) }

// rpcKind names a member-to-leader call.
type rpcKind string

const (
	rpcApply         rpcKind = "apply"
	rpcReadIndex     rpcKind = "read_index"
	rpcJoinChallenge rpcKind = "join_challenge"
	rpcJoinComplete  rpcKind = "join_complete"
	rpcRemove        rpcKind = "remove"
)

// repeatable reports whether asking the leader twice is harmless, so that
// a call that failed after it was sent can simply be asked again.
func (k rpcKind) repeatable() bool { return k == rpcReadIndex }

// leaderBound reports whether the call needs state only the leader that
// served an earlier step holds (a join's challenge): when leadership moves,
// asking the new leader cannot succeed, and the caller must start over.
func (k rpcKind) leaderBound() bool { return k == rpcJoinComplete }

type rpcRequest struct {
	Kind    rpcKind `json:"kind"`
	Command []byte  `json:"command,omitempty"` // rpcApply: an encoded command
	// Join and remove: the peer concerned. For join steps this is the
	// joiner as authenticated by the relaying member's libp2p connection.
	Peer     string   `json:"peer,omitempty"`
	Addrs    []string `json:"addrs,omitempty"`
	Nonce    []byte   `json:"nonce,omitempty"`
	Evidence []byte   `json:"evidence,omitempty"`
	// Replaces (join_complete) is the joiner's previous identity, which
	// the leader removes once the joiner is verified (memory-only
	// identities: a restarted node is a new identity).
	Replaces string `json:"replaces,omitempty"`
}

type rpcResponse struct {
	Result    *Result    `json:"result,omitempty"`
	ReadIndex uint64     `json:"read_index,omitempty"`
	Challenge *challenge `json:"challenge,omitempty"`
	Joined    *joined    `json:"joined,omitempty"`
	Err       *wireError `json:"err,omitempty"`
}

// challenge is the leader's answer to a join hello.
type challenge struct {
	Nonce   []byte       `json:"nonce"`
	Leader  string       `json:"leader"`
	Members []memberInfo `json:"members"`
}

type memberInfo struct {
	ID    string   `json:"id"`
	Addrs []string `json:"addrs,omitempty"`
}

// joined is the leader's answer to verified evidence.
type joined struct {
	Role    string       `json:"role"`
	Members []memberInfo `json:"members"`
}

// joinMessage is what a joiner sends on JoinProtocol.
type joinMessage struct {
	Addrs    []string `json:"addrs,omitempty"`
	Nonce    []byte   `json:"nonce,omitempty"`
	Evidence []byte   `json:"evidence,omitempty"`
	// Replaces names this node's previous identity (see rpcRequest).
	Replaces string `json:"replaces,omitempty"`
}
