package consensus

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/outlayer/outlayer/attest"
	"github.com/outlayer/outlayer/attest/attesttest"
)

// replayAttester sends evidence recorded earlier, whatever the nonce.
type replayAttester struct{ evidence []byte }

func (r replayAttester) Evidence(context.Context, crypto.PrivKey, []byte) ([]byte, error) {
	return r.evidence, nil
}

// otherKeyAttester quotes over the right nonce but another node's key.
type otherKeyAttester struct {
	a     attest.Attester
	other crypto.PrivKey
}

func (o otherKeyAttester) Evidence(ctx context.Context, _ crypto.PrivKey, nonce []byte) ([]byte, error) {
	return attest.JoinAttester{A: o.a}.Evidence(ctx, o.other, nonce)
}

// noEvidence sends nothing.
type noEvidence struct{}

func (noEvidence) Evidence(context.Context, crypto.PrivKey, []byte) ([]byte, error) { return nil, nil }

// TestProductionClusterVerifiesTDXJoins runs the production join path — not
// dev mode, the attest TDX verifier with a measurement policy — on a
// three-node loopback cluster whose quotes are signed by a test PCK chain.
// An allowed joiner gets in; a measurement outside the policy, a debug TD,
// a replayed quote, a stale quote, a quote for another key, simulated
// evidence and no evidence are refused, and the cluster is left unchanged.
func TestProductionClusterVerifiesTDXJoins(t *testing.T) {
	ca, err := attesttest.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	var good, other attest.Measurements
	good.MRTD[0], good.RTMR[0][0] = 0x11, 0x22
	other = good
	other.MRTD[0] = 0x33
	policy := &attest.Policy{MRTD: []attest.Measurement{good.MRTD}, RTMR0: []attest.Measurement{good.RTMR[0]}}
	verifier := attest.JoinVerifier{V: attest.NewVerifier(attest.VerifierConfig{Policy: policy, TrustedRoots: ca.Roots()})}
	tdAttester := func(td attesttest.TD) attest.Attester { return attesttest.Attester{CA: ca, TD: td} }
	goodTD := tdAttester(attesttest.TD{Measurements: good})
	ctx := ctxT(t, 3*time.Minute)
	base := t.TempDir()

	var nodes []*Node
	t.Cleanup(func() {
		for _, n := range nodes {
			_ = n.Close()
		}
	})
	open := func(name string, a Attester) *Node {
		t.Helper()
		n, err := Open(ctx, Config{
			DataDir: filepath.Join(base, name), ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"},
			Verifier: verifier, Attester: a, Raft: fastRaft(), Logger: testLogger().With("node", name),
		})
		if err != nil {
			t.Fatalf("open %s: %v", name, err)
		}
		nodes = append(nodes, n)
		return n
	}
	n0 := open("n0", attest.JoinAttester{A: goodTD})
	if err := n0.Bootstrap(ctx); err != nil {
		t.Fatalf("bootstrap with a TDX quote: %v", err)
	}
	n1 := open("n1", attest.JoinAttester{A: goodTD})
	start := time.Now()
	if err := n1.Join(ctx, n0.Addrs()[0].String()); err != nil {
		t.Fatalf("an allowed joiner was refused: %v", err)
	}
	t.Logf("join handshake with TDX quote and verification, through the leader: %v", time.Since(start).Round(time.Millisecond))
	n2 := open("n2", attest.JoinAttester{A: goodTD})
	start = time.Now()
	if err := n2.Join(ctx, n1.Addrs()[0].String()); err != nil {
		t.Fatalf("an allowed joiner (through a follower) was refused: %v", err)
	}
	t.Logf("join handshake with TDX quote and verification, through a follower: %v", time.Since(start).Round(time.Millisecond))
	waitFor(t, 10*time.Second, "three servers", func() bool {
		s, err := n0.Servers()
		return err == nil && len(s) == 3
	})
	recs, err := n0.Store().Nodes()
	if err != nil || len(recs) != 3 {
		t.Fatalf("node table: %d, %v", len(recs), err)
	}
	for _, r := range recs {
		var rep attest.Report
		if err := jsonUnmarshal(r.Attestation, &rep); err != nil || rep.Kind != attest.KindTDX || !rep.PolicyChecked || rep.Measurements != good {
			t.Fatalf("stored report for %s: %+v %v", r.PeerID, rep, err)
		}
		if want := "Intel TDX, measurements checked against the policy, TCB " + attest.TCBNotChecked; r.AttestationSummary != want {
			t.Errorf("summary %q, want %q", r.AttestationSummary, want)
		}
	}
	appliedBefore := n0.AppliedIndex()

	// Evidence recorded from an honest node, to be replayed.
	n1Evidence, err := attest.JoinAttester{A: goodTD}.Evidence(ctx, n1.key, []byte("a nonce from an earlier join"))
	if err != nil {
		t.Fatal(err)
	}
	otherKey, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	simulated := SimulatedAttestation{}
	cases := []struct {
		name string
		att  func(self *Node) Attester
		want error
	}{
		{"measurement outside the policy", func(*Node) Attester {
			return attest.JoinAttester{A: tdAttester(attesttest.TD{Measurements: other})}
		}, attest.ErrMeasurement},
		{"debug TD", func(*Node) Attester {
			return attest.JoinAttester{A: tdAttester(attesttest.TD{Measurements: good, Debug: true})}
		}, attest.ErrMeasurement},
		{"replayed quote of a member", func(*Node) Attester { return replayAttester{n1Evidence} }, attest.ErrReportData},
		{"stale quote over an old nonce", func(self *Node) Attester {
			ev, err := attest.JoinAttester{A: goodTD}.Evidence(ctx, self.key, []byte("yesterday's nonce"))
			if err != nil {
				t.Fatal(err)
			}
			return replayAttester{ev}
		}, attest.ErrReportData},
		{"quote for another key", func(*Node) Attester { return otherKeyAttester{a: goodTD, other: otherKey} }, attest.ErrReportData},
		{"simulated evidence", func(*Node) Attester { return simulated }, attest.ErrMalformed},
		{"no evidence", func(*Node) Attester { return noEvidence{} }, attest.ErrMalformed},
	}
	for i, c := range cases {
		joiner := open(fmt.Sprintf("bad%d", i), noEvidence{})
		joiner.cfg.Attester = c.att(joiner)
		err := joiner.Join(ctx, n0.Addrs()[0].String())
		if !errors.Is(err, ErrJoinRefused) || !strings.Contains(err.Error(), c.want.Error()) {
			t.Errorf("%s: join error %v, want ErrJoinRefused for %q", c.name, err, c.want)
		}
		t.Logf("%s: %v", c.name, err)
		_ = joiner.Close()
	}
	servers, err := n0.Servers()
	if err != nil || len(servers) != 3 {
		t.Fatalf("after the refused joins the configuration has %d servers (%v)", len(servers), err)
	}
	if recs, err := n0.Store().Nodes(); err != nil || len(recs) != 3 {
		t.Fatalf("after the refused joins the node table has %d entries (%v)", len(recs), err)
	}
	if got := n0.AppliedIndex(); got != appliedBefore {
		t.Errorf("refused joins wrote to the log: applied index %d → %d", appliedBefore, got)
	}
}
