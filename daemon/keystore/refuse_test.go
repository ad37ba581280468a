package keystore

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/outlayer/outlayer/consensus"
	"github.com/outlayer/outlayer/consensus/p2p"
	"github.com/outlayer/outlayer/store"
)

// TestUnattestedPeerNeverReceivesMaster: a node whose attestation fails at
// join is not admitted and cannot obtain the master secret, neither
// through Run/Fetch nor by asking a member directly; a member record
// without a verified report, or with a simulated one outside dev mode, is
// refused too. A properly attested joiner receives it (the positive path).
func TestUnattestedPeerNeverReceivesMaster(t *testing.T) {
	h := newHarness(t, nil, "")
	h.cluster(2) // node 1 joined, was attested, and received the master
	ctx := h.ctx
	member := h.nodes[0]

	o := h.add()
	outsider := h.nodes[o]
	h.verifier.mu.Lock()
	h.verifier.refuse[outsider.cons.PeerID()] = true
	h.verifier.mu.Unlock()
	if err := outsider.cons.Join(ctx, h.addr(0)); err == nil {
		t.Fatal("a node that failed attestation joined")
	}

	runCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
	err := outsider.ks.Run(runCtx)
	cancel()
	if !errors.Is(err, ErrNotReady) || outsider.ks.Ready() {
		t.Fatalf("the refused node's keystore: %v (ready %v)", err, outsider.ks.Ready())
	}
	// Asking a member directly over libp2p: the member does not admit it.
	outsider.cons.Host().Gater().Allow(member.cons.PeerID(), time.Minute)
	outsider.cons.Host().AddAddrs(member.cons.PeerID(), member.cons.Addrs())
	if m, err := outsider.ks.requestMaster(ctx, member.cons.PeerID()); err == nil {
		t.Fatalf("a refused peer received %d bytes of master secret", len(m))
	}
	if outsider.ks.Ready() {
		t.Fatal("the refused peer's keystore became ready")
	}
	if _, err := member.cons.Store().Sealed(entryNodePrefix + outsider.cons.PeerID().String()); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a sealed copy exists for the refused peer: %v", err)
	}

	// The member's own check, whatever the gater did: the node table must
	// hold a verified, acceptable report for the requester.
	p := outsider.cons.PeerID()
	if _, err := member.ks.sealMasterFor(p, masterRequest{Want: "master"}); err == nil || !strings.Contains(err.Error(), "not in the node table") {
		t.Fatalf("unknown peer: %v", err)
	}
	putNode := func(report []byte) {
		t.Helper()
		if _, err := member.cons.Apply(ctx, &consensus.NodeAdd{Node: store.Node{PeerID: p.String(), Role: store.RoleNonVoter,
			Attestation: report, JoinedAt: time.Now()}}); err != nil {
			t.Fatal(err)
		}
	}
	putNode(nil)
	if _, err := member.ks.sealMasterFor(p, masterRequest{Want: "master"}); err == nil || !strings.Contains(err.Error(), "no verified attestation") {
		t.Fatalf("member without a report: %v", err)
	}
	simulated, _ := json.Marshal(consensus.SimulatedReport{Kind: "outlayer-simulated-attestation-v1", Peer: p.String(), Simulated: true})
	putNode(simulated)
	member.ks.cfg.DevMode = false
	if _, err := member.ks.sealMasterFor(p, masterRequest{Want: "master"}); err == nil || !strings.Contains(err.Error(), "simulated") {
		t.Fatalf("simulated report outside dev mode: %v", err)
	}
	// A TDX-verified report is accepted, and what is sent opens only with
	// the attested node key.
	putNode([]byte(`{"kind":"tdx","tcb_status":"UpToDate","policy_checked":true}`))
	sealed, err := member.ks.sealMasterFor(p, masterRequest{Want: "master"})
	if err != nil {
		t.Fatalf("attested member: %v", err)
	}
	member.ks.cfg.DevMode = true
	key, _ := p2p.LoadOrCreateIdentity(outsider.dir)
	x, _ := nodeX25519Private(key)
	got, err := open(x, masterTransferInfo, transferAAD(p, member.cons.PeerID()), sealed)
	if err != nil || string(got) != string(member.ks.masterKey()) {
		t.Fatalf("the attested key does not open the transfer: %v", err)
	}
	otherKey, _ := p2p.LoadOrCreateIdentity(h.nodes[1].dir)
	x2, _ := nodeX25519Private(otherKey)
	if _, err := open(x2, masterTransferInfo, transferAAD(p, member.cons.PeerID()), sealed); err == nil {
		t.Fatal("another node's key opened a transfer meant for this one")
	}
}
