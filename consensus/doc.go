// Package consensus replicates the coordinator state with Raft: the FSM that
// applies typed, versioned commands to store, snapshots, membership, leader
// forwarding, and the libp2p host that carries all node-to-node traffic.
package consensus
