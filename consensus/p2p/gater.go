package p2p

import (
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// GaterConfig tunes who the gater lets in besides cluster members.
type GaterConfig struct {
	// CandidateWindow is how long an unknown peer that connected to us may
	// stay connected to try the join protocol, once it has opened it. Zero
	// disables candidates: only members and explicitly allowed peers get in.
	CandidateWindow time.Duration
	// HelloWindow is how long a candidate may take to open the join
	// protocol before its slot is taken back (default 5s, at most
	// CandidateWindow): an idle stranger does not hold a slot for long.
	HelloWindow time.Duration
	// MaxCandidates caps how many unknown peers may be in their window at
	// once, so a flood of strangers cannot crowd out the cluster.
	MaxCandidates int
	// MaxCandidatesPerIP caps the candidates from one IP address (default
	// 4), so throwaway identities from one machine cannot take every slot.
	MaxCandidatesPerIP int
	// RefusedCooldown is how long a peer whose join was refused is kept out.
	RefusedCooldown time.Duration
}

// candidate is an unknown inbound peer in its join window.
type candidate struct {
	expires time.Time
	ip      string
	spoke   bool // it opened the join protocol
}

// Gater is a libp2p connection gater that admits only:
//   - cluster members (set by the consensus layer from the replicated node
//     table and the Raft configuration);
//   - peers on the short-lived allow list (a joiner and the cluster it is
//     joining allow each other for the length of the handshake);
//   - when candidates are enabled, a bounded number of unknown inbound peers
//     (MaxCandidates, and MaxCandidatesPerIP from one address) for a short
//     window, which the stream router restricts to the join protocol. A
//     candidate's slot is released when it disconnects, when it has not
//     opened the join protocol within HelloWindow, or when its window ends.
//
// Cut links (tests' partitions) override everything.
type Gater struct {
	cfg GaterConfig
	now func() time.Time

	// refusal counts a refused connection by reason (metrics); never nil.
	refusal func(reason string)

	mu         sync.RWMutex
	members    map[peer.ID]struct{}
	allowed    map[peer.ID]time.Time // expiry
	candidates map[peer.ID]candidate
	refused    map[peer.ID]time.Time // expiry
	cut        map[peer.ID]struct{}
}

var _ connmgr.ConnectionGater = (*Gater)(nil)

// NewGater returns a gater with no members.
func NewGater(cfg GaterConfig) *Gater {
	if cfg.MaxCandidates <= 0 {
		cfg.MaxCandidates = 16
	}
	if cfg.MaxCandidatesPerIP <= 0 {
		cfg.MaxCandidatesPerIP = 4
	}
	if cfg.HelloWindow <= 0 {
		cfg.HelloWindow = 5 * time.Second
	}
	cfg.HelloWindow = min(cfg.HelloWindow, cfg.CandidateWindow)
	if cfg.RefusedCooldown <= 0 {
		cfg.RefusedCooldown = time.Minute
	}
	return &Gater{
		cfg:        cfg,
		now:        time.Now,
		refusal:    func(string) {},
		members:    map[peer.ID]struct{}{},
		allowed:    map[peer.ID]time.Time{},
		candidates: map[peer.ID]candidate{},
		refused:    map[peer.ID]time.Time{},
		cut:        map[peer.ID]struct{}{},
	}
}

// SetMembers replaces the member set. Allow-list entries are left to
// expire on their own: a member about to be removed may hold one so that it
// hears the answer to its own removal.
func (g *Gater) SetMembers(ids []peer.ID) {
	m := make(map[peer.ID]struct{}, len(ids))
	for _, id := range ids {
		m[id] = struct{}{}
	}
	g.mu.Lock()
	g.members = m
	for id := range m {
		delete(g.refused, id)
		delete(g.candidates, id)
	}
	g.mu.Unlock()
}

// Members returns the current member set.
func (g *Gater) Members() []peer.ID {
	g.mu.RLock()
	defer g.mu.RUnlock()
	out := make([]peer.ID, 0, len(g.members))
	for id := range g.members {
		out = append(out, id)
	}
	return out
}

// IsMember reports whether p is a cluster member (and not cut off).
func (g *Gater) IsMember(p peer.ID) bool {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if _, cut := g.cut[p]; cut {
		return false
	}
	_, ok := g.members[p]
	return ok
}

// Allow puts p on the allow list for ttl (a join in progress).
func (g *Gater) Allow(p peer.ID, ttl time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.refused, p)
	g.allowed[p] = g.now().Add(ttl)
}

// Refuse removes p from the allow list and keeps it out for the refused
// cooldown. Members are unaffected: refusing a member is meaningless.
func (g *Gater) Refuse(p peer.ID) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.allowed, p)
	delete(g.candidates, p)
	if _, member := g.members[p]; !member {
		g.refused[p] = g.now().Add(g.cfg.RefusedCooldown)
	}
}

