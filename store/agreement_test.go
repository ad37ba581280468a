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

// An agreement request may be leased to several executors at once: each
// holds its own lease (its own attempt, in AssignedTo and Leases once),
// the request stays assigned until the last of them is done, a majority
// ends the others' leases, and a lease that runs out ends alone.
func TestAgreementConcurrentLeases(t *testing.T) {
	s := openTemp(t)
	mustEnqueue(t, s, 1, 2, 3)
	until := t0.Add(time.Minute)
	for _, n := range []string{"nodeA", "nodeB", "nodeC"} {
		if _, err := s.AssignAgreeing(1, n, until, 2, t0); err != nil {
			t.Fatalf("assign 1 to %s: %v", n, err)
		}
	}
	if _, err := s.AssignAgreeing(1, "nodeB", until, 2, t0); !errors.Is(err, ErrInvalidTransition) {
		t.Fatalf("a node holding a lease was given a second: %v", err)
	}
	j, _ := s.Get(1)
	if hs := j.Holders(); j.Status != StatusAssigned || len(hs) != 3 || hs[0].Node != "nodeA" || len(j.Attempts) != 3 {
		t.Fatalf("three executors at once: %+v holders %+v", j, hs)
	}
	for _, n := range []string{"nodeA", "nodeB", "nodeC"} {
		if got, _ := s.AssignedTo(n); len(got) != 1 || got[0].ID != 1 {
			t.Fatalf("%s's assignments: %d", n, len(got))
		}
	}
	if ls, _ := s.Leases(until, 0); len(ls) != 1 {
		t.Fatalf("Leases lists the request %d times (its three leases end at once)", len(ls))
	}
	// The first result: the request waits for the others.
	if out, err := s.Complete(1, "nodeB", okResult("42"), t0.Add(time.Second)); err != nil || out != Accepted {
		t.Fatalf("complete by B: %v %v", out, err)
	}
	j, _ = s.Get(1)
	if j.Status != StatusAssigned || len(j.Holders()) != 2 || j.Node != "nodeA" {
		t.Fatalf("after one of three: %s holders %+v", j.Status, j.Holders())
	}
	// The second agrees: decided; C's lease ends, its later result is late.
	if out, err := s.Complete(1, "nodeA", okResult("42"), t0.Add(2*time.Second)); err != nil || out != Accepted {
		t.Fatalf("complete by A: %v %v", out, err)
	}
	j, _ = s.Get(1)
	if j.Status != StatusCompleted || len(j.Agreement.Majority()) != 2 || len(j.Holders()) != 0 {
		t.Fatalf("two agreeing of three: %s %+v", j.Status, j.Agreement)
	}
	if got, _ := s.AssignedTo("nodeC"); len(got) != 0 {
		t.Fatalf("C still holds the decided request")
	}
	if ls, _ := s.Leases(until, 0); len(ls) != 0 {
		t.Fatalf("the decided request is still in the lease index")
	}
	if out, err := s.Complete(1, "nodeC", okResult("43"), t0.Add(3*time.Second)); err != nil || out != Late {
		t.Fatalf("C's result after the decision: %v %v, want late", out, err)
	}
	if a := j.Attempts[2]; a.Node != "nodeC" || a.Outcome != AttemptCancelled {
		t.Fatalf("C's attempt: %+v", a)
	}

	// Two executors disagree: the request goes back to the queue only once
	// both are done, and a third breaks the tie.
	for _, n := range []string{"nodeA", "nodeB"} {
		if _, err := s.AssignAgreeing(2, n, until, 2, t0); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Complete(2, "nodeA", okResult("x"), t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if j, _ = s.Get(2); j.Status != StatusAssigned {
		t.Fatalf("after one of two: %s", j.Status)
	}
	if _, err := s.Complete(2, "nodeB", okResult("y"), t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if j, _ = s.Get(2); j.Status != StatusQueued || len(j.Agreement.Results) != 2 {
		t.Fatalf("two disagreeing: %s %+v", j.Status, j.Agreement)
	}
	j = runAgreeing(t, s, 2, "nodeC", 2, okResult("x"), t0.Add(2*time.Second))
	if j.Status != StatusCompleted || string(j.Result.Output) != "x" || len(j.Agreement.Dissent) != 1 || j.Agreement.Dissent[0].Node != "nodeB" {
		t.Fatalf("the tie broken: %s %+v", j.Status, j.Agreement)
	}

	// One lease runs out while the other runs on; a release hands one back.
	if _, err := s.AssignAgreeing(3, "nodeA", t0.Add(time.Second), 2, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AssignAgreeing(3, "nodeB", until, 2, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AssignAgreeing(3, "nodeC", until, 2, t0); err != nil {
		t.Fatal(err)
	}
	req, err := s.RequeueExpired(t0.Add(2*time.Second), 5)
	if err != nil || len(req) != 1 || req[0].Node != "nodeA" || req[0].Status != StatusAssigned {
		t.Fatalf("requeue: %+v %v", req, err)
	}
	j, _ = s.Get(3)
	if hs := j.Holders(); len(hs) != 2 || hs[0].Node != "nodeB" || j.Attempts[0].Outcome != AttemptExpired {
		t.Fatalf("after A's lease ran out: holders %+v attempts %+v", hs, j.Attempts)
	}
	if _, err := s.Release(3, "nodeC", t0.Add(3*time.Second)); err != nil {
		t.Fatal(err)
	}
	if j, _ = s.Get(3); j.Status != StatusAssigned || len(j.Holders()) != 1 {
		t.Fatalf("after C released: %s %+v", j.Status, j.Holders())
	}
	if _, err := s.Release(3, "nodeB", t0.Add(3*time.Second)); err != nil {
		t.Fatal(err)
	}
	if j, _ = s.Get(3); j.Status != StatusQueued || len(j.Holders()) != 0 {
		t.Fatalf("after the last released: %s %+v", j.Status, j.Holders())
	}
	if c, _ := s.Counts(); c[StatusAssigned] != 0 || c[StatusQueued] != 1 || c[StatusCompleted] != 2 {
		t.Fatalf("counts %v", c)
	}
}
