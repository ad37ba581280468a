package consensus

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/outlayer/outlayer/consensus/p2p"
	"github.com/outlayer/outlayer/store"
)

// netnsEnv marks the copy of the test binary that runs inside the network
// namespace the parent test created.
const netnsEnv = "OUTLAYER_TEST_IN_NETNS"

// lanSecret is the dev join secret of the LAN test cluster (dev mode needs
// one to listen beyond loopback).
var lanSecret = []byte("the LAN test cluster's secret")

// TestLANDiscovery runs in a network namespace of its own: the test binary
// re-runs itself with CLONE_NEWNET (so nothing is left behind if it dies),
// builds a LAN there — a veth pair, 10.77.0.1/24 and 10.77.0.2-5/24 on its
// two ends, multicast routed onto it — and runs real nodes on it with mDNS.
// All nodes share the namespace's stack: the multicast packets are real,
// the two "hosts" are the two ends of one veth link. It skips (saying why)
// where a namespace cannot be made (not root, no CLONE_NEWNET, no ip).
func TestLANDiscovery(t *testing.T) {
	if os.Getenv(netnsEnv) == "" {
		runInNetns(t)
		return
	}
	setupLAN(t)
	t.Run("JoinByClusterName", testJoinByClusterName)
	t.Run("MembersThatAllMovedFindEachOther", testAllMoved)
	t.Run("StrangerGetsOnlyTheJoinHandshake", testStrangerOnLAN)
}

func runInNetns(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the LAN test builds a network namespace and runs nodes in it")
	}
	if os.Geteuid() != 0 {
		t.Skip("LAN discovery test skipped: creating a network namespace needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN); the address exchange is tested on loopback by TestMovedMemberIsFoundAgain")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("LAN discovery test skipped: iproute2's ip is not installed")
	}
	args := []string{"-test.run=^TestLANDiscovery$", "-test.count=1", "-test.timeout=5m"}
	if testing.Verbose() {
		args = append(args, "-test.v")
	}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), netnsEnv+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Skipf("LAN discovery test skipped: cannot start a process in a new network namespace: %v", err)
	}
	t.Log("in the namespace:\n" + out.String())
	if err != nil {
		t.Fatalf("the test in the network namespace failed: %v", err)
	}
	if strings.Contains(out.String(), "--- SKIP") || !strings.Contains(out.String(), "PASS") {
		t.Fatal("the test in the network namespace did not run")
	}
}

