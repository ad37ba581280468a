// Package consensus replicates the coordinator state with Raft over libp2p:
// the command table (the typed, versioned commands and how each applies to
// store), the FSM that applies them, snapshots, membership, and one path
// that carries writes, reads and join steps to the leader.
//
// The daemon opens one Node per process:
//
//	n, err := consensus.Open(ctx, consensus.Config{DataDir: dir, ListenAddrs: []string{"/ip4/0.0.0.0/tcp/4001"}})
//	err = n.Bootstrap(ctx)                      // first node of a new cluster
//	err = n.Join(ctx, "/ip4/10.0.0.1/tcp/4001/p2p/12D3Koo...") // any member
//	err = n.Join(ctx, "10.0.0.1:4001")          // peer id from its handshake
//	err = n.Join(ctx)                           // Config.Cluster, on the LAN
//	res, err := n.Apply(ctx, &consensus.Enqueue{Requests: reqs, Cursor: &cur})
//	err = n.LinearizableRead(ctx); job, err := n.Store().Get(id)
//	leading := n.LeaderCh()                     // start/stop leader-only loops
//
// Writes from any node are forwarded to the leader; reads are local.
// Outside dev mode the node's identity is in memory only, new at every
// start: Rejoin reports that the data directory held an earlier identity,
// and Join then replaces it. See DESIGN.md for the node identity, the
// transport, discovery, the command format, membership, read
// consistency, time in the FSM and snapshots.
package consensus
