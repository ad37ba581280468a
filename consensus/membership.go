package consensus

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/hashicorp/raft"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/outlayer/outlayer/consensus/p2p"
	"github.com/outlayer/outlayer/store"
)

// Bootstrap makes this node the first voter of a new cluster and records
// it, with its own verified attestation report, in the node table. It
// fails if the node already has Raft state (it is, or was, in a cluster).
func (n *Node) Bootstrap(ctx context.Context) error {
	self := n.host.ID()
	f := n.raft.BootstrapCluster(raft.Configuration{Servers: []raft.Server{{
		Suffrage: raft.Voter, ID: raft.ServerID(self.String()), Address: raft.ServerAddress(self.String()),
	}}})
	if err := f.Error(); err != nil {
		if errors.Is(err, raft.ErrCantBootstrap) {
			return fmt.Errorf("bootstrap: this node already has cluster state in %s; start it without bootstrap to rejoin, or use a fresh data directory: %w", n.cfg.DataDir, err)
		}
		return fmt.Errorf("bootstrap: %w", err)
	}
	if err := n.waitUntil(ctx, retryInterval, n.IsLeader); err != nil {
		return fmt.Errorf("bootstrap: waiting to become leader: %w", err)
	}
	nonce := make([]byte, 32)
	if _, err := rand.Read(nonce); err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	ev, err := n.cfg.Attester.Evidence(ctx, n.key, nonce)
	if err != nil {
		return fmt.Errorf("bootstrap: produce own attestation: %w", err)
	}
	report, err := n.cfg.Verifier.VerifyJoin(ctx, self, nonce, ev)
	if err != nil {
		return fmt.Errorf("bootstrap: own attestation does not verify: %w", err)
	}
	if _, err := n.Apply(ctx, &NodeAdd{Node: store.Node{
		PeerID: self.String(), Addresses: addrStrings(n.host.Addrs()), Role: store.RoleVoter,
		Attestation: report, AttestationSummary: summary(report), JoinedAt: time.Now(),
	}}); err != nil {
		return fmt.Errorf("bootstrap: record this node in the node table: %w", err)
	}
	n.log.Info("bootstrapped a new cluster", "peer", self)
	return nil
}

// Join joins an existing cluster through any of the given members (each a
// multiaddr ending in /p2p/<peer id>, a multiaddr without it or HOST:PORT,
// whose peer id the member's handshake tells; Config.Bootstrap when none
// given; with neither, the members that answer for Config.Cluster on the
// LAN).
// The member relays to the leader, which challenges this node with a nonce,
// verifies its evidence and adds it as a voter or, past the voter limit, a
// non-voter. Join returns once this node has the leader's log flowing in.
// A refused join returns ErrJoinRefused and changes nothing in the cluster.
func (n *Node) Join(ctx context.Context, members ...string) error {
	if err := n.devJoinAllowed(); err != nil {
		return fmt.Errorf("join: %w", err)
	}
	if len(members) == 0 {
		members = n.cfg.Bootstrap
	}
	var cands []joinCandidate
	var errs []error
	if len(members) == 0 && n.rejoin {
		// A restarted node with a new identity asks the members it knew.
		for _, info := range n.knownPeers {
			cands = append(cands, joinCandidate{info: info, source: SourcePeersFile})
		}
	}
	if len(members) == 0 && len(cands) == 0 {
		lan, err := n.lanCandidates(ctx)
		if err != nil {
			return err
		}
		cands = lan
	}
	for _, m := range members {
		t, err := parseJoinTarget(m)
		if err != nil {
			return fmt.Errorf("join: %w", err)
		}
		c, err := n.resolveTarget(ctx, t)
		if err != nil {
			if ctx.Err() != nil {
				return err
			}
			errs = append(errs, err)
			n.log.Warn("member address did not answer; trying the next", "member", m, "err", err)
			continue
		}
		cands = append(cands, c)
	}
	for _, c := range cands {
		n.learn(c.info.ID, c.info.Addrs, c.source)
		err := n.joinThrough(ctx, c.info)
		if err == nil {
			return nil
		}
		if errors.Is(err, ErrJoinRefused) || ctx.Err() != nil {
			return err
		}
		errs = append(errs, err)
		n.log.Warn("join through member failed; trying the next", "member", c.info.ID, "found_by", c.source, "err", err)
	}
	return fmt.Errorf("join: no member could admit this node: %w", errors.Join(errs...))
}

