// Package p2p is a node's libp2p host: its persistent ed25519 identity, TCP
// with Noise, the connection gater that admits only cluster members and
// joining peers, discovery by bootstrap addresses, and a raft.StreamLayer that
// carries the Raft transport over libp2p streams.
//
// Nothing here knows about Raft state or the store; the consensus package
// tells the gater who the members are and registers its protocols.
package p2p
