package consensus

import "fmt"

// HandOffLeadership asks Raft to transfer leadership to the most up-to-date
// voter and waits for the transfer, so a leader that is shutting down (but
// staying a member) does not leave the cluster leaderless for an election
// timeout. It fails with ErrNotLeader on a follower.
//
// Added by the daemon (graceful shutdown); Leave does the same before it
// removes the node.
func (n *Node) HandOffLeadership() error {
	if !n.IsLeader() {
		return ErrNotLeader
	}
	if err := n.raft.LeadershipTransfer().Error(); err != nil {
		return fmt.Errorf("leadership transfer: %w", err)
	}
	return nil
}
