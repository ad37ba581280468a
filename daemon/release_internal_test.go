package daemon

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/outlayer/outlayer/consensus"
	"github.com/outlayer/outlayer/store"
)

// slowReleaser answers Release only when the test says so (or when its ctx
// ends, as a real proposal does: outcome unknown). The release commits on
// the replica only when commit is called, which the test does after Apply
// has answered — a commit the proposer never heard of.
type slowReleaser struct {
	rep      *fakeReplica
	inFlight chan struct{} // closed when the first Release arrives
	answer   chan struct{} // closed by the test: answer success
	mu       sync.Mutex
	cut      bool // Apply's ctx ended before the answer
	once     sync.Once
}

func (p *slowReleaser) Apply(ctx context.Context, cmd consensus.Command) (consensus.Result, error) {
	if _, ok := cmd.(*consensus.Release); !ok {
		return consensus.Result{}, fmt.Errorf("unexpected command %T", cmd)
	}
	p.once.Do(func() { close(p.inFlight) })
	select {
	case <-ctx.Done():
		p.mu.Lock()
		p.cut = true
		p.mu.Unlock()
		return consensus.Result{}, fmt.Errorf("%w: %w", consensus.ErrIndeterminate, ctx.Err())
	case <-p.answer:
		return consensus.Result{}, nil
	}
}

// commit applies the release to the replica, as Raft does whether or not
// the proposer is still waiting.
func (p *slowReleaser) commit(id uint64) {
	j := p.rep.jobs[id]
	j.Attempts[len(j.Attempts)-1].Outcome = store.AttemptReleased
	j.Status, j.Node = store.StatusQueued, ""
}

func (p *slowReleaser) wasCut() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cut
}

func leasedJob(id uint64, node string, until time.Time) *store.Job {
	j := &store.Job{Status: store.StatusAssigned, Node: node, LeaseUntil: until,
		Attempts: []store.Attempt{{Node: node, AssignedAt: time.Now(), LeaseUntil: until, Outcome: store.AttemptLeased}}}
	j.ID = id
	return j
}

// Stopping the draining release loop while a release is in flight lets that
// release finish and counts it. (It used to cancel it: the release then
// committed uncounted, and the final sweep skipped the lease because it was
// no longer this node's.)
func TestStopDoesNotCancelAnInFlightRelease(t *testing.T) {
	rep := newFakeReplica(leasedJob(7, "A", time.Now().Add(time.Minute)))
	p := &slowReleaser{rep: rep, inFlight: make(chan struct{}), answer: make(chan struct{})}
	w := testWorker(rep, &fakeRunner{})
	w.propose, w.wake = p, newNotifier(func() uint64 { return 0 })

	stop := w.releaseWhileDraining()
	select {
	case <-p.inFlight:
	case <-time.After(10 * time.Second):
		t.Fatal("the draining loop never proposed the release")
	}
	stopped := make(chan struct{})
	go func() { stop(); close(stopped) }()
	// Stop has begun. Give it the chance to cut the release short (what
	// the old code did at once); it must not, nor return before the
	// release answers.
	select {
	case <-stopped:
		if !p.wasCut() {
			t.Fatal("stop returned while the release was still in flight")
		}
	case <-time.After(300 * time.Millisecond):
	}
	close(p.answer)
	<-stopped
	p.commit(7)
	w.releaseHeld()

	if p.wasCut() {
		t.Error("stop cancelled the release in flight")
	}
	if got, _ := w.metrics.value("outlayer_leases_released_total"); got != 1 {
		t.Fatalf("outlayer_leases_released_total = %v, want 1 (the release that committed)", got)
	}
}

// An in-flight release that never answers holds Stop up for at most
// releaseCallTimeout.
func TestStopWaitsForAnInFlightReleaseAtMostItsTimeout(t *testing.T) {
	if testing.Short() {
		t.Skip("waits releaseCallTimeout")
	}
	rep := newFakeReplica(leasedJob(7, "A", time.Now().Add(time.Minute)))
	p := &slowReleaser{rep: rep, inFlight: make(chan struct{}), answer: make(chan struct{})}
	w := testWorker(rep, &fakeRunner{})
	w.propose, w.wake = p, newNotifier(func() uint64 { return 0 })

	stop := w.releaseWhileDraining()
	<-p.inFlight
	start := time.Now()
	stop()
	if took := time.Since(start); took > releaseCallTimeout+time.Second {
		t.Fatalf("stop took %s with a release that never answers; want at most about %s", took, releaseCallTimeout)
	}
	if !p.wasCut() {
		t.Fatal("the release that never answered was not given up")
	}
	if got, _ := w.metrics.value("outlayer_leases_released_total"); got != 0 {
		t.Fatalf("outlayer_leases_released_total = %v, want 0 (nothing committed)", got)
	}
}

// A release whose answer is lost (outcome unknown) but that this replica
// shows as committed is counted; one the replica does not show is not.
func TestIndeterminateReleaseIsCountedWhenTheReplicaShowsIt(t *testing.T) {
	until := time.Now().Add(time.Minute)
	for _, committed := range []bool{true, false} {
		rep := newFakeReplica(leasedJob(7, "A", until))
		w := testWorker(rep, &fakeRunner{})
		w.propose = &fakeProposer{answer: func(consensus.Command) (consensus.Result, error) {
			if committed {
				(&slowReleaser{rep: rep}).commit(7)
			}
			return consensus.Result{}, fmt.Errorf("%w: leadership lost", consensus.ErrIndeterminate)
		}}
		if got := w.release(context.Background(), leasedJob(7, "A", until)); got != committed {
			t.Errorf("committed %v: release reported %v", committed, got)
		}
		want := 0.0
		if committed {
			want = 1
		}
		if got, _ := w.metrics.value("outlayer_leases_released_total"); got != want {
			t.Errorf("committed %v: outlayer_leases_released_total = %v, want %v", committed, got, want)
		}
	}
}
