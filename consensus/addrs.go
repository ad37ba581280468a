package consensus

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/core/protocol"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/outlayer/outlayer/consensus/discovery"
	"github.com/outlayer/outlayer/consensus/p2p"
)

// AddrsProtocol is the members' address exchange: each side sends the
// addresses it listens on now and what it knows of the other members'.
// Members only, like every protocol but the join.
const AddrsProtocol protocol.ID = "/outlayer/addrs/1"

// How a peer's addresses became known (status, metrics).
const (
	SourceBootstrap = "bootstrap"  // a member multiaddr the operator gave
	SourceHandshake = "handshake"  // HOST:PORT the operator gave; id from the Noise handshake
	SourceMDNS      = "mdns"       // a LAN answer for the cluster's name
	SourcePeersFile = "peers.json" // the address cache in the data directory
	SourceNodeTable = "node-table" // the replicated node table (addresses at join)
	SourceJoin      = "join"       // members the leader named while this node joined
	SourceExchange  = "exchange"   // the member itself, over the address exchange
	SourceGossip    = "gossip"     // another member, over the address exchange
	SourceJoiner    = "joiner"     // the joiner's hello, on the leader
)

// maxAddrsMessage bounds one address exchange message (members only, but
// there is no reason to accept more than a big cluster's addresses).
const maxAddrsMessage = 256 << 10

// maxPeerAddrs bounds the addresses taken for one peer from one message.
const maxPeerAddrs = 16

// addrsMessage is one side of the address exchange.
type addrsMessage struct {
	// Self are the sender's own listen addresses now: the only addresses
	// a node takes as the truth, because the connection proves who sent
	// them.
	Self []string `json:"self"`
	// Members are the sender's current view of other members' addresses:
	// hints, dialled (and so checked by the Noise handshake) before use.
	Members map[string][]string `json:"members,omitempty"`
}

// addrBook remembers how each peer was found and what it last said about
// itself; the addresses themselves live in the libp2p peerstore.
type addrBook struct {
	mu    sync.Mutex
	peers map[peer.ID]*bookEntry
	// events: outlayer_discovery_events_total{source, event}.
	events *prometheus.CounterVec
}

type bookEntry struct {
	found     string
	foundAt   time.Time
	updated   string
	updatedAt time.Time
	// self is the peer's own latest report (address exchange), or nil.
	self []ma.Multiaddr
}

func newAddrBook() *addrBook {
	return &addrBook{
		peers: map[peer.ID]*bookEntry{},
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "outlayer_discovery_events_total",
			Help: "Peer discovery events by source (bootstrap, handshake, mdns, peers.json, node-table, join, exchange, gossip, joiner) and event (found: a peer's first address; moved: a member reported new addresses; reconnected: a member without a link was reached again; ignored: an mDNS answer from a peer that is not a member; lookup, lookup_failed: LAN queries).",
		}, []string{"source", "event"}),
	}
}

func (b *addrBook) count(source, event string) { b.events.WithLabelValues(source, event).Inc() }

// note records that p's addresses came from source; the first source is
// how p was found.
func (b *addrBook) note(p peer.ID, source string) {
	now := time.Now()
	b.mu.Lock()
	e, ok := b.peers[p]
	if !ok {
		e = &bookEntry{found: source, foundAt: now}
		b.peers[p] = e
	}
	e.updated, e.updatedAt = source, now
	b.mu.Unlock()
	if !ok {
		b.count(source, "found")
	}
}

// setSelf records p's own report.
func (b *addrBook) setSelf(p peer.ID, addrs []ma.Multiaddr) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.peers[p]
	if e == nil {
		e = &bookEntry{found: SourceExchange, foundAt: time.Now()}
		b.peers[p] = e
		b.count(SourceExchange, "found")
	}
	e.self = addrs
}

func (b *addrBook) selfReported(p peer.ID) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.peers[p]
	return e != nil && e.self != nil
}

func (b *addrBook) entry(p peer.ID) (bookEntry, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.peers[p]
	if e == nil {
		return bookEntry{}, false
	}
	return *e, true
}

func sameAddrs(a, b []ma.Multiaddr) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !slices.ContainsFunc(b, x.Equal) {
			return false
		}
	}
	return true
}