// A join interrupted by a leader change is started over through the same
// member up to joinAttempts times in all, joinRetryInterval apart.
const (
	joinAttempts      = 5
	joinRetryInterval = 500 * time.Millisecond
)

// joinThrough joins through member m, starting over while the join failed
// only because leadership moved or no leader was known (the challenge
// lives on the leader that issued it). A refusal, or any other failure, is
// returned at once.
func (n *Node) joinThrough(ctx context.Context, m peer.AddrInfo) error {
	tries := 0
	_, err := poll(ctx, n, joinRetryInterval, func() (struct{}, error) {
		tries++
		err := n.joinVia(ctx, m)
		switch {
		case err == nil:
			return struct{}{}, nil
		case !leaderChanged(err) || tries >= joinAttempts:
			return struct{}{}, backoff.Permanent(err)
		}
		n.log.Info("join interrupted by a leader change; starting it again", "member", m.ID, "attempt", tries, "err", err)
		return struct{}{}, err
	})
	return err
}

// leaderChanged reports whether a join failed only for want of a steady
// leader — not the leader, leadership lost, no leader yet — so that
// starting it again can succeed. A refusal never is.
func leaderChanged(err error) bool {
	if errors.Is(err, ErrJoinRefused) || errors.Is(err, ErrNotInCluster) || errors.Is(err, ErrClosed) {
		return false
	}
	return errors.Is(err, ErrNotLeader) || errors.Is(err, ErrNoLeader)
}

func (n *Node) joinVia(ctx context.Context, m peer.AddrInfo) error {
	self := n.host.ID()
	g := n.host.Gater()
	g.Allow(m.ID, joinWindow)
	n.host.AddAddrs(m.ID, m.Addrs)
	s, err := n.host.NewStream(ctx, m.ID, JoinProtocol)
	if err != nil {
		g.Disallow(m.ID)
		return fmt.Errorf("join through %s: %w", m.ID, err)
	}
	defer s.Close()
	stop := context.AfterFunc(ctx, func() { _ = s.Reset() })
	defer stop()
	_ = s.SetDeadline(time.Now().Add(joinWindow))

	myAddrs := addrStrings(n.host.Addrs())
	if err := writeFrame(s, joinMessage{Addrs: myAddrs}); err != nil {
		return fmt.Errorf("join through %s: send hello: %w", m.ID, err)
	}
	var resp rpcResponse
	if err := p2p.ReadJSON(s, &resp, maxJoinAnswer); err != nil {
		return fmt.Errorf("join through %s: read challenge: %w", m.ID, err)
	}
	if err := fromWire(resp.Err); err != nil {
		return fmt.Errorf("join through %s: %w", m.ID, err)
	}
	if resp.Challenge == nil || len(resp.Challenge.Nonce) == 0 {
		return fmt.Errorf("join through %s: member sent no challenge", m.ID)
	}
	// The leader will replicate to us as soon as it adds us, before its
	// answer comes back: let the cluster in now.
	seed := n.admitMembers(resp.Challenge.Members)
	n.joinMu.Lock()
	n.joinSeed = seed
	n.joinMu.Unlock()
	n.refreshMembership()

	ev, err := n.cfg.Attester.Evidence(ctx, n.key, resp.Challenge.Nonce)
	if err != nil {
		n.dropSeed()
		return fmt.Errorf("join: produce attestation evidence: %w", err)
	}
	proof := joinMessage{Addrs: myAddrs, Nonce: resp.Challenge.Nonce, Evidence: ev}
	if n.previous != "" {
		proof.Replaces = n.previous.String()
	}
	if err := writeFrame(s, proof); err != nil {
		n.dropSeed()
		return fmt.Errorf("join through %s: send evidence: %w", m.ID, err)
	}
	resp = rpcResponse{}
	if err := p2p.ReadJSON(s, &resp, maxJoinAnswer); err != nil {
		return fmt.Errorf("join through %s: read verdict: %w", m.ID, err)
	}
	if err := fromWire(resp.Err); err != nil {
		n.dropSeed()
		return fmt.Errorf("join through %s: %w", m.ID, err)
	}
	if resp.Joined == nil {
		n.dropSeed()
		return fmt.Errorf("join through %s: member sent no verdict", m.ID)
	}
	n.admitMembers(resp.Joined.Members)
	n.log.Info("joined the cluster", "peer", self, "role", resp.Joined.Role, "via", m.ID)
	// Wait until the leader's log reaches us: then Apply and reads work.
	if err := n.waitUntil(ctx, retryInterval, func() bool {
		return n.Leader() != "" && n.raft.AppliedIndex() > 0 && n.inCluster()
	}); err != nil {
		return fmt.Errorf("join: admitted, but the leader's log has not reached this node yet: %w", err)
	}
	return nil
}

