package consensus

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/hashicorp/raft"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/outlayer/outlayer/store"
)

// promoteTimeout bounds one promotion (a configuration change and a
// node-table update).
const promoteTimeout = 30 * time.Second

// voterRecheck is how often the leader looks at the voter count without
// being asked.
const voterRecheck = 5 * time.Second

// requestVoterCheck asks the voter loop to look at the voter count.
func (n *Node) requestVoterCheck() {
	select {
	case n.voterCheck <- struct{}{}:
	default:
	}
}

// voterLoop keeps Config.Voters voters while non-voters are available: when
// a voter leaves, is removed, or the leader changes, the leader promotes
// the longest-serving healthy non-voter. It runs apart from the membership
// refresh so the gater never waits on a configuration commit.
func (n *Node) voterLoop() {
	defer n.wg.Done()
	// Also look now and then: a non-voter that was unreachable when a
	// voter left may come back without any membership change.
	tick := time.NewTicker(voterRecheck)
	defer tick.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-n.voterCheck:
		case <-tick.C:
		}
		if !n.IsLeader() {
			continue
		}
		ctx, cancel := context.WithTimeout(n.ctx, promoteTimeout)
		err := n.keepVoters(ctx)
		cancel()
		if err != nil && n.ctx.Err() == nil {
			n.log.Warn("could not promote a non-voter to keep the voter count", "want_voters", n.cfg.Voters, "err", err)
		}
	}
}

// keepVoters promotes non-voters, one at a time, until the configuration
// has Config.Voters voters or no healthy non-voter is left. It runs on the
// leader, under voterMu so that it and a join never both fill the same
// vacancy.
func (n *Node) keepVoters(ctx context.Context) error {
	n.voterMu.Lock()
	defer n.voterMu.Unlock()
	for {
		p, ok, err := n.promotionCandidate()
		if err != nil || !ok {
			return err
		}
		if err := n.promote(ctx, p); err != nil {
			return err
		}
	}
}

// promotionCandidate picks the non-voter to promote, if the configuration
// lacks voters: the one that joined first (by its node-table record) among
// those this leader is connected to. Non-voters without a record are in the
// middle of joining or being removed and are passed over.
func (n *Node) promotionCandidate() (peer.ID, bool, error) {
	servers, err := n.Servers()
	if err != nil {
		return "", false, err
	}
	voters := 0
	var nonVoters []peer.ID
	for _, s := range servers {
		if s.Voter {
			voters++
		} else {
			nonVoters = append(nonVoters, s.ID)
		}
	}
	if voters >= n.cfg.Voters || len(nonVoters) == 0 {
		return "", false, nil
	}
	records, err := n.store.Nodes()
	if err != nil {
		return "", false, fmt.Errorf("read the node table: %w", err)
	}
	joined := map[peer.ID]time.Time{}
	for _, r := range records {
		if p, err := peer.Decode(r.PeerID); err == nil {
			joined[p] = r.JoinedAt
		}
	}
	type candidate struct {
		id     peer.ID
		joined time.Time
	}
	var cs []candidate
	for _, p := range nonVoters {
		at, ok := joined[p]
		if !ok {
			continue
		}
		if n.host.LibP2P().Network().Connectedness(p) != network.Connected {
			continue
		}
		cs = append(cs, candidate{p, at})
	}
	if len(cs) == 0 {
		return "", false, nil
	}
	slices.SortFunc(cs, func(a, b candidate) int {
		if c := a.joined.Compare(b.joined); c != 0 {
			return c
		}
		return compareStrings(string(a.id), string(b.id))
	})
	return cs[0].id, true, nil
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// promote makes a non-voter a voter: the Raft configuration first (that is
// what counts for quorum), then its role in the node table.
func (n *Node) promote(ctx context.Context, p peer.ID) error {
	id := raft.ServerID(p.String())
	if err := waitFuture(ctx, n.raft.AddVoter(id, raft.ServerAddress(p.String()), 0, futureTimeout(ctx))); err != nil {
		if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
			return fmt.Errorf("%w: promoting %s: %w", ErrNotLeader, p, err)
		}
		return fmt.Errorf("promote %s to voter: %w", p, err)
	}
	n.log.Info("promoted a non-voter to keep the voter count", "peer", p, "want_voters", n.cfg.Voters)
	rec, err := n.store.Node(p.String())
	if err != nil {
		return fmt.Errorf("promoted %s, but reading its node record failed: %w", p, err)
	}
	rec.Role = store.RoleVoter
	if _, err := n.Apply(ctx, &NodeAdd{Node: *rec}); err != nil {
		return fmt.Errorf("promoted %s, but recording its role failed: %w", p, err)
	}
	return nil
}
