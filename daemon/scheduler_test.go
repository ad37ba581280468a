package daemon

import (
	"context"
	"crypto/sha256"
	"strings"
	"testing"
	"time"

	"github.com/outlayer/outlayer/consensus"
	"github.com/outlayer/outlayer/exec"
	"github.com/outlayer/outlayer/store"
)

func testScheduler(rep *fakeReplica, prop *fakeProposer, m fakeMembers, height uint64) *scheduler {
	tip := &chainTip{}
	tip.set(height)
	return &scheduler{replica: rep, propose: prop, members: m, tip: tip, warm: newWarmSet(),
		cfg: Config{Slots: 2, MaxAttempts: 3, YieldTimeoutBlocks: 200, YieldMarginBlocks: 20, Agreement: 1, DissentLimit: 3,
			LeaseExtra: 3 * time.Second, BuildLease: 90 * time.Second},
		metrics: newMetrics(), log: quietLog()}
}

func wasmJob(id uint64, hash store.BlobHash) *store.Job {
	return &store.Job{Request: store.Request{ID: id, BlockHeight: 1000,
		Code: store.CodeSource{Wasm: &store.WasmSource{URL: "https://x/a.wasm", Hash: hash.String()}}}, Status: store.StatusQueued}
}

func gitJob(id uint64, repo string) *store.Job {
	return &store.Job{Request: store.Request{ID: id, BlockHeight: 1000,
		Code: store.CodeSource{Git: &store.GitSource{Repo: repo, Commit: "c1", BuildTarget: supportedTarget}}}, Status: store.StatusQueued}
}

func TestSchedulerPick(t *testing.T) {
	h := store.BlobHash(sha256.Sum256([]byte("wasm")))
	cases := []struct {
		name  string
		live  map[string]int
		tried []string
		warm  []string
		want  string
	}{
		{"idle cluster: the leader itself", map[string]int{"A": 0, "B": 0, "C": 0}, nil, nil, "A"},
		{"least loaded before the leader", map[string]int{"A": 1, "B": 0, "C": 1}, nil, nil, "B"},
		{"warm before least loaded", map[string]int{"A": 0, "B": 1, "C": 0}, nil, []string{"B"}, "B"},
		{"untried before warm", map[string]int{"A": 0, "B": 0, "C": 0}, []string{"B"}, []string{"B"}, "A"},
		{"untried before the leader", map[string]int{"A": 0, "B": 0, "C": 0}, []string{"A"}, nil, "B"},
		{"ties by id", map[string]int{"B": 0, "C": 0}, nil, nil, "B"},
		{"full nodes are skipped", map[string]int{"A": 2, "B": 2, "C": 1}, nil, []string{"A"}, "C"},
		{"everyone tried: warm, then load", map[string]int{"A": 1, "B": 1, "C": 0}, []string{"A", "B", "C"}, []string{"B"}, "B"},
		{"every node full", map[string]int{"A": 2, "B": 2}, nil, nil, ""},
	}
	for _, c := range cases {
		s := testScheduler(newFakeReplica(), &fakeProposer{}, fakeMembers{self: "A"}, 0)
		for _, id := range c.warm {
			s.warm.add(h, id)
		}
		j := wasmJob(1, h)
		for _, id := range c.tried {
			j.Attempts = append(j.Attempts, store.Attempt{Node: id})
		}
		if got := s.pick(j, h, c.live, s.cfg.Slots, executorPool{}, nil); got != c.want {
			t.Errorf("%s: picked %q, want %q", c.name, got, c.want)
		}
	}
}