func setupLAN(t *testing.T) {
	for _, args := range [][]string{
		{"link", "set", "lo", "up"},
		{"link", "add", "lan0", "type", "veth", "peer", "name", "lan1"},
		{"addr", "add", "10.77.0.1/24", "dev", "lan0"},
		{"addr", "add", "10.77.0.2/24", "dev", "lan1"},
		{"addr", "add", "10.77.0.3/24", "dev", "lan1"},
		{"addr", "add", "10.77.0.4/24", "dev", "lan1"},
		{"addr", "add", "10.77.0.5/24", "dev", "lan1"},
		{"link", "set", "lan0", "up"},
		{"link", "set", "lan1", "up"},
		{"route", "add", "224.0.0.0/4", "dev", "lan0"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Skipf("LAN discovery test skipped: ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	// The veth ends take a moment to come up (IPv6 DAD does not matter:
	// everything here is IPv4).
	waitFor(t, 10*time.Second, "the veth link up", func() bool {
		out, err := exec.Command("ip", "-br", "link", "show", "lan0").Output()
		return err == nil && strings.Contains(string(out), "UP")
	})
}

// lanNode opens a dev node on the LAN test network.
func lanNode(t *testing.T, dir, ip string, secret []byte, tune func(*Config)) *Node {
	t.Helper()
	cfg := Config{
		DataDir: dir, ListenAddrs: []string{"/ip4/" + ip + "/tcp/0"}, DevMode: true, DevJoinSecret: secret,
		Cluster: "lan-test", AddrInterval: 500 * time.Millisecond, Raft: fastRaft(),
		Logger: testLogger().With("node", filepath.Base(dir)),
	}
	if tune != nil {
		tune(&cfg)
	}
	n, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("open %s: %v", dir, err)
	}
	t.Cleanup(func() { _ = n.Close() })
	if n.announcer == nil {
		t.Fatalf("%s: no mDNS responder: %s", dir, n.LANDiscovery())
	}
	return n
}

func testJoinByClusterName(t *testing.T) {
	base := t.TempDir()
	ctx := ctxT(t, 2*time.Minute)
	a := lanNode(t, filepath.Join(base, "a"), "10.77.0.1", lanSecret, nil)
	if err := a.Bootstrap(ctx); err != nil {
		t.Fatal(err)
	}
	b := lanNode(t, filepath.Join(base, "b"), "10.77.0.2", lanSecret, nil)
	start := time.Now()
	if err := b.Join(ctx); err != nil { // no address: the cluster's name
		t.Fatalf("join by cluster name: %v", err)
	}
	t.Logf("joined by cluster name in %v", time.Since(start).Round(time.Millisecond))
	if pi := b.Peer(a.PeerID()); pi.Found != SourceMDNS || !slices.Contains(pi.Addrs, a.host.ListenAddrs()[0].String()) {
		t.Errorf("the joiner knows the member as %+v, want found by mdns at %s", pi, a.host.ListenAddrs()[0])
	}
	if !slices.Contains(serverIDs(t, a), b.PeerID()) {
		t.Fatalf("the member's configuration lacks the joiner: %v", serverIDs(t, a))
	}
	if got := testutil.ToFloat64(b.book.events.WithLabelValues(SourceMDNS, "lookup")); got < 1 {
		t.Errorf("lookups counted: %v", got)
	}
}

// testAllMoved: both members of a cluster stop and come back on new ports
// (the leader last), so each one's peers.json names only dead addresses.
// They find each other on the LAN, the leader replicates to the other
// again, and peers.json follows, with no operator action.
func testAllMoved(t *testing.T) {
	base := t.TempDir()
	ctx := ctxT(t, 2*time.Minute)
	voters1 := func(c *Config) { c.Voters = 1 }
	dirA, dirB := filepath.Join(base, "a"), filepath.Join(base, "b")
	a := lanNode(t, dirA, "10.77.0.1", lanSecret, voters1)
	if err := a.Bootstrap(ctx); err != nil {
		t.Fatal(err)
	}
	b := lanNode(t, dirB, "10.77.0.2", lanSecret, voters1)
	if err := b.Join(ctx, a.Addrs()[0].String()); err != nil {
		t.Fatal(err)
	}
	oldA, oldB := a.host.ListenAddrs()[0].String(), b.host.ListenAddrs()[0].String()
	_ = a.Close()
	_ = b.Close()

	start := time.Now()
	b = lanNode(t, dirB, "10.77.0.3", lanSecret, voters1) // another IP, too
	a = lanNode(t, dirA, "10.77.0.1", lanSecret, voters1)
	newA, newB := a.host.ListenAddrs()[0].String(), b.host.ListenAddrs()[0].String()
	if newA == oldA || newB == oldB {
		t.Fatalf("a node came back on its old address: %s %s", newA, newB)
	}
	waitFor(t, 30*time.Second, "the leader elected again", a.IsLeader)
	waitFor(t, 30*time.Second, "each finds the other's new address", func() bool {
		return slices.Contains(a.Peer(b.PeerID()).Addrs, newB) && slices.Contains(b.Peer(a.PeerID()).Addrs, newA)
	})
	if _, err := a.Apply(ctx, &Enqueue{Requests: []store.Request{testRequest(7)}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the moved non-voter replicates again", func() bool {
		j, err := b.Store().Get(7)
		return err == nil && j.Status == store.StatusQueued
	})
	t.Logf("both moved (%s -> %s, %s -> %s); replicating again %v after the restarts", oldA, newA, oldB, newB, time.Since(start).Round(time.Millisecond))
	if pi := a.Peer(b.PeerID()); slices.Contains(pi.Addrs, oldB) {
		t.Errorf("the leader still dials the non-voter's old address: %+v", pi)
	}
	if got := testutil.ToFloat64(a.book.events.WithLabelValues(SourceExchange, "moved")) + testutil.ToFloat64(b.book.events.WithLabelValues(SourceExchange, "moved")); got < 1 {
		t.Errorf("moves counted: %v", got)
	}
	waitFor(t, 10*time.Second, "peers.json follows", func() bool {
		return slices.Contains(readPeersFile(t, dirA)[b.PeerID().String()], newB)
	})
}

// testStrangerOnLAN: a node of another cluster that announces the same
// cluster name is ignored by members (not a member, not in their address
// book or peers.json); a joiner without the cluster's secret that finds
// the cluster by name is refused at the join handshake with nothing
// changed; and a stranger connected to a member can open the join
// protocol and nothing else.
func testStrangerOnLAN(t *testing.T) {
	base := t.TempDir()
	ctx := ctxT(t, 2*time.Minute)
	a := lanNode(t, filepath.Join(base, "a"), "10.77.0.1", lanSecret, nil)
	if err := a.Bootstrap(ctx); err != nil {
		t.Fatal(err)
	}
	// A cluster of its own under the same name (a node announces only
	// while it is a member of some cluster).
	s := lanNode(t, filepath.Join(base, "stranger"), "10.77.0.4", []byte("the stranger's own secret"), nil)
	if err := s.Bootstrap(ctx); err != nil {
		t.Fatal(err)
	}
	var found int
	waitFor(t, 20*time.Second, "the member hears the stranger's announcement", func() bool {
		found = a.lookupMembers(ctx)
		return testutil.ToFloat64(a.book.events.WithLabelValues(SourceMDNS, "ignored")) >= 1
	})
	if found != 0 {
		t.Errorf("the member took %d LAN answers as members", found)
	}
	if a.host.Gater().IsMember(s.PeerID()) || len(a.host.PeerAddrs(s.PeerID())) > 0 {
		t.Fatalf("the member admitted or recorded the stranger: member=%v addrs=%v", a.host.Gater().IsMember(s.PeerID()), a.host.PeerAddrs(s.PeerID()))
	}
	if _, ok := readPeersFile(t, a.cfg.DataDir)[s.PeerID().String()]; ok {
		t.Fatal("the stranger is in the member's peers.json")
	}

	// A joiner with a wrong secret finds both by name; whichever it tries
	// refuses it, and the member's cluster is unchanged.
	before := a.raft.LastIndex()
	j := lanNode(t, filepath.Join(base, "joiner"), "10.77.0.5", []byte("a wrong join secret"), nil)
	err := j.Join(ctx)
	if !errors.Is(err, ErrJoinRefused) {
		t.Fatalf("join with a wrong secret by cluster name: %v, want ErrJoinRefused", err)
	}
	if got := serverIDs(t, a); len(got) != 1 || a.raft.LastIndex() != before {
		t.Fatalf("the refused join changed the cluster: servers %v, last index %d -> %d", got, before, a.raft.LastIndex())
	}

	// Connected to the member as a stranger: the join protocol opens,
	// nothing else does.
	s.host.Gater().Allow(a.PeerID(), time.Minute)
	s.host.AddAddrs(a.PeerID(), a.host.ListenAddrs())
	js, err := s.host.NewStream(ctx, a.PeerID(), JoinProtocol)
	if err != nil {
		t.Fatalf("a stranger could not even open the join protocol: %v", err)
	}
	_ = js.Close()
	for _, proto := range []protocol.ID{AddrsProtocol, RPCProtocol, p2p.RaftProtocol, "/ipfs/id/1.0.0"} {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		st, err := s.host.NewStream(sctx, a.PeerID(), proto)
		cancel()
		if err == nil {
			_ = st.Reset()
			t.Errorf("a stranger opened %s on a member", proto)
		}
	}
	if pi := a.Peer(s.PeerID()); pi.Found != "" {
		t.Errorf("the member's address book has the stranger: %+v", pi)
	}
}
