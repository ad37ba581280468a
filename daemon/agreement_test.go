package daemon

import (
	"context"
	"crypto/sha256"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/outlayer/outlayer/consensus"
	"github.com/outlayer/outlayer/store"
)

// agreeingJob is a queued request that executors in ran already ran, each
// returning the output given.
func agreeingJob(id uint64, k int, ran map[string]string) *store.Job {
	j := wasmJob(id, store.BlobHash(sha256.Sum256([]byte("wasm"))))
	j.Agreement = &store.Agreement{K: k}
	for _, node := range []string{"A", "B", "C", "D"} {
		if out, ok := ran[node]; ok {
			j.Agreement.Results = append(j.Agreement.Results, store.Result{Node: node, Success: true, Output: []byte(out)})
			j.Attempts = append(j.Attempts, store.Attempt{Node: node, Outcome: store.AttemptCompleted})
		}
	}
	return j
}

func TestSchedulerAgreementK(t *testing.T) {
	now := time.Now()
	cases := []struct {
		name      string
		agreement int
		members   []string
		dissent   map[string]uint64 // streaks
		job       *store.Job
		wantNodes string // comma-separated, in pick order; "" when nothing is assigned
		wantAgree int
	}{
		{"k = 1 is the plain path", 1, []string{"A", "B", "C"}, nil, wasmJob(1, store.BlobHash{}), "A", 0},
		{"k = 2: both executors at once", 2, []string{"A", "B", "C"}, nil, wasmJob(1, store.BlobHash{}), "A,B", 2},
		{"k capped by the cluster", 5, []string{"A", "B", "C"}, nil, wasmJob(1, store.BlobHash{}), "A,B,C", 3},
		{"k capped by those who may execute", 3, []string{"A", "B", "C"}, map[string]uint64{"C": 3}, wasmJob(1, store.BlobHash{}), "A,B", 2},
		{"one more after one result", 2, []string{"A", "B", "C"}, nil, agreeingJob(1, 2, map[string]string{"A": "x"}), "B", 2},
		{"the request's k stands", 3, []string{"A", "B", "C"}, nil, agreeingJob(1, 2, map[string]string{"A": "x"}), "B", 2},
		{"a dissenter is skipped", 2, []string{"A", "B", "C"}, map[string]uint64{"B": 3}, agreeingJob(1, 2, map[string]string{"A": "x"}), "C", 2},
		{"a streak below the limit is not", 2, []string{"A", "B", "C"}, map[string]uint64{"B": 2}, agreeingJob(1, 2, map[string]string{"A": "x"}), "B", 2},
		{"a dissenter leader is skipped for plain requests too", 1, []string{"A", "B", "C"}, map[string]uint64{"A": 5}, wasmJob(1, store.BlobHash{}), "B", 0},
		{"the contract's k before the cluster's", 1, []string{"A", "B", "C"}, nil, withK(wasmJob(1, store.BlobHash{}), 2), "A,B", 2},
		{"the contract's k, capped", 3, []string{"A", "B"}, nil, withK(wasmJob(1, store.BlobHash{}), 3), "A,B", 2},
		{"nobody excluded when all would be", 1, []string{"A", "B"}, map[string]uint64{"A": 5, "B": 5}, wasmJob(1, store.BlobHash{}), "A", 0},
	}
	for _, c := range cases {
		rep := newFakeReplica(c.job)
		rep.agree = map[string]store.NodeAgreement{}
		for n, streak := range c.dissent {
			rep.agree[n] = store.NodeAgreement{Dissented: streak, Streak: streak}
		}
		prop := &fakeProposer{}
		s := testScheduler(rep, prop, fakeMembers{self: "A", reachable: c.members}, 0)
		s.cfg.Agreement = c.agreement
		if err := s.assign(context.Background(), now); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		as := commands[*consensus.Assign](prop)
		var got []string
		for _, a := range as {
			got = append(got, a.Node)
			if a.Agree != c.wantAgree {
				t.Errorf("%s: assigned %s with agree %d, want %d", c.name, a.Node, a.Agree, c.wantAgree)
			}
		}
		sort.Strings(got) // proposed at once, in any order
		if g := strings.Join(got, ","); g != c.wantNodes {
			t.Errorf("%s: assigned to %q, want %q", c.name, g, c.wantNodes)
		}
	}
}

