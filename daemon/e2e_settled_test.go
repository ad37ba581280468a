package daemon_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/outlayer/outlayer/contracts"
	"github.com/outlayer/outlayer/contracts/near"
	"github.com/outlayer/outlayer/daemon"
	"github.com/outlayer/outlayer/store"
)

// The leader's resolve lands on chain and the leader dies before it records
// Resolved. Its successor inherits the request: before resolving it, it
// reads the contract's state, sees it resolved, finds the landed
// transaction and closes the request as resolved with that transaction's
// hash — without sending a second resolve, which the chain would refuse.
func TestResolveLandedBeforeLeaderDiedIsRecordedAsResolved(t *testing.T) {
	w := newWorld(t, 50*time.Millisecond, 2400)
	var once sync.Once
	landed := make(chan string, 1)
	w.startCluster(3, func(c *daemon.Config) {
		daemon.SetAfterResolveLanded(c, func(ctx context.Context, _ uint64, tx string) bool {
			hang := false
			once.Do(func() { hang = true; landed <- tx })
			if hang {
				<-ctx.Done() // the leader hangs here until it is killed
			}
			return hang
		})
	})
	limits := contracts.ResourceLimits{MaxInstructions: 50_000_000, MaxMemoryMB: 64, MaxExecutionSeconds: 5}
	h := w.request(w.wasmSource("echo"), "settled", limits, contracts.FormatText, nearAmount(t, "1"))
	var first string
	select {
	case first = <-landed:
	case <-w.ctx.Done():
		t.Fatal("no resolve landed")
	}
	w.kill(w.leader())

	o := parseOutcome(t, w.final(h, w.alice.AccountID(), time.Minute))
	if len(o.completed) != 1 || !o.completed[0].Success {
		t.Fatalf("completion events %+v, want exactly one success", o.completed)
	}
	j := w.job(o.requestID, 30*time.Second)
	if j.Status != store.StatusResolved || j.ResolveTx != first {
		t.Fatalf("replica: %s, resolve tx %q, error %q; want resolved by the landed tx %s", j.Status, j.ResolveTx, j.Error, first)
	}
	fh, err := near.ParseCryptoHash(first)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := w.cl.TxStatus(w.ctx, fh, w.operator.AccountID(), near.TxFinal); err != nil || out.Err() != nil {
		t.Fatalf("the recorded resolve tx did not succeed: %v %v", err, out.Err())
	}
	for i := range 3 {
		if nd := w.node(i); nd != nil {
			if v, ok := daemon.MetricValue(nd, "outlayer_resolves_refused_total"); !ok || v != 0 {
				t.Errorf("node %d: %v refused resolve transactions (metric found: %t)", i, v, ok)
			}
		}
	}
}