// inCluster reports whether this node is in its own latest Raft
// configuration: bootstrapped or joined, and not removed since.
func (n *Node) inCluster() bool {
	servers, err := n.Servers()
	if err != nil {
		return false
	}
	for _, s := range servers {
		if s.ID == n.host.ID() {
			return true
		}
	}
	return false
}

func (n *Node) dropSeed() {
	n.joinMu.Lock()
	n.joinSeed = nil
	n.joinMu.Unlock()
	n.refreshMembership()
}

// admitMembers records members' addresses and returns their ids.
func (n *Node) admitMembers(ms []memberInfo) []peer.ID {
	var ids []peer.ID
	for _, m := range ms {
		p, err := peer.Decode(m.ID)
		if err != nil || p == n.host.ID() {
			continue
		}
		ids = append(ids, p)
		n.learn(p, parseAddrs(m.Addrs), SourceJoin)
	}
	return ids
}

// handleJoin runs on any member: it relays a joiner's two steps to the
// leader. The joiner's identity is the one its Noise handshake proved.
func (n *Node) handleJoin(s network.Stream) {
	defer s.Close()
	joiner := s.Conn().RemotePeer()
	_ = s.SetDeadline(time.Now().Add(joinWindow))
	ctx, cancel := context.WithTimeout(n.ctx, joinWindow)
	defer cancel()
	g := n.host.Gater()

	var hello joinMessage
	if err := p2p.ReadJSON(s, &hello, maxJoinHello); err != nil {
		_ = s.Reset()
		return
	}
	// A node in no cluster has no leader to relay to and never will by
	// waiting: say so at once instead of letting the joiner wait out the
	// join window.
	if !n.inCluster() {
		_ = writeFrame(s, rpcResponse{Err: toWire(fmt.Errorf("%w: %s was never bootstrapped or joined, or was removed; join through a member of the cluster", ErrNotInCluster, n.host.ID()))})
		return
	}
	resp, _, err := n.leaderCall(ctx, rpcRequest{Kind: rpcJoinChallenge, Peer: joiner.String(), Addrs: hello.Addrs})
	if err != nil {
		resp = rpcResponse{Err: toWire(err)}
	}
	if err := writeFrame(s, resp); err != nil || resp.Err != nil {
		return
	}
	var proof joinMessage
	if err := p2p.ReadJSON(s, &proof, maxJoinProof); err != nil {
		_ = s.Reset()
		return
	}
	resp, _, err = n.leaderCall(ctx, rpcRequest{
		Kind: rpcJoinComplete, Peer: joiner.String(), Addrs: proof.Addrs, Nonce: proof.Nonce, Evidence: proof.Evidence, Replaces: proof.Replaces,
	})
	if err != nil {
		resp = rpcResponse{Err: toWire(err)}
	}
	_ = writeFrame(s, resp)
	if rerr := fromWire(resp.Err); rerr != nil && errors.Is(rerr, ErrJoinRefused) {
		n.log.Warn("join refused", "peer", joiner, "err", rerr)
		g.Refuse(joiner)
	}
}

