package consensus

import "fmt"

// Subscribe returns a channel that receives true when this node becomes
// leader and false when it stops being leader, so the daemon can start and
// stop leader-only loops. Only the latest value matters: a slow reader
// sees the current state, not every flap. cancel releases the channel.
func (n *Node) Subscribe() (<-chan bool, func()) {
	ch := make(chan bool, 1)
	n.subsMu.Lock()
	n.subs[ch] = struct{}{}
	n.subsMu.Unlock()
	if n.IsLeader() {
		ch <- true
	}
	return ch, func() {
		n.subsMu.Lock()
		delete(n.subs, ch)
		n.subsMu.Unlock()
	}
}

// LeaderCh is Subscribe for callers that keep the channel for the life of
// the node.
func (n *Node) LeaderCh() <-chan bool {
	ch, _ := n.Subscribe()
	return ch
}

func (n *Node) leadershipLoop() {
	defer n.wg.Done()
	for {
		select {
		case <-n.ctx.Done():
			return
		case leader := <-n.notify:
			n.log.Info("leadership changed", "leader", leader, "peer", n.host.ID())
			if leader {
				n.requestVoterCheck()
			}
			n.subsMu.Lock()
			for ch := range n.subs {
				select {
				case <-ch:
				default:
				}
				ch <- leader
			}
			n.subsMu.Unlock()
		}
	}
}

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
