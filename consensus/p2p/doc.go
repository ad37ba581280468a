// Package p2p is a node's libp2p host: its ed25519 identity (given by the
// caller, or kept in the data directory: LoadOrCreateIdentity), TCP with
// Noise, the connection gater that admits only cluster members and joining
// peers, discovery by bootstrap addresses, and a raft.StreamLayer that
// carries the Raft transport over libp2p streams, fails a read or write
// that stops making progress, and ends every Raft stream when it closes.
//
// Limits against strangers: the go-libp2p resource manager with per-peer and
// per-protocol stream and memory limits (limits.go); a stream router that
// lets a non-member negotiate only the HandleAdmitted (join) protocol — no
// identify — with at most MaxStrangerStreams streams; candidate slots capped
// in total and per IP, taken back after HelloWindow if the join protocol is
// not opened, and released on disconnect; frames read with a per-protocol
// cap into a buffer that grows as bytes arrive (ReadJSON). Every refusal is
// counted in outlayer_p2p_refused_total{reason} (Host.Refused).
//
// Nothing here knows about Raft state or the store; the consensus package
// tells the gater who the members are and registers its protocols.
package p2p