// An agreement request whose executors run at once gets another one only
// when the ones it has cannot make a majority: a lease that ran out, or a
// disagreement while others still run.
func TestSchedulerAgreementTopsUpRunningExecutors(t *testing.T) {
	until := time.Now().Add(time.Hour)
	running := func(id uint64, ran map[string]string, holders ...string) *store.Job {
		j := agreeingJob(id, 2, ran)
		j.Status, j.Node, j.LeaseUntil = store.StatusAssigned, holders[0], until
		for _, h := range holders[1:] {
			j.Extra = append(j.Extra, store.Lease{Node: h, Until: until})
		}
		return j
	}
	cases := []struct {
		name string
		job  *store.Job
		want string
	}{
		{"two running: nothing more", running(1, nil, "A", "B"), ""},
		{"one result, one running: nothing more", running(1, map[string]string{"A": "x"}, "B"), ""},
		{"one of two leases gone: another", running(1, nil, "A"), "B"},
		{"a split with one still running: nothing more", running(1, map[string]string{"A": "x", "B": "y"}, "C"), ""},
	}
	for _, c := range cases {
		prop := &fakeProposer{}
		s := testScheduler(newFakeReplica(c.job), prop, fakeMembers{self: "A", reachable: []string{"A", "B", "C"}}, 0)
		if err := s.assign(context.Background(), time.Now()); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, a := range commands[*consensus.Assign](prop) {
			got = append(got, a.Node)
		}
		if g := strings.Join(got, ","); g != c.want {
			t.Errorf("%s: assigned to %q, want %q", c.name, g, c.want)
		}
	}
	for _, c := range []struct {
		results []string
		k, want int
	}{{nil, 2, 2}, {nil, 3, 3}, {[]string{"x"}, 2, 1}, {[]string{"x", "y"}, 2, 1}, {[]string{"x", "x"}, 3, 1}, {[]string{"x", "y", "z"}, 2, 2}} {
		a := &store.Agreement{K: c.k}
		for _, r := range c.results {
			a.Results = append(a.Results, store.Result{Success: true, Output: []byte(r)})
		}
		if got := executorsWanted(a, c.k); got != c.want {
			t.Errorf("results %v, k %d: %d executors wanted, want %d", c.results, c.k, got, c.want)
		}
	}
}

func TestSchedulerAgreementWaitsForAFreeExecutor(t *testing.T) {
	// B and C are busy; A already ran the request: nothing is assigned, and
	// the request is not failed either (B or C will be free).
	j := agreeingJob(1, 2, map[string]string{"A": "x"})
	b := wasmJob(2, store.BlobHash{})
	b.Status, b.Node, b.LeaseUntil = store.StatusAssigned, "B", time.Now().Add(time.Hour)
	c := wasmJob(3, store.BlobHash{})
	c.Status, c.Node, c.LeaseUntil = store.StatusAssigned, "C", time.Now().Add(time.Hour)
	later := wasmJob(4, store.BlobHash{})
	prop := &fakeProposer{}
	s := testScheduler(newFakeReplica(j, b, c, later), prop, fakeMembers{self: "A", reachable: []string{"A", "B", "C"}}, 0)
	s.cfg.Slots = 1
	if err := s.assign(context.Background(), time.Now()); err != nil {
		t.Fatal(err)
	}
	as := commands[*consensus.Assign](prop)
	// A's free slot goes to the next request instead.
	if len(as) != 1 || as[0].ID != 4 || as[0].Node != "A" {
		t.Fatalf("assigned %+v, want only request 4 on A", as)
	}
	if f := commands[*consensus.Fail](prop); len(f) != 0 {
		t.Fatalf("failed %+v while executors remain", f)
	}
}

func TestSchedulerAgreementFailsWithoutATieBreaker(t *testing.T) {
	// Three members, three different outputs: no majority can form.
	j := agreeingJob(1, 2, map[string]string{"A": "x", "B": "y", "C": "z"})
	// Two disagree and the only other member keeps dissenting.
	k := agreeingJob(2, 2, map[string]string{"A": "x", "B": "y"})
	// Down members still count: it waits for D.
	w := agreeingJob(3, 2, map[string]string{"A": "x", "B": "y", "C": "z"})
	rep := newFakeReplica(j, k)
	rep.agree = map[string]store.NodeAgreement{"C": {Dissented: 3, Streak: 3}}
	prop := &fakeProposer{}
	s := testScheduler(rep, prop, fakeMembers{self: "A", reachable: []string{"A", "B", "C"}}, 0)
	if err := s.assign(context.Background(), time.Now()); err != nil {
		t.Fatal(err)
	}
	fails := commands[*consensus.Fail](prop)
	if len(fails) != 2 || fails[0].ID != 1 || fails[1].ID != 2 {
		t.Fatalf("fails %+v, want requests 1 and 2", fails)
	}
	if !strings.Contains(fails[0].Reason, "3 outcomes: 1 + 1 + 1") || !strings.Contains(fails[1].Reason, "disagreed") {
		t.Errorf("reasons: %q / %q", fails[0].Reason, fails[1].Reason)
	}

	prop = &fakeProposer{}
	s = testScheduler(newFakeReplica(w), prop, fakeMembers{self: "A", reachable: []string{"A", "B", "C"}, all: []string{"A", "B", "C", "D"}}, 0)
	if err := s.assign(context.Background(), time.Now()); err != nil {
		t.Fatal(err)
	}
	if len(prop.cmds) != 0 {
		t.Fatalf("with D down but a member: %+v, want nothing until D is back", prop.cmds)
	}
}

func withK(j *store.Job, k uint64) *store.Job {
	j.RequiredSignatures = k
	return j
}
