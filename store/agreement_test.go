package store

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// runAgreeing leases request id to node (k agreeing executors) and
// completes it with res, returning the job afterwards.
func runAgreeing(t *testing.T, s *Store, id uint64, node string, k int, res Result, at time.Time) *Job {
	t.Helper()
	if _, err := s.AssignAgreeing(id, node, at.Add(time.Minute), k, at); err != nil {
		t.Fatalf("assign %d to %s: %v", id, node, err)
	}
	if out, err := s.Complete(id, node, res, at.Add(time.Second)); err != nil || out != Accepted {
		t.Fatalf("complete %d by %s: %v %v", id, node, out, err)
	}
	j, err := s.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func TestAgreementTwoOfTwoCompletes(t *testing.T) {
	s := openTemp(t)
	mustEnqueue(t, s, 1)
	j := runAgreeing(t, s, 1, "nodeA", 2, okResult("42"), t0)
	if j.Status != StatusQueued || j.Result != nil || j.Agreement == nil || j.Agreement.K != 2 || len(j.Agreement.Results) != 1 {
		t.Fatalf("after the first of two executors: %+v agreement %+v", j, j.Agreement)
	}
	if q, _ := s.Queued(0); len(q) != 1 {
		t.Fatalf("the request is not back in the queue for its second executor")
	}
	if un, _ := s.Unresolved(0); len(un) != 0 {
		t.Fatalf("one executor of two made the request resolvable")
	}
	// The same node cannot be the second executor.
	if _, err := s.AssignAgreeing(1, "nodeA", t0.Add(time.Hour), 2, t0.Add(2*time.Second)); !errors.Is(err, ErrInvalidTransition) {
		t.Fatalf("the first executor was assigned again: %v", err)
	}
	// A later Assign's k does not change the request's.
	j = runAgreeing(t, s, 1, "nodeB", 5, okResult("42"), t0.Add(3*time.Second))
	if j.Status != StatusCompleted || j.Agreement.K != 2 || string(j.Result.Output) != "42" || j.Result.Node != "nodeA" {
		t.Fatalf("two agreeing executors did not complete it: %+v", j)
	}
	if got := j.Agreement.Majority(); len(got) != 2 || got[0].Node != "nodeA" || got[1].Node != "nodeB" {
		t.Fatalf("majority = %+v", got)
	}
	if len(j.Agreement.Dissent) != 0 {
		t.Fatalf("dissent without disagreement: %+v", j.Agreement.Dissent)
	}
	if un, _ := s.Unresolved(0); len(un) != 1 {
		t.Fatalf("completed agreement not awaiting resolve")
	}
	m, err := s.NodeAgreements()
	if err != nil || m["nodeA"].Agreed != 1 || m["nodeB"].Agreed != 1 || m["nodeA"].Dissented != 0 {
		t.Fatalf("node counters = %+v, %v", m, err)
	}
	// A duplicate Complete from an executor changes nothing.
	if out, err := s.Complete(1, "nodeA", okResult("other"), t0.Add(time.Minute)); err != nil || out != Duplicate {
		t.Fatalf("duplicate complete: %v %v", out, err)
	}
}

func TestAgreementDissentOutvotedAndCounted(t *testing.T) {
	s := openTemp(t)
	mustEnqueue(t, s, 1, 2)
	rigged := okResult("FORGED")
	if j := runAgreeing(t, s, 1, "nodeC", 2, rigged, t0); j.Agreement.Disagreed() {
		t.Fatal("one result disagrees with nothing")
	}
	j := runAgreeing(t, s, 1, "nodeA", 2, okResult("42"), t0.Add(2*time.Second))
	if j.Status != StatusQueued || !j.Agreement.Disagreed() {
		t.Fatalf("two disagreeing executors: %+v", j)
	}
	j = runAgreeing(t, s, 1, "nodeB", 2, okResult("42"), t0.Add(4*time.Second))
	if j.Status != StatusCompleted || string(j.Result.Output) != "42" || j.Result.Node != "nodeA" {
		t.Fatalf("the majority did not win: %+v", j.Result)
	}
	if len(j.Agreement.Dissent) != 1 || j.Agreement.Dissent[0].Node != "nodeC" || !strings.Contains(j.Agreement.Dissent[0].Differs, "output") {
		t.Fatalf("dissent = %+v", j.Agreement.Dissent)
	}
	m, _ := s.NodeAgreements()
	if c := m["nodeC"]; c.Dissented != 1 || c.Streak != 1 || c.Agreed != 0 {
		t.Fatalf("nodeC counters = %+v", c)
	}

	// An instruction count that differs is dissent too; agreeing again
	// resets the streak but not the total.
	other := okResult("42")
	other.Instructions++
	runAgreeing(t, s, 2, "nodeC", 2, okResult("42"), t0)
	runAgreeing(t, s, 2, "nodeA", 2, other, t0.Add(2*time.Second))
	j = runAgreeing(t, s, 2, "nodeB", 2, okResult("42"), t0.Add(4*time.Second))
	if j.Status != StatusCompleted || len(j.Agreement.Dissent) != 1 || j.Agreement.Dissent[0].Node != "nodeA" ||
		!strings.Contains(j.Agreement.Dissent[0].Differs, "instruction count") {
		t.Fatalf("instruction dissent: %+v", j.Agreement)
	}
	m, _ = s.NodeAgreements()
	if c := m["nodeC"]; c.Dissented != 1 || c.Streak != 0 || c.Agreed != 1 {
		t.Fatalf("nodeC counters after agreeing = %+v", c)
	}
}

func TestAgreementNeedsStrictMajority(t *testing.T) {
	s := openTemp(t)
	mustEnqueue(t, s, 1)
	failed := Result{Success: false, Error: "Execution failed: trap", Instructions: 12345}
	runAgreeing(t, s, 1, "n1", 2, okResult("a"), t0)
	runAgreeing(t, s, 1, "n2", 2, okResult("b"), t0.Add(2*time.Second))
	runAgreeing(t, s, 1, "n3", 2, failed, t0.Add(4*time.Second))
	// a, b, failure, a: a has k = 2 but only 2 of 4, not a majority.
	j := runAgreeing(t, s, 1, "n4", 2, okResult("a"), t0.Add(6*time.Second))
	if j.Status != StatusQueued {
		t.Fatalf("2 of 4 decided the request: %+v", j.Result)
	}
	j = runAgreeing(t, s, 1, "n5", 2, okResult("a"), t0.Add(8*time.Second))
	if j.Status != StatusCompleted || string(j.Result.Output) != "a" || len(j.Agreement.Dissent) != 2 {
		t.Fatalf("3 of 5: %+v %+v", j.Result, j.Agreement.Dissent)
	}
	if !strings.Contains(j.Agreement.Dissent[1].Differs, "success") {
		t.Fatalf("a failure among successes is not described as differing in success: %+v", j.Agreement.Dissent)
	}
}

func TestAgreementBounds(t *testing.T) {
	s := openTemp(t)
	mustEnqueue(t, s, 1)
	for _, k := range []int{-1, MaxAgreement + 1} {
		if _, err := s.AssignAgreeing(1, "n1", t0.Add(time.Minute), k, t0); !errors.Is(err, ErrBadInput) {
			t.Fatalf("k = %d accepted: %v", k, err)
		}
	}
	mustStatus(t, s, 1, StatusQueued)
	// k = 1 is the plain path: no agreement record.
	j, err := s.AssignAgreeing(1, "n1", t0.Add(time.Minute), 1, t0)
	if err != nil || j.Agreement != nil {
		t.Fatalf("k = 1: %+v %v", j.Agreement, err)
	}
}

func TestAgreementExecutorsDoNotUseUpAttempts(t *testing.T) {
	s := openTemp(t)
	mustEnqueue(t, s, 1)
	runAgreeing(t, s, 1, "n1", 3, okResult("a"), t0)
	runAgreeing(t, s, 1, "n2", 3, okResult("a"), t0.Add(2*time.Second))
	// Two completed executors and one lease that expires: with a bound of
	// two attempts, only the expired one counts.
	if _, err := s.AssignAgreeing(1, "n3", t0.Add(5*time.Second), 3, t0.Add(4*time.Second)); err != nil {
		t.Fatal(err)
	}
	out, err := s.RequeueExpired(t0.Add(6*time.Second), 2)
	if err != nil || len(out) != 1 || out[0].Status != StatusQueued {
		t.Fatalf("requeue: %+v %v", out, err)
	}
	j := runAgreeing(t, s, 1, "n4", 3, okResult("a"), t0.Add(7*time.Second))
	if j.Status != StatusCompleted || len(j.Agreement.Majority()) != 3 {
		t.Fatalf("third executor after an expired lease: %+v", j)
	}
}
