package discovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/mdns"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/miekg/dns"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/outlayer/outlayer/consensus/p2p"
)

// Service is the DNS-SD service every OutLayer node answers for; the
// cluster's name is in a TXT record, so one query finds a cluster's members
// and nodes of other clusters are told apart by it.
const Service = "_outlayer._tcp"

// maxAnnouncedAddrs bounds the addresses in one announcement (each is a TXT
// string; an mDNS answer must fit in one datagram).
const maxAnnouncedAddrs = 8

// clusterName is what a cluster may be called: a DNS label.
var clusterName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// ValidClusterName reports whether name can name a cluster: 1-63 lower-case
// letters, digits and inner hyphens.
func ValidClusterName(name string) error {
	if !clusterName.MatchString(name) {
		return fmt.Errorf("cluster name %q: use 1-63 lower-case letters, digits and hyphens (not at either end)", name)
	}
	return nil
}

// Record is one node found on the local network.
type Record struct {
	Peer    peer.ID
	Cluster string
	// Addrs are the node's libp2p transport addresses (no /p2p part).
	Addrs []ma.Multiaddr
}

// AnnounceConfig describes what a member announces.
type AnnounceConfig struct {
	Cluster string
	Peer    peer.ID
	// Addrs returns the node's current listen addresses; it is asked on
	// every query, so an announcement follows the node.
	Addrs func() []ma.Multiaddr
	// Active reports whether to answer at all (a node answers only while
	// it is a member); nil means always.
	Active func() bool
	Logger *slog.Logger
}

// Announcer answers mDNS queries for a member until Close.
type Announcer struct {
	srv *mdns.Server
}

// Announce starts answering mDNS queries for cfg's cluster. It fails when
// no multicast listener can be opened (no multicast route, port 5353 held
// without address reuse).
func Announce(cfg AnnounceConfig) (*Announcer, error) {
	if err := ValidClusterName(cfg.Cluster); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	z := &zone{cfg: cfg, log: log}
	srv, err := mdns.NewServer(&mdns.Config{Zone: z, Logger: slog.NewLogLogger(log.Handler(), slog.LevelDebug)})
	if err != nil {
		return nil, fmt.Errorf("discovery: start the mDNS responder for cluster %q: %w", cfg.Cluster, err)
	}
	return &Announcer{srv: srv}, nil
}

// Close stops answering.
func (a *Announcer) Close() error {
	if a == nil || a.srv == nil {
		return nil
	}
	return a.srv.Shutdown()
}

// zone builds the answer from the node's addresses at the time of the
// query, and answers nothing while the node is not a member.
type zone struct {
	cfg AnnounceConfig
	log *slog.Logger
}

func (z *zone) Records(q dns.Question) []dns.RR {
	if z.cfg.Active != nil && !z.cfg.Active() {
		return nil
	}
	svc, err := service(z.cfg.Cluster, z.cfg.Peer, z.cfg.Addrs())
	if err != nil {
		z.log.Debug("nothing to announce", "err", err)
		return nil
	}
	return svc.Records(q)
}

// service is the DNS-SD description of one node: instance = peer id,
// SRV/A/AAAA from its first routable address, TXT with the cluster and
// every address.
func service(cluster string, p peer.ID, addrs []ma.Multiaddr) (*mdns.MDNSService, error) {
	addrs = announceable(addrs)
	if len(addrs) == 0 {
		return nil, errors.New("no TCP listen address to announce")
	}
	var ips []net.IP
	port := 0
	txt := []string{"outlayer=1", "cluster=" + cluster}
	for _, a := range addrs {
		ip, err := manet.ToIP(a)
		if err != nil {
			continue
		}
		if port == 0 {
			if ps, err := a.ValueForProtocol(ma.P_TCP); err == nil {
				_, _ = fmt.Sscanf(ps, "%d", &port)
			}
		}
		ips = append(ips, ip)
		txt = append(txt, "addr="+a.String())
	}
	if port == 0 || len(ips) == 0 {
		return nil, errors.New("no TCP listen address to announce")
	}
	return mdns.NewMDNSService(p.String(), Service, "local.", p.String()+".local.", port, ips, txt)
}

