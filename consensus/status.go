package consensus

import (
	"fmt"
	"time"

	"github.com/hashicorp/raft"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/outlayer/outlayer/consensus/p2p"
	"github.com/outlayer/outlayer/store"
)

// Store is the local replica for reads. Writes go through Apply.
func (n *Node) Store() *store.Store { return n.store }

// Host is the libp2p host, for the daemon's own protocols (blob fetch):
// Host().Handle registers a members-only protocol, Host().NewStream opens
// a stream to a peer.
func (n *Node) Host() *p2p.Host { return n.host }

// PeerID is this node's identity.
func (n *Node) PeerID() peer.ID { return n.host.ID() }

// Addrs are this node's dialable addresses (with /p2p/<peer id>).
func (n *Node) Addrs() []ma.Multiaddr { return n.host.Addrs() }

// IsLeader reports whether this node is the Raft leader now.
func (n *Node) IsLeader() bool { return n.raft.State() == raft.Leader }

// Leader returns the current leader's peer id, or "" when none is known.
func (n *Node) Leader() peer.ID {
	_, id := n.raft.LeaderWithID()
	if id == "" {
		return ""
	}
	p, err := peer.Decode(string(id))
	if err != nil {
		return ""
	}
	return p
}

// Server is one member of the Raft configuration.
type Server struct {
	ID    peer.ID
	Voter bool
}

// Servers returns the latest Raft configuration.
func (n *Node) Servers() ([]Server, error) {
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, fmt.Errorf("read raft configuration: %w", err)
	}
	var out []Server
	for _, s := range f.Configuration().Servers {
		p, err := peer.Decode(string(s.ID))
		if err != nil {
			continue
		}
		out = append(out, Server{ID: p, Voter: s.Suffrage == raft.Voter})
	}
	return out, nil
}

// AppliedIndex is the last log index applied to the local store.
func (n *Node) AppliedIndex() uint64 { return n.raft.AppliedIndex() }

// Stats returns Raft's statistics.
func (n *Node) Stats() map[string]string { return n.raft.Stats() }

// Snapshot forces a Raft snapshot now (operators, tests).
func (n *Node) Snapshot() error {
	if err := n.raft.Snapshot().Error(); err != nil {
		return fmt.Errorf("raft snapshot: %w", err)
	}
	return nil
}

// StoreIndex is the highest log index whose effects are in the local store.
// AppliedIndex is Raft's, which moves when entries are handed to the FSM
// goroutine, a moment before the store holds them: a loop that wakes on
// AppliedIndex and reads the store can miss the entry that woke it. Loops
// that react to the replica changing watch this one instead.
func (n *Node) StoreIndex() uint64 { return n.fsm.applied.Load() }

// Identity is this node's libp2p key (the keystore decrypts with it). Outside
// dev mode it exists only in this process's memory.
func (n *Node) Identity() crypto.PrivKey { return n.key }

// Rejoin reports whether this start discarded the cluster state of an
// earlier memory-only identity: the node must Join again (through
// Config.Bootstrap, the members it knew, or the LAN), and the join asks the
// leader to remove previous (empty when unknown).
func (n *Node) Rejoin() (rejoin bool, previous peer.ID) { return n.rejoin, n.previous }

// ApplyState is how far this replica is: what health reads.
type ApplyState struct {
	// Commit is the highest log index known committed; Handed the highest
	// Raft handed to the store (no-ops included); Applied the highest the
	// store finished.
	Commit, Handed, Applied uint64
	// BusySince is when the batch being applied now started (zero: idle).
	BusySince time.Time
	// StoreError is set once a store transaction failed (disk full, I/O
	// error): the replica then misses entries of its log until a restart
	// rebuilds it. StoreErrorIndex is the first entry of that batch.
	StoreError      error
	StoreErrorIndex uint64
	StoreErrorAt    time.Time
}

// ApplyState reports the replica's progress and store failures.
func (n *Node) ApplyState() ApplyState {
	st := ApplyState{Commit: n.raft.CommitIndex(), Handed: n.raft.AppliedIndex(), Applied: n.fsm.applied.Load()}
	if b := n.fsm.busySince.Load(); b != 0 {
		st.BusySince = time.Unix(0, b)
	}
	if f := n.fsm.storeErr.Load(); f != nil {
		st.StoreError, st.StoreErrorIndex, st.StoreErrorAt = f.err, f.index, f.at
	}
	return st
}
