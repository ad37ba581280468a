package discovery

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/mdns"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

func newPeer(t *testing.T) peer.ID {
	t.Helper()
	_, pub, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestValidClusterName(t *testing.T) {
	for _, ok := range []string{"a", "outlayer-eu", "x1", strings.Repeat("a", 63)} {
		if err := ValidClusterName(ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "-a", "a-", "Upper", "a.b", "a b", strings.Repeat("a", 64), "cluster=x"} {
		if ValidClusterName(bad) == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// Decide: off without a name or when asked; on in dev mode; in production
// on only when no listen address is public (0.0.0.0 standing for every
// interface address).
func TestDecide(t *testing.T) {
	if on, why := Decide(ModeOn, "", true, nil); on || !strings.Contains(why, "no cluster name") {
		t.Errorf("no name: %v %q", on, why)
	}
	if on, _ := Decide(ModeOff, "c", true, nil); on {
		t.Error("--mdns off is on")
	}
	if on, _ := Decide(ModeAuto, "c", true, []string{"/ip4/203.0.113.7/tcp/4001"}); !on {
		t.Error("dev mode is off")
	}
	if on, why := Decide(ModeAuto, "c", false, []string{"/ip4/203.0.113.7/tcp/4001"}); on || !strings.Contains(why, "203.0.113.7") {
		t.Errorf("production on a public address: %v %q", on, why)
	}
	if on, _ := Decide(ModeOn, "c", false, []string{"/ip4/203.0.113.7/tcp/4001"}); !on {
		t.Error("--mdns on is off")
	}
	for _, private := range []string{"/ip4/10.0.0.5/tcp/4001", "/ip4/192.168.1.2/tcp/4001", "/ip4/127.0.0.1/tcp/4001", "/ip6/fd00::1/tcp/4001"} {
		if on, why := Decide(ModeAuto, "c", false, []string{private}); !on {
			t.Errorf("production on %s: off (%s)", private, why)
		}
	}
	ifaces := func(ips ...string) func() []net.IP {
		return func() []net.IP {
			var out []net.IP
			for _, s := range ips {
				out = append(out, net.ParseIP(s))
			}
			return out
		}
	}
	any4 := []string{"/ip4/0.0.0.0/tcp/4001"}
	if got := publicListenAddr(any4, ifaces("127.0.0.1", "10.1.2.3", "2001:db8::1")); got != "" {
		t.Errorf("0.0.0.0 on private IPv4 interfaces: public %q", got)
	}
	if got := publicListenAddr(any4, ifaces("127.0.0.1", "198.51.100.9")); !strings.Contains(got, "198.51.100.9") {
		t.Errorf("0.0.0.0 with a public interface: %q", got)
	}
	if _, err := ParseMode("sometimes"); err == nil {
		t.Error("mode sometimes accepted")
	}
}

// parseEntry keeps only OutLayer answers for this cluster with a peer id
// and a TCP address; everything else on the LAN is dropped.
func TestParseEntry(t *testing.T) {
	p := newPeer(t)
	name := p.String() + "." + Service + ".local."
	entry := func(name string, txt ...string) *mdns.ServiceEntry {
		return &mdns.ServiceEntry{Name: name, InfoFields: txt, AddrV4: net.ParseIP("10.0.0.9"), Port: 4001}
	}
	r, ok := parseEntry(entry(name, "outlayer=1", "cluster=c", "addr=/ip4/10.0.0.9/tcp/4001", "addr=/ip4/10.0.0.9/udp/1", "addr=junk"), "c")
	if !ok || r.Peer != p || len(r.Addrs) != 1 || r.Addrs[0].String() != "/ip4/10.0.0.9/tcp/4001" {
		t.Fatalf("a good answer: %+v %v", r, ok)
	}
	if r, ok := parseEntry(entry(name, "outlayer=1", "cluster=c"), "c"); !ok || r.Addrs[0].String() != "/ip4/10.0.0.9/tcp/4001" {
		t.Errorf("an answer without addr fields (SRV and A only): %+v %v", r, ok)
	}
	for what, e := range map[string]*mdns.ServiceEntry{
		"another cluster":    entry(name, "outlayer=1", "cluster=d", "addr=/ip4/10.0.0.9/tcp/4001"),
		"another service":    entry(name, "cluster=c", "addr=/ip4/10.0.0.9/tcp/4001"),
		"not a peer id":      entry("printer."+Service+".local.", "outlayer=1", "cluster=c", "addr=/ip4/10.0.0.9/tcp/4001"),
		"no usable address":  {Name: name, InfoFields: []string{"outlayer=1", "cluster=c", "addr=/ip4/10.0.0.9/udp/9"}},
		"cluster name guess": entry(name, "outlayer=1", "cluster=c-", "addr=/ip4/10.0.0.9/tcp/4001"),
	} {
		if r, ok := parseEntry(e, "c"); ok {
			t.Errorf("%s accepted: %+v", what, r)
		}
	}
}

// Announce and Lookup on this machine's network: a member is found by its
// cluster's name with its addresses, not by another name, and not while it
// is not a member. Skips where multicast is unavailable (the namespace
// test in consensus covers a LAN).
func TestAnnounceAndLookup(t *testing.T) {
	cluster := fmt.Sprintf("unit-%d", time.Now().UnixNano()%1e9)
	p := newPeer(t)
	var active atomic.Bool
	active.Store(true)
	addr := ma.StringCast("/ip4/127.0.0.1/tcp/4001")
	a, err := Announce(AnnounceConfig{Cluster: cluster, Peer: p, Active: active.Load,
		Addrs: func() []ma.Multiaddr { return []ma.Multiaddr{addr, ma.StringCast("/ip4/127.0.0.1/udp/9")} }})
	if err != nil {
		t.Skipf("no multicast here: %v", err)
	}
	defer a.Close()
	ctx := context.Background()
	var recs []Record
	for range 3 { // one query can be lost; three seconds at most
		if recs, err = Lookup(ctx, cluster, time.Second, nil); err != nil {
			t.Skipf("no multicast here: %v", err)
		}
		if len(recs) > 0 {
			break
		}
	}
	if len(recs) != 1 || recs[0].Peer != p || len(recs[0].Addrs) != 1 || !recs[0].Addrs[0].Equal(addr) {
		t.Fatalf("lookup of %s: %+v", cluster, recs)
	}
	if recs, _ := Lookup(ctx, cluster+"-other", 500*time.Millisecond, nil); len(recs) != 0 {
		t.Errorf("another cluster's lookup found %+v", recs)
	}
	active.Store(false)
	if recs, _ := Lookup(ctx, cluster, 500*time.Millisecond, nil); len(recs) != 0 {
		t.Errorf("an inactive node answered: %+v", recs)
	}
}