// learn adds addresses for p from source. Addresses given by the
// operator, the node table, the join and the cache are kept for good
// (until the peer itself says otherwise); gossip and LAN answers are
// hints and expire.
func (n *Node) learn(p peer.ID, addrs []ma.Multiaddr, source string) {
	if p == n.host.ID() || len(addrs) == 0 {
		return
	}
	addrs = stripAll(addrs)
	switch source {
	case SourceGossip, SourceMDNS:
		n.host.LibP2P().Peerstore().AddAddrs(p, addrs, peerstore.AddressTTL)
	default:
		n.host.AddAddrs(p, addrs)
	}
	n.book.note(p, source)
}

// learnSelf takes a member's report of its own addresses as the truth:
// the addresses it replaces are dropped from the peerstore (and so from
// peers.json at the next save).
func (n *Node) learnSelf(p peer.ID, addrs []ma.Multiaddr) {
	if p == n.host.ID() || len(addrs) == 0 {
		return
	}
	addrs = stripAll(addrs)
	ps := n.host.LibP2P().Peerstore()
	prev := stripAll(ps.Addrs(p))
	changed := !sameAddrs(prev, addrs)
	n.book.setSelf(p, addrs)
	if changed {
		ps.ClearAddrs(p)
	}
	n.host.AddAddrs(p, addrs)
	n.book.note(p, SourceExchange)
	if changed && len(prev) > 0 {
		n.book.count(SourceExchange, "moved")
		n.log.Info("a member's addresses changed", "peer", p, "now", addrStrings(addrs), "was", addrStrings(prev))
	}
	if changed {
		n.requestRefresh() // rewrites peers.json
	}
}

func stripAll(addrs []ma.Multiaddr) []ma.Multiaddr {
	out := make([]ma.Multiaddr, 0, len(addrs))
	for _, a := range addrs {
		a = p2p.TransportAddr(a)
		if !slices.ContainsFunc(out, a.Equal) {
			out = append(out, a)
		}
	}
	return out
}

func parseAddrs(ss []string) []ma.Multiaddr {
	var out []ma.Multiaddr
	for _, s := range ss {
		if len(out) == maxPeerAddrs {
			break
		}
		if a, err := ma.NewMultiaddr(s); err == nil {
			out = append(out, p2p.TransportAddr(a))
		}
	}
	return out
}

// addrsMessage describes this node and the members it knows.
func (n *Node) ownAddrsMessage() addrsMessage {
	m := addrsMessage{Self: addrStrings(n.host.ListenAddrs()), Members: map[string][]string{}}
	self := n.host.ID()
	for _, p := range n.host.Gater().Members() {
		if p == self {
			continue
		}
		if as := n.host.PeerAddrs(p); len(as) > 0 {
			m.Members[p.String()] = addrStrings(as)
		}
	}
	return m
}

// takeAddrs applies what member from said: its own addresses, and hints
// about members this node has no link to.
func (n *Node) takeAddrs(from peer.ID, m addrsMessage) {
	n.learnSelf(from, parseAddrs(m.Self))
	g := n.host.Gater()
	net := n.host.LibP2P().Network()
	for id, as := range m.Members {
		p, err := peer.Decode(id)
		if err != nil || p == from || p == n.host.ID() || !g.IsMember(p) {
			continue
		}
		if net.Connectedness(p) == network.Connected {
			continue // we hear from it directly
		}
		n.learn(p, parseAddrs(as), SourceGossip)
	}
}

// handleAddrs answers a member's address exchange with our own.
func (n *Node) handleAddrs(s network.Stream) {
	defer s.Close()
	_ = s.SetDeadline(time.Now().Add(10 * time.Second))
	var in addrsMessage
	if err := p2p.ReadJSON(s, &in, maxAddrsMessage); err != nil {
		_ = s.Reset()
		return
	}
	if err := p2p.WriteJSON(s, n.ownAddrsMessage(), maxAddrsMessage); err != nil {
		_ = s.Reset()
		return
	}
	n.takeAddrs(s.Conn().RemotePeer(), in)
}

// exchangeAddrs tells member p where this node is and learns where p and
// the members it knows are.
func (n *Node) exchangeAddrs(ctx context.Context, p peer.ID) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	s, err := n.host.NewStream(ctx, p, AddrsProtocol)
	if err != nil {
		return err
	}
	defer s.Close()
	stop := context.AfterFunc(ctx, func() { _ = s.Reset() })
	defer stop()
	if err := p2p.WriteJSON(s, n.ownAddrsMessage(), maxAddrsMessage); err != nil {
		return err
	}
	var out addrsMessage
	if err := p2p.ReadJSON(s, &out, maxAddrsMessage); err != nil {
		return err
	}
	n.takeAddrs(p, out)
	return nil
}

