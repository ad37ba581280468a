package keystore

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/outlayer/outlayer/attest"
	"github.com/outlayer/outlayer/attest/attesttest"
	"github.com/outlayer/outlayer/consensus"
	"github.com/outlayer/outlayer/consensus/p2p"
)

// recordingAttester keeps the last evidence it produced.
type recordingAttester struct {
	inner TransferAttester
	mu    sync.Mutex
	last  []byte
}

func (r *recordingAttester) Evidence(ctx context.Context, self crypto.PrivKey, nonce []byte) ([]byte, error) {
	ev, err := r.inner.Evidence(ctx, self, nonce)
	r.mu.Lock()
	r.last = ev
	r.mu.Unlock()
	return ev, err
}

type fixedEvidence []byte

func (f fixedEvidence) Evidence(context.Context, crypto.PrivKey, []byte) ([]byte, error) {
	return f, nil
}

// TestStolenNodeKeyGetsNoMaster: the master goes only to a requester that
// attests afresh, over this hand-over's nonce, from a TD the policy allows.
// A process holding only a copy of a member's node.key — the peer id the
// node table trusts — is refused, whether it signs a simulated attestation
// with the key, replays the member's earlier evidence, or quotes from a TD
// outside the policy.
func TestStolenNodeKeyGetsNoMaster(t *testing.T) {
	h := newHarness(t, nil, "")
	h.memoryOnly = true
	h.cluster(2)
	ctx := h.ctx
	member, honest := h.nodes[0], h.nodes[1]

	ca, err := attesttest.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	var good, other attest.Measurements
	good.MRTD[0], other.MRTD[0] = 0x44, 0x55
	policy := &attest.Policy{MRTD: []attest.Measurement{good.MRTD}}
	member.ks.cfg.Verifier = attest.JoinVerifier{V: attest.NewVerifier(attest.VerifierConfig{Policy: policy, TrustedRoots: ca.Roots()})}
	rec := &recordingAttester{inner: attest.JoinAttester{A: attesttest.Attester{CA: ca, TD: attesttest.TD{Measurements: good}}}}
	honest.ks.cfg.Attester = rec

	// The honest member, attesting afresh, receives the master.
	start := time.Now()
	got, err := honest.ks.requestMaster(ctx, member.cons.PeerID())
	if err != nil {
		t.Fatalf("an attested member was refused: %v", err)
	}
	t.Logf("master hand-over with a fresh TDX quote and its verification: %v", time.Since(start).Round(time.Microsecond))
	if !bytes.Equal(got, member.ks.masterKey()) {
		t.Fatal("the hand-over delivered another secret")
	}
	rec.mu.Lock()
	earlier := rec.last
	rec.mu.Unlock()

	// The thief: the member's node.key copied into a fresh data directory,
	// the member itself stopped, so the thief is the only holder of its
	// peer id on the network.
	stolenKey, err := os.ReadFile(filepath.Join(honest.dir, p2p.KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	honestID := honest.cons.PeerID()
	h.stop(1)
	thiefDir := filepath.Join(h.base, "thief")
	if err := os.MkdirAll(thiefDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(thiefDir, p2p.KeyFile), stolenKey, 0o600); err != nil {
		t.Fatal(err)
	}
	thiefCons, err := consensus.Open(ctx, consensus.Config{DataDir: thiefDir, ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, DevMode: true, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = thiefCons.Close() })
	if thiefCons.PeerID() != honestID {
		t.Fatalf("the copied key gave peer %s, want %s", thiefCons.PeerID(), honestID)
	}
	key, err := p2p.LoadOrCreateIdentity(thiefDir)
	if err != nil {
		t.Fatal(err)
	}
	thief, err := New(Config{Cluster: thiefCons, Identity: key, MemoryOnly: true, DevMode: true, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(thief.Close)
	thiefCons.Host().Gater().Allow(member.cons.PeerID(), time.Minute)
	thiefCons.Host().AddAddrs(member.cons.PeerID(), member.cons.Addrs())

	for _, c := range []struct {
		name string
		att  TransferAttester
	}{
		{"simulated attestation signed with the stolen key", consensus.SimulatedAttestation{}},
		{"the member's earlier evidence, replayed", fixedEvidence(earlier)},
		{"a quote from a TD outside the policy", attest.JoinAttester{A: attesttest.Attester{CA: ca, TD: attesttest.TD{Measurements: other}}}},
		{"no evidence", fixedEvidence(nil)},
	} {
		thief.cfg.Attester = c.att
		m, err := thief.requestMaster(ctx, member.cons.PeerID())
		if err == nil {
			t.Fatalf("%s: the thief received %d bytes of master secret", c.name, len(m))
		}
		if !strings.Contains(err.Error(), "fresh attestation") {
			t.Errorf("%s: refused, but not for its attestation: %v", c.name, err)
		}
		t.Logf("%s: %v", c.name, err)
	}
	if thief.Ready() {
		t.Fatal("the thief's keystore became ready")
	}
}