// leaderChallenge issues a fresh nonce to a joiner and lets it in for the
// length of the handshake.
func (n *Node) leaderChallenge(p peer.ID, addrs []string) (*challenge, error) {
	nonce := make([]byte, 32)
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("join challenge: %w", err)
	}
	n.joinMu.Lock()
	now := time.Now()
	for id, pj := range n.pending {
		if now.After(pj.expires) {
			delete(n.pending, id)
		}
	}
	n.pending[p] = pendingJoin{nonce: nonce, expires: now.Add(joinWindow)}
	n.joinMu.Unlock()
	members, err := n.memberInfos()
	if err != nil {
		return nil, err
	}
	return &challenge{Nonce: nonce, Leader: n.host.ID().String(), Members: members}, nil
}

// memberInfos lists the Raft configuration with known addresses.
func (n *Node) memberInfos() ([]memberInfo, error) {
	servers, err := n.Servers()
	if err != nil {
		return nil, err
	}
	out := make([]memberInfo, 0, len(servers))
	for _, s := range servers {
		var addrs []ma.Multiaddr
		if s.ID == n.host.ID() {
			addrs = n.host.ListenAddrs()
		} else {
			addrs = n.host.PeerAddrs(s.ID)
		}
		out = append(out, memberInfo{ID: s.ID.String(), Addrs: addrStrings(addrs)})
	}
	return out, nil
}

// leaderAdmit verifies a joiner's evidence against the nonce it was given
// and, only if it verifies, records it in the node table and adds it to
// the Raft configuration. A refusal changes nothing.
func (n *Node) leaderAdmit(ctx context.Context, p peer.ID, addrs []string, nonce, evidence []byte, replaces string) (*joined, error) {
	n.joinMu.Lock()
	pj, ok := n.pending[p]
	delete(n.pending, p)
	n.joinMu.Unlock()
	if !ok || time.Now().After(pj.expires) {
		return nil, fmt.Errorf("%w: no live challenge for %s on this leader (leadership changed or the handshake took too long); start the join again", ErrNotLeader, p)
	}
	if subtle.ConstantTimeCompare(pj.nonce, nonce) != 1 {
		n.host.Gater().Refuse(p)
		return nil, fmt.Errorf("%w: %s answered a different nonce than it was given", ErrJoinRefused, p)
	}
	if err := n.devJoinAllowed(); err != nil {
		n.host.Gater().Refuse(p)
		return nil, fmt.Errorf("%w: %s: %w", ErrJoinRefused, p, err)
	}
	report, err := n.cfg.Verifier.VerifyJoin(ctx, p, nonce, evidence)
	if err != nil {
		n.host.Gater().Refuse(p)
		return nil, fmt.Errorf("%w: attestation of %s: %w", ErrJoinRefused, p, err)
	}

	// The voter count decided here must still hold when the node is
	// added: a promotion in between would overfill the voters.
	n.voterMu.Lock()
	defer n.voterMu.Unlock()
	n.replaceIdentity(ctx, p, replaces)
	servers, err := n.Servers()
	if err != nil {
		return nil, err
	}
	voters := 0
	for _, s := range servers {
		if s.ID == p {
			continue
		}
		if s.Voter {
			voters++
		}
	}
	role := store.RoleNonVoter
	if voters < n.cfg.Voters {
		role = store.RoleVoter
	}
	n.learn(p, parseAddrs(addrs), SourceJoiner)
	n.host.Gater().Allow(p, joinWindow)

	// Node table first: every member's gater admits the joiner before Raft
	// starts sending it entries.
	if _, err := n.Apply(ctx, &NodeAdd{Node: store.Node{
		PeerID: p.String(), Addresses: addrs, Role: role,
		Attestation: report, AttestationSummary: summary(report), JoinedAt: time.Now(),
	}}); err != nil {
		if errors.Is(err, raft.ErrLeadershipLost) {
			// NodeAdd is an upsert: the joiner may safely start over.
			return nil, fmt.Errorf("%w: record %s in the node table: %w", ErrNotLeader, p, err)
		}
		return nil, fmt.Errorf("record %s in the node table: %w", p, err)
	}
	id, addr := raft.ServerID(p.String()), raft.ServerAddress(p.String())
	var f raft.IndexFuture
	if role == store.RoleVoter {
		f = n.raft.AddVoter(id, addr, 0, futureTimeout(ctx))
	} else {
		f = n.raft.AddNonvoter(id, addr, 0, futureTimeout(ctx))
	}
	if err := waitFuture(ctx, f); err != nil {
		// Undo the table entry so a failed join leaves no member behind.
		undoCtx, cancel := context.WithTimeout(n.ctx, 10*time.Second)
		_, uerr := n.Apply(undoCtx, &NodeRemove{PeerID: p.String()})
		cancel()
		if uerr != nil {
			n.log.Error("could not undo the node record of a failed join", "peer", p, "err", uerr)
		}
		if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
			return nil, fmt.Errorf("%w: adding %s: %w", ErrNotLeader, p, err)
		}
		return nil, fmt.Errorf("add %s to the raft configuration: %w", p, err)
	}
	members, err := n.memberInfos()
	if err != nil {
		return nil, err
	}
	n.log.Info("admitted a node", "peer", p, "role", role)
	return &joined{Role: string(role), Members: members}, nil
}

