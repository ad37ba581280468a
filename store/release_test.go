package store

import (
	"errors"
	"testing"
	"time"
)

func TestReleaseRequeuesAtOnce(t *testing.T) {
	s := openTemp(t)
	mustEnqueue(t, s, 1)
	if _, err := s.Assign(1, "nodeA", t0.Add(time.Hour), t0); err != nil {
		t.Fatal(err)
	}
	at := t0.Add(5 * time.Second)
	j, err := s.Release(1, "nodeA", at)
	if err != nil {
		t.Fatalf("release by the holder: %v", err)
	}
	if j.Status != StatusQueued || j.Node != "" || !j.LeaseUntil.IsZero() {
		t.Fatalf("after release: status %s node %q lease %s", j.Status, j.Node, j.LeaseUntil)
	}
	j = mustStatus(t, s, 1, StatusQueued)
	if len(j.Attempts) != 1 || j.Attempts[0].Outcome != AttemptReleased || !j.Attempts[0].EndedAt.Equal(at) {
		t.Fatalf("attempt not marked released: %+v", j.Attempts)
	}
	if q, _ := s.Queued(0); len(q) != 1 || q[0].ID != 1 {
		t.Fatalf("released request not back in the queue: %v", q)
	}
	if l, _ := s.Leases(t0.Add(24*time.Hour), 0); len(l) != 0 {
		t.Fatalf("released request still has a lease: %v", l)
	}
	if mine, _ := s.AssignedTo("nodeA"); len(mine) != 0 {
		t.Fatalf("released request still listed under its old holder")
	}
	if c, _ := s.Counts(); c[StatusQueued] != 1 || c[StatusAssigned] != 0 {
		t.Fatalf("counters after release: %v", c)
	}
	// Another node takes it straight away, long before the old lease would
	// have ended.
	if _, err := s.Assign(1, "nodeB", t0.Add(2*time.Hour), t0.Add(6*time.Second)); err != nil {
		t.Fatalf("reassign after release: %v", err)
	}
}

func TestReleasedNodesResultIsLate(t *testing.T) {
	s := openTemp(t)
	mustEnqueue(t, s, 1)
	s.Assign(1, "nodeA", t0.Add(time.Hour), t0)
	if _, err := s.Release(1, "nodeA", t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	// The releasing node's run finished after all: while the request is
	// queued, and again once someone else holds it, its result is late.
	out, err := s.Complete(1, "nodeA", okResult("from A"), t0.Add(2*time.Second))
	if err != nil || out != Late {
		t.Fatalf("result after release: %v %v, want late", out, err)
	}
	mustStatus(t, s, 1, StatusQueued)
	s.Assign(1, "nodeB", t0.Add(time.Hour), t0.Add(3*time.Second))
	if out, _ := s.Complete(1, "nodeA", okResult("from A again"), t0.Add(4*time.Second)); out != Duplicate {
		t.Fatalf("second result from the releasing node: %v, want duplicate", out)
	}
	mustStatus(t, s, 1, StatusAssigned)
	if out, err := s.Complete(1, "nodeB", okResult("from B"), t0.Add(5*time.Second)); err != nil || out != Accepted {
		t.Fatalf("new holder's result: %v %v", out, err)
	}
	j := mustStatus(t, s, 1, StatusCompleted)
	if string(j.Result.Output) != "from B" || j.Result.Node != "nodeB" {
		t.Fatalf("accepted result is %q from %s, want nodeB's", j.Result.Output, j.Result.Node)
	}
	if j.Attempts[0].Outcome != AttemptReleased || j.Attempts[0].LateResult == nil || string(j.Attempts[0].LateResult.Output) != "from A" {
		t.Fatalf("released attempt lost its late result: %+v", j.Attempts[0])
	}
}

func TestReleaseRefusalsWriteNothing(t *testing.T) {
	s := openTemp(t)
	mustEnqueue(t, s, 1, 2, 3)
	s.Assign(1, "nodeA", t0.Add(time.Minute), t0)
	s.Assign(3, "nodeA", t0.Add(time.Minute), t0)
	s.Complete(3, "nodeA", okResult("done"), t0.Add(time.Second))
	cases := []struct {
		name string
		id   uint64
		node string
		now  time.Time
		want error
	}{
		{"unknown id", 404, "nodeA", t0.Add(time.Second), ErrNotFound},
		{"another node's lease", 1, "nodeB", t0.Add(time.Second), ErrNotHolder},
		{"queued", 2, "nodeA", t0.Add(time.Second), ErrInvalidTransition},
		{"completed", 3, "nodeA", t0.Add(2 * time.Second), ErrInvalidTransition},
		{"lease already ended", 1, "nodeA", t0.Add(time.Minute), ErrInvalidTransition},
		{"empty node", 1, "", t0.Add(time.Second), ErrBadInput},
		{"zero time", 1, "nodeA", time.Time{}, ErrBadInput},
	}
	for _, c := range cases {
		before, err := s.Digest()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Release(c.id, c.node, c.now); !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
		if after, _ := s.Digest(); after != before {
			t.Errorf("%s: a refused release changed the store", c.name)
		}
	}
	mustStatus(t, s, 1, StatusAssigned)
	// A release refused inside a batch leaves the rest of the batch alone.
	err := s.Update(func(tx *Tx) error {
		if _, err := tx.Release(1, "nodeB", t0.Add(time.Second)); !errors.Is(err, ErrNotHolder) {
			t.Errorf("in batch: %v", err)
		}
		_, err := tx.Release(1, "nodeA", t0.Add(time.Second))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	mustStatus(t, s, 1, StatusQueued)
}

// A released attempt is a node stepping aside, not a failure: it must not
// use up the attempts that RequeueExpired allows.
func TestReleasedAttemptsDoNotCountTowardTheBound(t *testing.T) {
	s := openTemp(t)
	mustEnqueue(t, s, 1)
	now := t0
	for _, node := range []string{"nodeA", "nodeB", "nodeC"} {
		if _, err := s.Assign(1, node, now.Add(time.Minute), now); err != nil {
			t.Fatal(err)
		}
		now = now.Add(time.Second)
		if _, err := s.Release(1, node, now); err != nil {
			t.Fatal(err)
		}
	}
	// Three released attempts, then one that expires: with a bound of 2 the
	// request is requeued (one counted attempt), not failed.
	s.Assign(1, "nodeD", now.Add(time.Minute), now)
	now = now.Add(time.Minute)
	rq, err := s.RequeueExpired(now, 2)
	if err != nil || len(rq) != 1 || rq[0].Status != StatusQueued {
		t.Fatalf("requeue after releases: %+v %v, want queued", rq, err)
	}
	// A second expiry reaches the bound; the error counts only real attempts.
	s.Assign(1, "nodeE", now.Add(time.Minute), now)
	now = now.Add(time.Minute)
	rq, err = s.RequeueExpired(now, 2)
	if err != nil || len(rq) != 1 || rq[0].Status != StatusFailed {
		t.Fatalf("requeue at the bound: %+v %v, want failed", rq, err)
	}
	j := mustStatus(t, s, 1, StatusFailed)
	if len(j.Attempts) != 5 {
		t.Fatalf("attempts recorded: %d, want 5", len(j.Attempts))
	}
	if want := "gave up after 2 attempts: the lease of the last node (nodeE) expired without a result"; j.Error != want {
		t.Fatalf("error = %q, want %q", j.Error, want)
	}
}
