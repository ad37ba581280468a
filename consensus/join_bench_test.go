package consensus

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/outlayer/outlayer/attest"
	"github.com/outlayer/outlayer/attest/attesttest"
)

// BenchmarkJoinTDX is one join handshake on the production path: a
// non-dev three-node loopback cluster with the TDX verifier and a
// measurement policy, the joiner quoting with the test PCK chain. Timed:
// the joiner's Join through a follower (hello relayed to the leader,
// nonce, quote, verification, NodeAdd, AddNonvoter, first entries
// replicated). Opening the joiner and removing it afterwards are not timed.
func BenchmarkJoinTDX(b *testing.B) {
	ca, err := attesttest.NewCA()
	if err != nil {
		b.Fatal(err)
	}
	var good attest.Measurements
	good.MRTD[0] = 0x11
	policy := &attest.Policy{MRTD: []attest.Measurement{good.MRTD}}
	verifier := attest.JoinVerifier{V: attest.NewVerifier(attest.VerifierConfig{Policy: policy, TrustedRoots: ca.Roots()})}
	td := attest.JoinAttester{A: attesttest.Attester{CA: ca, TD: attesttest.TD{Measurements: good}}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	b.Cleanup(cancel)
	base := b.TempDir()
	open := func(name string) *Node {
		b.Helper()
		n, err := Open(ctx, Config{DataDir: filepath.Join(base, name), ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"},
			Verifier: verifier, Attester: td, Raft: fastRaft(), Logger: testLogger().With("node", name)})
		if err != nil {
			b.Fatal(err)
		}
		return n
	}
	var members []*Node
	b.Cleanup(func() {
		for _, n := range members {
			_ = n.Close()
		}
	})
	for i := range 3 {
		n := open(fmt.Sprint("m", i))
		members = append(members, n)
		if i == 0 {
			if err := n.Bootstrap(ctx); err != nil {
				b.Fatal(err)
			}
			continue
		}
		if err := n.Join(ctx, members[0].Addrs()[0].String()); err != nil {
			b.Fatal(err)
		}
	}
	via := members[1].Addrs()[0].String() + "/p2p/" + members[1].PeerID().String()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		j := open(fmt.Sprint("j", i))
		b.StartTimer()
		if err := j.Join(ctx, via); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := members[0].Remove(ctx, j.PeerID()); err != nil {
			b.Fatal(err)
		}
		_ = j.Close()
		b.StartTimer()
	}
}