// replaceIdentity removes a verified joiner's previous identity (a node
// whose identity lives in memory only comes back from a restart as a new
// one): only a member that is in the cluster, is not the joiner or this
// leader, and to which this leader has no live connection — a dead
// process. The claim needs no proof beyond the joiner's attestation (an
// attested node runs our code, which names only its own previous
// identity); the connection check keeps a hostile host from using it to
// remove a live member. A failed removal leaves the old member for the
// operator (`outlayerd node remove`); the join goes on either way.
func (n *Node) replaceIdentity(ctx context.Context, joiner peer.ID, replaces string) {
	if replaces == "" {
		return
	}
	old, err := peer.Decode(replaces)
	if err != nil || old == joiner || old == n.host.ID() {
		n.log.Warn("a joiner named a previous identity that cannot be replaced", "peer", joiner, "replaces", replaces)
		return
	}
	servers, err := n.Servers()
	if err != nil {
		return
	}
	inConfig := false
	for _, s := range servers {
		inConfig = inConfig || s.ID == old
	}
	if !inConfig {
		return
	}
	if n.host.LibP2P().Network().Connectedness(old) == network.Connected {
		n.log.Warn("not replacing a joiner's previous identity: this leader is still connected to it (remove it with `outlayerd node remove` if it is gone)", "peer", joiner, "previous", old)
		return
	}
	if err := n.leaderRemove(ctx, old); err != nil {
		n.log.Warn("could not remove a joiner's previous identity; remove it with `outlayerd node remove`", "peer", joiner, "previous", old, "err", err)
		return
	}
	n.log.Info("removed a restarted node's previous identity", "peer", joiner, "previous", old)
}

// devJoinAllowed refuses dev-mode joins without a join secret, on both
// sides: simulated attestation proves only that a peer holds its own key,
// so without a secret anyone who reaches the port could join. A dev node
// with no secret still runs alone (on loopback).
func (n *Node) devJoinAllowed() error {
	sim, ok := n.cfg.Verifier.(SimulatedAttestation)
	if !ok || len(sim.Secret) > 0 || sim.Refuse != "" {
		return nil
	}
	return errors.New("dev joins require a join secret: simulated attestation proves nothing about a node, so every node of a dev cluster must be started with the same --dev-join-secret (16+ characters)")
}

