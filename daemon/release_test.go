package daemon_test

import (
	"context"
	"testing"
	"time"

	"github.com/outlayer/outlayer/contracts"
	"github.com/outlayer/outlayer/daemon"
	"github.com/outlayer/outlayer/store"
)

// A node stopped gracefully while running a slow request hands its lease
// back when the drain deadline cancels the run: another node runs the
// request at once, and the chain settles it long before the first lease
// would have run out.
func TestStopReleasesLeaseAnotherNodeFinishesEarly(t *testing.T) {
	w := newWorld(t, 50*time.Millisecond, 2400)
	// The harness's build allowance (90 s) makes the first lease long: a
	// request that waited for it to expire could not finish in time.
	w.startCluster(3, nil)
	h := w.request(w.wasmSource("spin"), "120000", spinLimits, contracts.FormatText, nearAmount(t, "1"))
	first := w.waitAssigned()
	holder := w.indexOf(first.Node)
	if holder < 0 {
		t.Fatalf("request assigned to unknown node %s", first.Node)
	}
	if time.Until(first.LeaseUntil) < 30*time.Second {
		t.Fatalf("first lease ends in %s; too short for this test to tell a release from an expiry", time.Until(first.LeaseUntil))
	}

	ctx, cancel := context.WithTimeout(w.ctx, 300*time.Millisecond)
	defer cancel()
	stopped := w.node(holder)
	if err := stopped.Stop(ctx); err != nil {
		t.Fatalf("stop: %v", err)
	}
	w.mu.Lock()
	w.nodes[holder] = nil
	w.mu.Unlock()

	o := parseOutcome(t, w.final(h, w.alice.AccountID(), time.Until(first.LeaseUntil)))
	done := checkOnce(t, w, o, "")
	if done.Result.Node == first.Node {
		t.Fatalf("the result came from the stopped node %s", first.Node)
	}
	if !done.DoneAt.Before(first.LeaseUntil) {
		t.Fatalf("completed at %s, not before the first lease's end %s", done.DoneAt, first.LeaseUntil)
	}
	if len(done.Attempts) < 2 {
		t.Fatalf("attempts %+v: want the released one and the one that finished", done.Attempts)
	}
	a0 := done.Attempts[0]
	if a0.Node != first.Node || a0.Outcome != store.AttemptReleased || !a0.EndedAt.Before(first.LeaseUntil) {
		t.Fatalf("first attempt %+v: want released by %s before its lease end", a0, first.Node)
	}
	last := done.Attempts[len(done.Attempts)-1]
	if last.Outcome != store.AttemptCompleted || last.Node != done.Result.Node {
		t.Fatalf("last attempt %+v: want completed by %s", last, done.Result.Node)
	}
	// Stop returns after the final sweep, so the release is counted.
	if got, ok := daemon.MetricValue(stopped, "outlayer_leases_released_total"); !ok || got < 1 {
		t.Fatalf("outlayer_leases_released_total on the stopped node = %v (present %v), want >= 1", got, ok)
	}
	t.Logf("lease released %s after it was granted; completed by %s %s before the first lease would have ended",
		a0.EndedAt.Sub(a0.AssignedAt).Round(time.Millisecond), done.Result.Node, first.LeaseUntil.Sub(done.DoneAt).Round(time.Second))
}