func TestSchedulerAssign(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	cachedHash := store.BlobHash(sha256.Sum256([]byte("cached")))
	otherHash := store.BlobHash(sha256.Sum256([]byte("not cached")))

	limited := wasmJob(5, cachedHash)
	limited.Limits.MaxExecutionSeconds = 7
	building := gitJob(100, "github.com/o/building")
	building.Status, building.Node, building.LeaseUntil = store.StatusAssigned, "B", now.Add(time.Minute)
	rep := newFakeReplica(
		wasmJob(1, cachedHash),             // cached: run time + extra
		wasmJob(2, otherHash),              // download: + build lease
		gitJob(3, "github.com/o/new"),      // first build of a source
		gitJob(4, "github.com/o/new"),      // same source: waits for job 3's blob
		gitJob(6, "github.com/o/building"), // a build of it is under way on B
		limited,
		building,
	)
	rep.blobs[cachedHash] = []byte("cached")
	prop := &fakeProposer{}
	s := testScheduler(rep, prop, fakeMembers{self: "A", reachable: []string{"A", "B"}}, 0)
	if err := s.assign(context.Background(), now); err != nil {
		t.Fatal(err)
	}
	got := map[uint64]*consensus.Assign{}
	for _, a := range commands[*consensus.Assign](prop) {
		got[a.ID] = a
	}
	run := exec.DefaultTimeout + s.cfg.LeaseExtra
	want := map[uint64]time.Duration{1: run, 2: run + s.cfg.BuildLease, 3: run + s.cfg.BuildLease}
	// A and B have two slots each; B holds one lease: three are free, and
	// job 5 (the fourth candidate) finds every node full.
	if len(got) != len(want) {
		t.Fatalf("assigned %v, want ids %v", keys(got), want)
	}
	for id, d := range want {
		a, ok := got[id]
		if !ok {
			t.Fatalf("request %d not assigned (assigned %v)", id, keys(got))
		}
		if a.LeaseUntil != now.Add(d) {
			t.Errorf("request %d: lease until %s, want %s", id, a.LeaseUntil.Sub(now), d)
		}
	}
	loads := map[string]int{"B": 1}
	for _, a := range got {
		loads[a.Node]++
	}
	if loads["A"] != 2 || loads["B"] != 2 {
		t.Errorf("loads %v: want both nodes at their two slots", loads)
	}

	// A node that has not run the cached WASM lately gets the compile
	// budget too; a warm one does not.
	s.cfg.CompileLease = 20 * time.Second
	if d := s.leaseFor(wasmJob(1, cachedHash), true, false); d != run+20*time.Second {
		t.Errorf("cold node: lease %s, want %s", d, run+20*time.Second)
	}
	if d := s.leaseFor(wasmJob(1, cachedHash), true, true); d != run {
		t.Errorf("warm node: lease %s, want %s", d, run)
	}
	if d := s.leaseFor(wasmJob(1, otherHash), false, false); d != run+s.cfg.BuildLease {
		t.Errorf("not cached: lease %s, want the build budget only", d)
	}
	s.cfg.CompileLease = 0

	// With more room, the run-time limit sets the lease of job 5.
	s.cfg.Slots = 10
	prop.cmds = nil
	delete(rep.jobs, 1)
	delete(rep.jobs, 2)
	delete(rep.jobs, 3)
	if err := s.assign(context.Background(), now); err != nil {
		t.Fatal(err)
	}
	as := commands[*consensus.Assign](prop)
	if len(as) != 2 || as[0].ID == 6 || as[1].ID == 6 {
		t.Fatalf("second round assigned %+v, want 4 and 5 (6's source is being built)", as)
	}
	for _, a := range as {
		if a.ID == 5 && a.LeaseUntil != now.Add(7*time.Second+s.cfg.LeaseExtra) {
			t.Errorf("request 5 lease %s, want its 7 s limit plus the extra", a.LeaseUntil.Sub(now))
		}
	}
}

func keys[V any](m map[uint64]V) []uint64 {
	var out []uint64
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestSchedulerDeadlines(t *testing.T) {
	// Requests at block 1000 with a 200-block window and a 20-block margin:
	// the deadline is block 1200, given up from block 1180.
	cases := []struct {
		name     string
		height   uint64
		assigned bool
		want     string // "", "fail" or "expire"
		reason   string
	}{
		{"watcher has not polled yet", 0, false, "", ""},
		{"well inside the window", 1100, false, "", ""},
		{"one block before the margin", 1179, true, "", ""},
		{"at the margin, queued", 1180, false, "fail", "not finished 20 blocks before"},
		{"at the margin, leased", 1190, true, "fail", "node heHolder did not finish 10 blocks before"},
		{"at the deadline", 1200, true, "expire", "yield window closed at block 1200"},
		{"past the deadline", 1500, false, "expire", "yield window closed at block 1200"},
	}
	for _, c := range cases {
		j := wasmJob(9, store.BlobHash{})
		if c.assigned {
			j.Status, j.Node, j.LeaseUntil = store.StatusAssigned, "peer-TheHolder", time.Now().Add(time.Hour)
		}
		prop := &fakeProposer{}
		s := testScheduler(newFakeReplica(j), prop, fakeMembers{self: "A"}, c.height)
		if err := s.enforceDeadlines(context.Background()); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		fails, expires := commands[*consensus.Fail](prop), commands[*consensus.Expired](prop)
		var got, reason string
		switch {
		case len(fails)+len(expires) > 1:
			t.Fatalf("%s: %d fails and %d expiries", c.name, len(fails), len(expires))
		case len(fails) == 1:
			got, reason = "fail", fails[0].Reason
		case len(expires) == 1:
			got, reason = "expire", expires[0].Reason
		}
		if got != c.want || !strings.Contains(reason, c.reason) {
			t.Errorf("%s: %q %q, want %q mentioning %q", c.name, got, reason, c.want, c.reason)
		}
	}
}

func TestSchedulerRequeuesExpiredLeases(t *testing.T) {
	now := time.Now()
	j := wasmJob(3, store.BlobHash{})
	j.Status, j.Node, j.LeaseUntil = store.StatusAssigned, "B", now.Add(-time.Second)
	prop := &fakeProposer{answer: func(c consensus.Command) (consensus.Result, error) {
		if _, ok := c.(*consensus.RequeueExpired); ok {
			return consensus.Result{Requeued: []store.Requeued{{ID: 3, Node: "B", Status: store.StatusQueued}}}, nil
		}
		return consensus.Result{}, nil
	}}
	s := testScheduler(newFakeReplica(j), prop, fakeMembers{self: "A"}, 0)
	if err := s.tick(context.Background(), now); err != nil {
		t.Fatal(err)
	}
	rq := commands[*consensus.RequeueExpired](prop)
	if len(rq) != 1 || rq[0].MaxAttempts != 3 {
		t.Fatalf("requeue commands %+v, want one with the configured 3 attempts", rq)
	}
	// A lease still running is left alone.
	j.LeaseUntil = now.Add(time.Second)
	prop.cmds = nil
	if err := s.tick(context.Background(), now); err != nil {
		t.Fatal(err)
	}
	if rq := commands[*consensus.RequeueExpired](prop); len(rq) != 0 {
		t.Fatalf("requeued a live lease: %+v", rq)
	}
}