// Leave removes this node from the cluster gracefully: a leader first hands
// leadership to another voter, then the (new) leader removes this node from
// the Raft configuration and the node table. Close the node afterwards.
func (n *Node) Leave(ctx context.Context) error {
	self := n.host.ID()
	if n.IsLeader() {
		servers, err := n.Servers()
		if err != nil {
			return fmt.Errorf("leave: %w", err)
		}
		others := 0
		for _, s := range servers {
			if s.ID != self && s.Voter {
				others++
			}
		}
		if others == 0 {
			return errors.New("leave: this node is the only voter; the cluster would be left without a quorum (remove the other nodes first or shut the cluster down)")
		}
		if err := waitFuture(ctx, n.raft.LeadershipTransfer()); err != nil {
			return fmt.Errorf("leave: transfer leadership: %w", err)
		}
		if err := n.waitUntil(ctx, retryInterval, func() bool {
			l := n.Leader()
			return l != "" && l != self
		}); err != nil {
			return fmt.Errorf("leave: waiting for a new leader: %w", err)
		}
	}
	return n.Remove(ctx, self)
}

// Remove takes a node out of the cluster (an operator's decision, or Leave).
// The leader removes it from the Raft configuration, then from the node
// table; every gater then drops its connections.
func (n *Node) Remove(ctx context.Context, p peer.ID) error {
	if _, _, err := n.leaderCall(ctx, rpcRequest{Kind: rpcRemove, Peer: p.String()}); err != nil {
		return fmt.Errorf("remove %s: %w", p, err)
	}
	return nil
}

func (n *Node) leaderRemove(ctx context.Context, p peer.ID) error {
	// Keep the link to p open a little longer so a node removing itself
	// (Leave) gets our answer before the gater drops it.
	n.host.Gater().Allow(p, 10*time.Second)
	// Table first: the gaters keep admitting p while it is still in the
	// Raft configuration (membership is the union of both), and a leader
	// removing itself steps down right after RemoveServer, too late to
	// propose anything.
	if _, err := n.Apply(ctx, &NodeRemove{PeerID: p.String()}); err != nil {
		return fmt.Errorf("remove from the node table: %w", err)
	}
	if err := waitFuture(ctx, n.raft.RemoveServer(raft.ServerID(p.String()), 0, futureTimeout(ctx))); err != nil {
		if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
			return fmt.Errorf("%w: %w", ErrNotLeader, err)
		}
		return fmt.Errorf("remove from the raft configuration: %w", err)
	}
	return nil
}

func addrStrings(as []ma.Multiaddr) []string {
	out := make([]string, 0, len(as))
	for _, a := range as {
		out = append(out, a.String())
	}
	return out
}

// summary is a one-line description of a report for dashboards.
func summary(report []byte) string {
	var sim SimulatedReport
	if err := jsonUnmarshal(report, &sim); err == nil && sim.Simulated {
		return "simulated attestation (dev mode): key possession only"
	}
	// attest.Report's JSON, read by field so consensus needs no attest import.
	var tdx struct {
		Kind          string `json:"kind"`
		TCBStatus     string `json:"tcb_status"`
		PolicyChecked bool   `json:"policy_checked"`
		Debug         bool   `json:"debug"`
	}
	if err := jsonUnmarshal(report, &tdx); err == nil && tdx.Kind == "tdx" {
		out := "Intel TDX, measurements checked against the policy"
		if !tdx.PolicyChecked {
			out = "Intel TDX, measurements NOT checked"
		}
		out += ", TCB " + tdx.TCBStatus
		if tdx.Debug {
			out += ", DEBUG TD"
		}
		return out
	}
	return fmt.Sprintf("attestation report, %d bytes", len(report))
}

type pendingJoin struct {
	nonce   []byte
	expires time.Time
}

// joinWindow is how long a join handshake may take end to end.
const joinWindow = time.Minute
