package consensus

import (
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/outlayer/outlayer/store"
)

// voterSet returns the voters and non-voters of node i's configuration.
func (c *testCluster) voterSet(i int) (voters, nonVoters map[peer.ID]bool) {
	c.t.Helper()
	servers, err := c.node(i).Servers()
	if err != nil {
		c.t.Fatal(err)
	}
	voters, nonVoters = map[peer.ID]bool{}, map[peer.ID]bool{}
	for _, s := range servers {
		if s.Voter {
			voters[s.ID] = true
		} else {
			nonVoters[s.ID] = true
		}
	}
	return voters, nonVoters
}

// With five nodes and Voters=3, a voter that leaves is replaced by the
// longest-serving non-voter, and a voter the operator removes by the next
// one, skipping a non-voter the leader cannot reach. The node table follows.
func TestLeaderPromotesNonVotersToKeepTheVoterCount(t *testing.T) {
	c := newTestCluster(t, func(cfg *Config) { cfg.Voters = 3 })
	c.bootstrap(5) // nodes join in order: 0-2 voters, 3 and 4 non-voters
	ctx := ctxT(t, 120*time.Second)
	l := c.leader()
	id := func(i int) peer.ID { return c.node(i).PeerID() }
	voters, nonVoters := c.voterSet(l)
	if len(voters) != 3 || !nonVoters[id(3)] || !nonVoters[id(4)] {
		t.Fatalf("start: voters %v, non-voters %v; want 0-2 voting, 3 and 4 not", voters, nonVoters)
	}
	waitRole := func(i int, p peer.ID, want store.Role) {
		t.Helper()
		waitFor(t, 20*time.Second, "node table role "+string(want)+" for "+p.String(), func() bool {
			rec, err := c.node(i).Store().Node(p.String())
			return err == nil && rec.Role == want
		})
	}

	// A voting follower leaves: node 3 (joined before 4) takes its place.
	leaving := -1
	for i := 0; i < 3; i++ {
		if i != l {
			leaving = i
			break
		}
	}
	if err := c.node(leaving).Leave(ctx); err != nil {
		t.Fatalf("leave: %v", err)
	}
	c.stop(leaving)
	waitFor(t, 30*time.Second, "node 3 promoted after a voter left", func() bool {
		v, nv := c.voterSet(l)
		return len(v) == 3 && v[id(3)] && nv[id(4)] && len(nv) == 1
	})
	waitRole(l, id(3), store.RoleVoter)

	// Cut node 4 off from everyone, then the operator removes a voter:
	// node 4 is the only non-voter and unreachable, so nobody is promoted
	// until it is back.
	var others []int
	for i := range c.nodes {
		if c.node(i) != nil && i != 4 {
			others = append(others, i)
		}
	}
	c.cut(4, others...)
	removed := -1
	for _, i := range others {
		if i != l && i != 3 {
			removed = i
		}
	}
	removedID := id(removed)
	if err := c.node(l).Remove(ctx, removedID); err != nil {
		t.Fatalf("remove node %d: %v", removed, err)
	}
	c.stop(removed)
	waitFor(t, 20*time.Second, "the removal to take effect", func() bool {
		v, _ := c.voterSet(l)
		return !v[removedID]
	})
	if v, nv := c.voterSet(l); len(v) != 2 || !nv[id(4)] {
		t.Fatalf("after removing a voter with the only non-voter cut off: voters %v, non-voters %v; want 2 voters and 4 still waiting", v, nv)
	}

	// Node 4 comes back: the leader promotes it without being asked.
	var live []int
	for _, i := range others {
		if i != removed {
			live = append(live, i)
		}
	}
	c.heal(4, live...)
	waitFor(t, 40*time.Second, "node 4 promoted once reachable", func() bool {
		v, _ := c.voterSet(l)
		return len(v) == 3 && v[id(4)]
	})
	waitRole(l, id(4), store.RoleVoter)
	if _, err := c.node(4).Apply(ctx, &Enqueue{Requests: []store.Request{testRequest(1)}}); err != nil {
		t.Fatalf("write through the promoted node: %v", err)
	}
}