// announceable keeps TCP addresses with an IP, routable ones first;
// loopback is announced only when there is nothing else (a node on one
// machine's loopback is still found by nodes on the same machine).
func announceable(addrs []ma.Multiaddr) []ma.Multiaddr {
	var routable, loop []ma.Multiaddr
	for _, a := range addrs {
		a = p2p.TransportAddr(a)
		if _, err := a.ValueForProtocol(ma.P_TCP); err != nil {
			continue
		}
		ip, err := manet.ToIP(a)
		if err != nil || ip.IsUnspecified() {
			continue
		}
		if ip.IsLoopback() {
			loop = append(loop, a)
		} else {
			routable = append(routable, a)
		}
	}
	if len(routable) == 0 {
		routable = loop
	}
	if len(routable) > maxAnnouncedAddrs {
		routable = routable[:maxAnnouncedAddrs]
	}
	return routable
}

// Lookup asks the local network for members of cluster and collects the
// answers that arrive within wait (one query; mDNS responders answer at
// once). Answers for other clusters, from other services and with
// unreadable fields are dropped. It returns an error only when no query
// could be sent.
func Lookup(ctx context.Context, cluster string, wait time.Duration, log *slog.Logger) ([]Record, error) {
	if err := ValidClusterName(cluster); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// The client keeps filling an entry it has already sent as more
	// answers arrive, so entries are only collected here and read once
	// the query is over.
	entries := make(chan *mdns.ServiceEntry, 64)
	var got []*mdns.ServiceEntry
	done := make(chan struct{})
	go func() {
		defer close(done)
		for e := range entries {
			got = append(got, e)
		}
	}()
	err := mdns.QueryContext(ctx, &mdns.QueryParam{
		Service: Service,
		Domain:  "local",
		Timeout: wait,
		Entries: entries,
		Logger:  slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	})
	close(entries)
	<-done
	if err != nil {
		return nil, fmt.Errorf("discovery: mDNS query for cluster %q: %w", cluster, err)
	}
	found := map[peer.ID]*Record{}
	for _, e := range got {
		r, ok := parseEntry(e, cluster)
		if !ok {
			continue
		}
		if old, seen := found[r.Peer]; seen {
			for _, a := range r.Addrs {
				if !slices.ContainsFunc(old.Addrs, a.Equal) {
					old.Addrs = append(old.Addrs, a)
				}
			}
		} else {
			found[r.Peer] = &r
		}
	}
	out := make([]Record, 0, len(found))
	for _, r := range found {
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b Record) int { return strings.Compare(string(a.Peer), string(b.Peer)) })
	return out, nil
}

// parseEntry reads one answer: it must be an OutLayer node of this
// cluster with a peer id for an instance name and at least one address.
func parseEntry(e *mdns.ServiceEntry, cluster string) (Record, bool) {
	instance, _, _ := strings.Cut(e.Name, ".")
	p, err := peer.Decode(instance)
	if err != nil {
		return Record{}, false
	}
	r := Record{Peer: p}
	ours := false
	for _, f := range e.InfoFields {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "outlayer":
			ours = v == "1"
		case "cluster":
			r.Cluster = v
		case "addr":
			a, err := ma.NewMultiaddr(v)
			if err != nil {
				continue
			}
			if _, err := a.ValueForProtocol(ma.P_TCP); err != nil {
				continue
			}
			if _, err := manet.ToIP(a); err != nil {
				continue
			}
			if len(r.Addrs) < maxAnnouncedAddrs {
				r.Addrs = append(r.Addrs, p2p.TransportAddr(a))
			}
		}
	}
	if !ours || r.Cluster != cluster {
		return Record{}, false
	}
	if len(r.Addrs) == 0 && e.AddrV4 != nil && e.Port > 0 {
		if a, err := manet.FromNetAddr(&net.TCPAddr{IP: e.AddrV4, Port: e.Port}); err == nil {
			r.Addrs = append(r.Addrs, a)
		}
	}
	return r, len(r.Addrs) > 0
}
