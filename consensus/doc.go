// Package consensus replicates the coordinator state with Raft: the FSM that
// applies typed, versioned commands to store, snapshots, membership, leader
// forwarding, and the libp2p host that carries all node-to-node traffic.
//
// The daemon opens one Node per process:
//
//	n, err := consensus.Open(ctx, consensus.Config{DataDir: dir, ListenAddrs: []string{"/ip4/0.0.0.0/tcp/4001"}})
//	err = n.Bootstrap(ctx)                      // first node of a new cluster
//	err = n.Join(ctx, "/ip4/10.0.0.1/tcp/4001/p2p/12D3Koo...") // any member
//	res, err := n.Apply(ctx, &consensus.Enqueue{Requests: reqs, Cursor: &cur})
//	err = n.LinearizableRead(ctx); job, err := n.Store().Get(id)
//	leading := n.LeaderCh()                     // start/stop leader-only loops
//
// Writes from any node are forwarded to the leader; reads are local. See
// DESIGN.md for the transport, the command format, membership, read
// consistency, time in the FSM and snapshots.
package consensus