// Disallow removes p from the allow list without a cooldown.
func (g *Gater) Disallow(p peer.ID) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.allowed, p)
	delete(g.candidates, p)
}

// Spoke records that candidate p opened the join protocol: its slot lasts
// the whole CandidateWindow from now on (once; a second call changes
// nothing). It reports whether p is a candidate.
func (g *Gater) Spoke(p peer.ID) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	c, ok := g.candidates[p]
	if !ok {
		return false
	}
	if !c.spoke {
		c.spoke = true
		c.expires = g.now().Add(g.cfg.CandidateWindow)
		g.candidates[p] = c
	}
	return true
}

// Disconnected releases p's candidate slot: the host calls it when the
// last connection with p closes.
func (g *Gater) Disconnected(p peer.ID) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.candidates, p)
}

// IsCandidate reports whether p is an unknown peer in its join window.
func (g *Gater) IsCandidate(p peer.ID) bool {
	g.mu.RLock()
	defer g.mu.RUnlock()
	c, ok := g.candidates[p]
	return ok && g.now().Before(c.expires)
}

// Cut refuses every connection with p until Heal, whatever its role. Tests
// use it to build partitions; operators could use it to quarantine a node.
func (g *Gater) Cut(p peer.ID) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.cut[p] = struct{}{}
}

// Heal undoes Cut.
func (g *Gater) Heal(p peer.ID) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.cut, p)
}

// Admitted reports whether a connection with p may exist right now.
func (g *Gater) Admitted(p peer.ID) bool {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.admittedLocked(p)
}

func (g *Gater) admittedLocked(p peer.ID) bool {
	if _, cut := g.cut[p]; cut {
		return false
	}
	if _, ok := g.members[p]; ok {
		return true
	}
	if exp, ok := g.allowed[p]; ok && g.now().Before(exp) {
		return true
	}
	c, ok := g.candidates[p]
	return ok && g.now().Before(c.expires)
}

// Expire drops allow-list and cooldown entries that ran out.
func (g *Gater) Expire() {
	now := g.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	for p, exp := range g.allowed {
		if !now.Before(exp) {
			delete(g.allowed, p)
		}
	}
	for p, exp := range g.refused {
		if !now.Before(exp) {
			delete(g.refused, p)
		}
	}
	for p, c := range g.candidates {
		if !now.Before(c.expires) {
			delete(g.candidates, p)
		}
	}
}

// InterceptPeerDial lets us dial only admitted peers.
func (g *Gater) InterceptPeerDial(p peer.ID) bool { return g.Admitted(p) }

// InterceptAddrDial defers to the peer decision.
func (g *Gater) InterceptAddrDial(p peer.ID, _ ma.Multiaddr) bool { return g.Admitted(p) }

// InterceptAccept lets every inbound connection reach the Noise handshake:
// until the handshake we do not know who is calling.
func (g *Gater) InterceptAccept(network.ConnMultiaddrs) bool { return true }

// InterceptSecured is where identity is known: members and allowed peers get
// in; an unknown inbound peer may get a short candidate window to join.
func (g *Gater) InterceptSecured(dir network.Direction, p peer.ID, addrs network.ConnMultiaddrs) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.admittedLocked(p) {
		return true
	}
	if _, cut := g.cut[p]; cut {
		return false
	}
	if dir != network.DirInbound || g.cfg.CandidateWindow <= 0 {
		g.refusal("not_admitted")
		return false
	}
	now := g.now()
	if exp, ok := g.refused[p]; ok && now.Before(exp) {
		g.refusal("refused_cooldown")
		return false
	}
	ip := remoteIP(addrs)
	live, fromIP := 0, 0
	for _, c := range g.candidates {
		if now.Before(c.expires) {
			live++
			if c.ip == ip {
				fromIP++
			}
		}
	}
	if live >= g.cfg.MaxCandidates {
		g.refusal("candidate_slots_full")
		return false
	}
	if fromIP >= g.cfg.MaxCandidatesPerIP {
		g.refusal("candidate_ip_limit")
		return false
	}
	g.candidates[p] = candidate{expires: now.Add(g.cfg.HelloWindow), ip: ip}
	return true
}

// remoteIP is the remote address's IP, or the whole multiaddr when it has
// none (every such peer then shares one per-IP budget).
func remoteIP(addrs network.ConnMultiaddrs) string {
	if addrs == nil {
		return ""
	}
	a := addrs.RemoteMultiaddr()
	if a == nil {
		return ""
	}
	if v, err := a.ValueForProtocol(ma.P_IP4); err == nil {
		return v
	}
	if v, err := a.ValueForProtocol(ma.P_IP6); err == nil {
		return v
	}
	return a.String()
}

// InterceptUpgraded accepts: the decision was made at InterceptSecured.
func (g *Gater) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) {
	return true, 0
}
