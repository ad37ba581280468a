package daemon_test

import (
	"crypto/sha256"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/outlayer/outlayer/consensus"
	"github.com/outlayer/outlayer/contracts"
	"github.com/outlayer/outlayer/daemon"
	"github.com/outlayer/outlayer/store"
)

// TestRestartedExecutorKeyIsVouchedIn: three production nodes (TDX joins,
// memory-only identities) on the devchain with k = 2, keys registered once
// by the owner. A follower restarts under a new identity; with nobody
// touching the contract, the leader has the two other members vouch its
// new executor key in and the old identity's key out (vouch_executor_key),
// and the next request, run by the restarted node and the leader alone,
// settles with the new key's signature. The operator then removes the
// dead third node from the cluster, and its key is vouched out too.
func TestRestartedExecutorKeyIsVouchedIn(t *testing.T) {
	tdx := newTestTDX(t)
	w := newWorld(t, 50*time.Millisecond, 600)
	w.startCluster(3, tdx.production(tdx.goodTD))
	w.requireSignatures(2)

	registered := func() []string {
		t.Helper()
		var keys []contracts.ExecutorKey
		if err := w.cl.ViewFunction(w.ctx, w.outlayer, contracts.MethodListExecutorKeys, nil, &keys); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, k := range keys {
			out = append(out, k.PublicKey)
		}
		return out
	}
	leader := w.leader()
	restartee, other := (leader+1)%3, (leader+2)%3
	oldKey := executorKeyOf(t, w.node(restartee))
	w.kill(restartee)
	restarted := time.Now()
	w.restart(restartee)
	newKey := executorKeyOf(t, w.node(restartee))
	if newKey == oldKey {
		t.Fatal("the restarted node kept its executor key outside dev mode")
	}
	w.eventually(90*time.Second, "the new executor key registered and the old one removed", func() bool {
		keys := registered()
		return len(keys) == 3 && slices.Contains(keys, newKey) && !slices.Contains(keys, oldKey)
	})
	t.Logf("new key in and old key out %s after the restart began", time.Since(restarted).Round(10*time.Millisecond))
	// The leader that made the changes reports them (leadership may have
	// moved since, so any node may be it).
	var made *daemon.ExecutorKeysStatus
	for i := range 3 {
		if st, err := w.node(i).ClusterStatus(); err == nil && st.ExecutorKeys.LastChange != "" {
			made = &st.ExecutorKeys
		}
	}
	if made == nil || made.Error != "" || len(made.Pending) != 0 {
		t.Errorf("no node's /status executor_keys reports the changes cleanly: %+v", made)
	}
	t.Logf("executor_keys status: %+v", made)

	// Only the leader and the restarted node are left to execute: k = 2
	// needs both, so the resolve carries the new key's signature.
	otherKey, otherID := executorKeyOf(t, w.node(other)), w.node(other).PeerID()
	w.kill(other)
	echo := programs["echo"]
	if _, err := w.node(restartee).Consensus().Apply(w.ctx, &consensus.PutBlob{Hash: store.BlobHash(sha256.Sum256(echo)), Data: echo}); err != nil {
		t.Fatal(err)
	}
	limits := contracts.ResourceLimits{MaxInstructions: 200_000_000, MaxMemoryMB: 32, MaxExecutionSeconds: 10}
	deposit := add(contracts.DefaultPricing().Estimate(limits), nearAmount(t, "0.5"))
	o := parseOutcome(t, w.final(w.request(w.wasmSource("echo"), "after the key change", limits, contracts.FormatText, deposit), w.alice.AccountID(), 2*time.Minute))
	if len(o.completed) != 1 || !o.completed[0].Success {
		t.Fatalf("request %d: completed %+v", o.requestID, o.completed)
	}
	j := w.job(o.requestID, 10*time.Second)
	if signers := w.resolveSigners(j); len(signers) != 2 || !slices.Contains(signers, newKey) {
		t.Fatalf("the resolve's signers %v do not include the restarted node's new key %s", signers, newKey)
	}

	// The operator removes the dead node from the cluster (outlayerd node
	// remove): its key is vouched out by the two left.
	pid, err := peer.Decode(otherID)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.node(w.leader()).Consensus().Remove(w.ctx, pid); err != nil {
		t.Fatalf("removing the dead node: %v", err)
	}
	w.eventually(60*time.Second, "the removed node's executor key removed", func() bool {
		keys := registered()
		return len(keys) == 2 && !slices.Contains(keys, otherKey)
	})
}
