package consensus

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/outlayer/outlayer/consensus/discovery"
	"github.com/outlayer/outlayer/consensus/p2p"
)

// joinTarget is one way the operator named a member: a multiaddr with its
// peer id (info set), or an address whose peer id the handshake tells.
type joinTarget struct {
	raw  string
	info *peer.AddrInfo
}

// parseJoinTarget reads a member's multiaddr ending in /p2p/<id>, a
// multiaddr without it, or HOST:PORT.
func parseJoinTarget(s string) (joinTarget, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "/") {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			return joinTarget{}, fmt.Errorf("member address %q is not a multiaddr: %w", s, err)
		}
		if _, last := ma.SplitLast(a); last != nil && last.Protocol().Code == ma.P_P2P {
			info, err := p2p.ParseAddrInfo(s)
			if err != nil {
				return joinTarget{}, err
			}
			return joinTarget{raw: s, info: &info}, nil
		}
		if _, err := a.ValueForProtocol(ma.P_TCP); err != nil {
			return joinTarget{}, fmt.Errorf("member address %q has no /tcp/PORT", s)
		}
		return joinTarget{raw: s}, nil
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil || host == "" || port == "" {
		return joinTarget{}, fmt.Errorf("member address %q: want HOST:PORT, a multiaddr, or a multiaddr ending in /p2p/<peer id>", s)
	}
	return joinTarget{raw: s}, nil
}

// joinCandidate is a member to try, and how it was found.
type joinCandidate struct {
	info   peer.AddrInfo
	source string
}

// resolveTarget turns a target into a member to try; an address without
// a peer id is asked who it is (the Noise handshake proves the answer for
// that address, so it is shown for the operator to confirm).
func (n *Node) resolveTarget(ctx context.Context, t joinTarget) (joinCandidate, error) {
	if t.info != nil {
		return joinCandidate{info: *t.info, source: SourceBootstrap}, nil
	}
	info, err := n.host.PeerAt(ctx, t.raw)
	if err != nil {
		return joinCandidate{}, fmt.Errorf("join through %s: %w", t.raw, err)
	}
	if info.ID == n.host.ID() {
		return joinCandidate{}, fmt.Errorf("join through %s: that is this node's own address", t.raw)
	}
	full := addrStrings(n.withID(info))
	n.log.Warn("learned a member's peer id from its handshake: check that this is the node you meant (the full address names it exactly next time)",
		"address", t.raw, "peer", info.ID, "full_address", strings.Join(full, " "))
	return joinCandidate{info: info, source: SourceHandshake}, nil
}

func (n *Node) withID(info peer.AddrInfo) []ma.Multiaddr {
	out, err := peer.AddrInfoToP2pAddrs(&info)
	if err != nil {
		return nil
	}
	return out
}

// lanCandidates asks the LAN for members of the cluster until some
// answer or the wait ends.
func (n *Node) lanCandidates(ctx context.Context) ([]joinCandidate, error) {
	if n.cfg.Cluster == "" {
		return nil, errors.New("join: no member address and no cluster name given: pass a member's HOST:PORT or multiaddr, or the cluster's name (--cluster) on its LAN")
	}
	if !n.lanOn {
		return nil, fmt.Errorf("join: cannot look for cluster %q on the LAN: LAN discovery is %s; pass a member's HOST:PORT or multiaddr instead", n.cfg.Cluster, n.lanWhy)
	}
	wctx, cancel := context.WithTimeout(ctx, lanJoinWait)
	defer cancel()
	var out []joinCandidate
	err := n.waitUntil(wctx, 200*time.Millisecond, func() bool {
		recs, err := discovery.Lookup(wctx, n.cfg.Cluster, lanLookupWait, n.log)
		if err != nil {
			n.book.count(SourceMDNS, "lookup_failed")
			n.log.Warn("LAN lookup failed", "cluster", n.cfg.Cluster, "err", err)
			return false
		}
		n.book.count(SourceMDNS, "lookup")
		for _, r := range recs {
			if r.Peer != n.host.ID() {
				out = append(out, joinCandidate{info: peer.AddrInfo{ID: r.Peer, Addrs: r.Addrs}, source: SourceMDNS})
			}
		}
		return len(out) > 0
	})
	if err != nil {
		return nil, fmt.Errorf("join: no member of cluster %q answered on the LAN (mDNS) within %v: is a member running with --cluster %s on this network, and does the network pass multicast? Pass a member's HOST:PORT instead: %w",
			n.cfg.Cluster, lanJoinWait, n.cfg.Cluster, err)
	}
	n.log.Info("found members of the cluster on the LAN", "cluster", n.cfg.Cluster, "answers", len(out))
	return out, nil
}

// lanJoinWait bounds looking for a cluster on the LAN before a join.
const lanJoinWait = 15 * time.Second

// LANDiscovery says whether this node announces itself and looks for
// members on the LAN, and why.
func (n *Node) LANDiscovery() string {
	if n.lanOn && n.announcer == nil {
		return n.lanWhy + ", but the mDNS responder did not start: " + n.lanErr
	}
	return n.lanWhy
}

// DiscoveryMetrics is outlayer_discovery_events_total: register it with
// the node's Prometheus registry.
func (n *Node) DiscoveryMetrics() prometheus.Collector { return n.book.events }

// PeerInfo is how this node knows a peer.
type PeerInfo struct {
	ID peer.ID
	// Found is the source that first gave the peer's addresses
	// (Source* constants), Updated the latest.
	Found     string
	FoundAt   time.Time
	Updated   string
	UpdatedAt time.Time
	// Addrs are the addresses this node would dial now.
	Addrs     []string
	Connected bool
}

// Peer describes how this node found p and where it would dial it now.
func (n *Node) Peer(p peer.ID) PeerInfo {
	pi := PeerInfo{ID: p, Addrs: addrStrings(n.host.PeerAddrs(p))}
	if p == n.host.ID() {
		pi.Addrs = addrStrings(n.host.ListenAddrs())
		pi.Connected = true
		pi.Found = "self"
		return pi
	}
	pi.Connected = n.host.LibP2P().Network().Connectedness(p) == network.Connected
	if e, ok := n.book.entry(p); ok {
		pi.Found, pi.FoundAt, pi.Updated, pi.UpdatedAt = e.found, e.foundAt, e.updated, e.updatedAt
	}
	slices.Sort(pi.Addrs)
	return pi
}

// startAnnouncer answers LAN queries for the cluster while this node is a
// member. A responder that cannot start (no multicast) is logged, not
// fatal: the node still works by addresses.
func (n *Node) startAnnouncer() {
	a, err := discovery.Announce(discovery.AnnounceConfig{
		Cluster: n.cfg.Cluster,
		Peer:    n.host.ID(),
		Addrs:   n.host.ListenAddrs,
		Active:  n.inCluster,
		Logger:  n.log.With("component", "mdns"),
	})
	if err != nil {
		n.lanErr = err.Error()
		n.log.Warn("LAN discovery unavailable; members are found by address only", "err", err)
		return
	}
	n.announcer = a
}
