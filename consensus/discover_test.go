package consensus

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/outlayer/outlayer/consensus/p2p"
	"github.com/outlayer/outlayer/store"
)

// TestJoinByHostPort: a node joins through HOST:PORT and through a
// multiaddr without /p2p; the peer id comes from the member's handshake,
// and status says so. Bad addresses are refused before anything is dialled.
func TestJoinByHostPort(t *testing.T) {
	c := newTestCluster(t, nil)
	c.bootstrap(1)
	ctx := ctxT(t, time.Minute)
	member := c.node(0)
	port := c.ports[0]

	for _, bad := range []string{"127.0.0.1", "/ip4/127.0.0.1", "/ip4/127.0.0.1/tcp/1/p2p/notapeer", ":4001", "host:"} {
		if _, err := parseJoinTarget(bad); err == nil {
			t.Errorf("join target %q accepted", bad)
		}
	}
	for i, target := range []string{"127.0.0.1:" + port, "/ip4/127.0.0.1/tcp/" + port} {
		j := c.add()
		if err := c.node(j).Join(ctx, target); err != nil {
			t.Fatalf("join through %s: %v", target, err)
		}
		pi := c.node(j).Peer(member.PeerID())
		if pi.Found != SourceHandshake {
			t.Errorf("joiner %d found the member by %q, want %q", i, pi.Found, SourceHandshake)
		}
		waitFor(t, 10*time.Second, "the member sees the joiner", func() bool { return slices.Contains(serverIDs(t, member), c.node(j).PeerID()) })
	}
	// Nothing listens there: a clear error, not a hang.
	j := c.add()
	err := c.node(j).Join(ctx, "127.0.0.1:1")
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Fatalf("join through a closed port: %v", err)
	}
	// Its own address is not a member to join through.
	if err := c.node(j).Join(ctx, "127.0.0.1:"+c.ports[j]); err == nil || !strings.Contains(err.Error(), "own address") {
		t.Fatalf("join through its own address: %v", err)
	}
}

func serverIDs(t testing.TB, n *Node) []peer.ID {
	t.Helper()
	s, err := n.Servers()
	if err != nil {
		t.Fatal(err)
	}
	var out []peer.ID
	for _, srv := range s {
		out = append(out, srv.ID)
	}
	return out
}

// TestMovedMemberIsFoundAgain: a member restarted on another port is found
// again by the others through the address exchange (here a non-voter,
// which never dials the leader on Raft's behalf), within a bound, with no
// operator action and no peers.json edit; the leader's peers.json then
// holds the new address and not the old one.
func TestMovedMemberIsFoundAgain(t *testing.T) {
	c := newTestCluster(t, func(cfg *Config) { cfg.Voters = 1; cfg.AddrInterval = 500 * time.Millisecond })
	c.bootstrap(2)
	ctx := ctxT(t, 90*time.Second)
	l, m := 0, 1
	if c.leader() != l {
		t.Fatalf("leader is node %d, want 0", c.leader())
	}
	old := c.addrOf(m)
	c.stop(m)
	c.ports[m] = "0" // comes back on a port of the kernel's choosing
	start := time.Now()
	c.start(m)
	moved := c.addrOf(m)
	if moved == old {
		t.Fatalf("restarted on the same address %s", old)
	}
	waitFor(t, 20*time.Second, "the leader dials the member's new address", func() bool {
		return slices.Contains(c.node(l).Peer(c.node(m).PeerID()).Addrs, moved)
	})
	if _, err := c.node(l).Apply(ctx, &Enqueue{Requests: []store.Request{testRequest(1)}}); err != nil {
		t.Fatal(err)
	}
	c.waitReplicated(1, store.StatusQueued)
	took := time.Since(start)
	t.Logf("member moved from %s to %s; replicating to it again %v after its restart", old, moved, took.Round(time.Millisecond))
	if took > 20*time.Second {
		t.Errorf("found again after %v", took)
	}
	pi := c.node(l).Peer(c.node(m).PeerID())
	if slices.Contains(pi.Addrs, old) {
		t.Errorf("the leader still dials the old address %s: %v", old, pi.Addrs)
	}
	if pi.Updated != SourceExchange {
		t.Errorf("the new address came from %q, want %q", pi.Updated, SourceExchange)
	}
	waitFor(t, 10*time.Second, "peers.json follows the member", func() bool {
		book := readPeersFile(t, c.dirs[l])
		as := book[c.node(m).PeerID().String()]
		return slices.Contains(as, moved) && !slices.Contains(as, old)
	})
}

// addrOf is node i's loopback transport address (no /p2p).
func (c *testCluster) addrOf(i int) string {
	return c.node(i).host.ListenAddrs()[0].String()
}

func readPeersFile(t testing.TB, dir string) map[string][]string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, peersFile))
	if err != nil {
		return nil
	}
	var book map[string][]string
	if err := json.Unmarshal(raw, &book); err != nil {
		t.Fatalf("peers.json: %v", err)
	}
	return book
}

// The address exchange's limits: a member's frame over maxAddrsMessage is
// refused with nothing learned, and at most maxPeerAddrs addresses are
// taken for one peer from one message.
func TestAddrExchangeLimits(t *testing.T) {
	c := newTestCluster(t, nil)
	c.bootstrap(2)
	ctx := ctxT(t, time.Minute)
	a, b := c.node(0), c.node(1)
	send := func(m addrsMessage) error {
		s, err := b.host.NewStream(ctx, a.PeerID(), AddrsProtocol)
		if err != nil {
			return err
		}
		defer s.Close()
		if err := p2p.WriteJSON(s, m, maxFrame); err != nil {
			return err
		}
		var out addrsMessage
		return p2p.ReadJSON(s, &out, maxAddrsMessage)
	}
	before := a.Peer(b.PeerID()).Addrs
	huge := addrsMessage{Self: []string{"/ip4/10.9.9.9/tcp/1"}, Members: map[string][]string{"x": {strings.Repeat("a", maxAddrsMessage)}}}
	if err := send(huge); err == nil {
		t.Fatal("a frame over the limit was answered")
	}
	if got := a.Peer(b.PeerID()).Addrs; !slices.Equal(got, before) {
		t.Fatalf("addresses changed by a refused frame: %v -> %v", before, got)
	}
	many := addrsMessage{}
	for i := range 100 {
		many.Self = append(many.Self, "/ip4/10.9.9.9/tcp/"+strconv.Itoa(1000+i))
	}
	// b's own address exchanges (queued when the two connected) also
	// report b's addresses, and a report about oneself replaces what was
	// known: one landing just after ours leaves b's single real address.
	// So send until ours is the last word, and check every time that no
	// more than maxPeerAddrs were taken.
	waitFor(t, 20*time.Second, "a to hold the addresses of b's last report", func() bool {
		if err := send(many); err != nil {
			t.Fatal(err)
		}
		got := a.Peer(b.PeerID()).Addrs
		if len(got) > maxPeerAddrs {
			t.Fatalf("took %d addresses from one message, want at most %d", len(got), maxPeerAddrs)
		}
		return len(got) == maxPeerAddrs
	})
}