// memberConnected queues an address exchange with a member that just got
// a connection (either side may have moved since they last spoke).
func (n *Node) memberConnected(p peer.ID) {
	if p == n.host.ID() || !n.host.Gater().IsMember(p) {
		return
	}
	n.exchMu.Lock()
	n.exchPending[p] = struct{}{}
	n.exchMu.Unlock()
	select {
	case n.exchWake <- struct{}{}:
	default:
	}
}

// addrLoop keeps this node connected to every member: it exchanges
// addresses with each member it gets a connection to, and every
// AddrInterval dials the members it has no connection to — at the
// addresses it knows, then at what the LAN answers for the cluster's name.
// A member that restarted elsewhere reaches the others itself (it still
// knows where they are) or is found by them on the LAN; either way no
// operator and no peers.json edit is needed.
func (n *Node) addrLoop() {
	defer n.wg.Done()
	t := time.NewTicker(n.cfg.AddrInterval)
	defer t.Stop()
	n.reachMembers(n.ctx)
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
			n.reachMembers(n.ctx)
		case <-n.exchWake:
			n.exchMu.Lock()
			pending := n.exchPending
			n.exchPending = map[peer.ID]struct{}{}
			n.exchMu.Unlock()
			for p := range pending {
				if err := n.exchangeAddrs(n.ctx, p); err != nil {
					n.log.Debug("address exchange", "peer", p, "err", err)
				}
			}
		}
	}
}

// reachMembers dials every member this node has no connection to.
func (n *Node) reachMembers(ctx context.Context) {
	if !n.inCluster() {
		return
	}
	missing := n.unreachedMembers()
	if len(missing) == 0 {
		return
	}
	missing = n.dialMembers(ctx, missing)
	if len(missing) == 0 || n.announcer == nil {
		return
	}
	// Some members are not where we thought: ask the LAN, but not on every
	// round while a member is simply down (one multicast query per
	// lanLookupRounds rounds).
	if n.lookupRound++; (n.lookupRound-1)%lanLookupRounds != 0 {
		return
	}
	if n.lookupMembers(ctx) > 0 {
		n.dialMembers(ctx, missing)
	}
}

// lanLookupRounds: while members stay unreachable, the LAN is asked on
// the first round and then every this many rounds (30 s by default).
const lanLookupRounds = 6

func (n *Node) unreachedMembers() []peer.ID {
	self := n.host.ID()
	net := n.host.LibP2P().Network()
	var out []peer.ID
	for _, p := range n.host.Gater().Members() {
		if p != self && net.Connectedness(p) != network.Connected {
			out = append(out, p)
		}
	}
	return out
}

// dialMembers connects to ps at once and returns those still unreached.
func (n *Node) dialMembers(ctx context.Context, ps []peer.ID) []peer.ID {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.AddrInterval)
	defer cancel()
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		failed []peer.ID
	)
	for _, p := range ps {
		addrs := n.host.PeerAddrs(p)
		if len(addrs) == 0 {
			failed = append(failed, p)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := n.host.Connect(ctx, peer.AddrInfo{ID: p, Addrs: addrs}); err != nil {
				n.log.Debug("member not reachable at its known addresses", "peer", p, "err", err)
				mu.Lock()
				failed = append(failed, p)
				mu.Unlock()
				return
			}
			n.book.count(n.sourceOf(p), "reconnected")
		}()
	}
	wg.Wait()
	return failed
}

func (n *Node) sourceOf(p peer.ID) string {
	if e, ok := n.book.entry(p); ok {
		return e.updated
	}
	return "unknown"
}

// lookupMembers asks the LAN for the cluster's members and takes the
// answers of members as address hints; answers from anyone else are
// counted and ignored (a stranger announcing the cluster's name gets
// nothing from it). It returns how many members answered.
func (n *Node) lookupMembers(ctx context.Context) int {
	recs, err := discovery.Lookup(ctx, n.cfg.Cluster, lanLookupWait, n.log)
	if err != nil {
		n.book.count(SourceMDNS, "lookup_failed")
		n.log.Debug("LAN lookup", "err", err)
		return 0
	}
	n.book.count(SourceMDNS, "lookup")
	g := n.host.Gater()
	found := 0
	for _, r := range recs {
		if r.Peer == n.host.ID() {
			continue
		}
		if !g.IsMember(r.Peer) {
			n.book.count(SourceMDNS, "ignored")
			continue
		}
		n.learn(r.Peer, r.Addrs, SourceMDNS)
		found++
	}
	return found
}

// lanLookupWait is how long one LAN query collects answers.
const lanLookupWait = time.Second
